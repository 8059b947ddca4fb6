"""The probe contract and the feature extraction probes share.

A probe is created with its settings (its constructor signature is its schema) and ``run`` measures a backbone
on a labelled dataset, returning at least ``{"accuracy": top-1 in percent}``. ``data_config`` (the ``data.*``
keys the data was opened with) identifies the data for the feature cache.
"""

from __future__ import annotations

from typing import Any, Protocol

import torch
from tqdm import tqdm

from ssl_toolkit.backbones.base import Backbone
from ssl_toolkit.data import DataSource, Normalizer, iterate, sequential_order


class Probe(Protocol):
    def run(
        self, backbone: Backbone, data: DataSource, device: torch.device, seed: int, data_config: dict | None = None
    ) -> dict[str, Any]: ...


@torch.no_grad()
def extract_features(
    backbone: Backbone, split: Any, normalize: Normalizer, device: torch.device, batch_size: int = 512, desc: str = ""
) -> tuple[torch.Tensor, torch.Tensor]:
    """Features (N, num_features) and labels (N,) of a split, backbone in eval mode, in dataset order."""
    backbone.eval()
    feats, labels = [], []
    order = sequential_order(len(split), batch_size)
    for images, meta in tqdm(iterate(split, order), total=len(order), desc=desc, unit="batch", disable=None):
        feats.append(backbone(normalize(images.to(device))).float().cpu())
        labels.append(meta["label"])
    return torch.cat(feats), torch.cat(labels)


@torch.no_grad()
def top1_accuracy(
    model: torch.nn.Module, split: Any, normalize: Normalizer, device: torch.device, batch_size: int
) -> float:
    """Top-1 accuracy in percent of ``model`` (eval mode) on a labelled split."""
    model.eval()
    correct = 0
    for images, meta in iterate(split, sequential_order(len(split), batch_size)):
        correct += int((model(normalize(images.to(device))).argmax(dim=1).cpu() == meta["label"]).sum())
    return 100.0 * correct / len(split)
