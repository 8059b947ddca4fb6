"""The probe contract and the feature extraction probes share.

A probe is created with its settings (its constructor signature is its schema) and ``run`` measures a backbone
on a labelled dataset, returning at least ``{"accuracy": top-1 in percent}``. ``data_config`` (the ``data.*``
keys the data was opened with) identifies the data for the feature cache.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from ssl_toolkit.backbones.base import Backbone
from ssl_toolkit.data import DataSource, Normalizer, epoch_order, iterate, sequential_order


class Probe(Protocol):
    def run(
        self, backbone: Backbone, data: DataSource, device: torch.device, seed: int, data_config: dict | None = None
    ) -> dict[str, Any]: ...


ACCURACY_DECIMALS = 2  # accuracies in percent are written and printed with this many decimals, everywhere


def percent(value: float) -> float:
    """An accuracy in percent as every file and table of the toolkit holds it."""
    return round(float(value), ACCURACY_DECIMALS)


def check_settings(
    *,
    counts: dict[str, int] | None = None,
    positive: dict[str, float] | None = None,
    non_negative: dict[str, float | None] | None = None,
) -> None:
    """A probe's constructor check: ``counts`` must be >= 1, ``positive`` > 0, ``non_negative`` >= 0 (None: not
    set). A ValueError names the first setting out of range and its value."""
    for name, value in (counts or {}).items():
        if not value >= 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
    for name, value in (positive or {}).items():
        if not value > 0:  # also refuses NaN
            raise ValueError(f"{name} must be > 0, got {value}")
    for name, value in (non_negative or {}).items():
        if value is not None and not value >= 0:
            raise ValueError(f"{name} must be >= 0, got {value}")


def train_supervised(
    model: nn.Module,
    data: DataSource,
    device: torch.device,
    optimizer: torch.optim.Optimizer,
    *,
    epochs: int,
    batch_size: int,
    seed: int,
    desc: str,
    before_epoch: Callable[[], None] = lambda: None,
    after_step: Callable[[], None] = lambda: None,
    after_epoch: Callable[[], None] = lambda: None,
) -> None:
    """Cross-entropy epochs of ``model`` on ``data.train`` in the seeded epoch order (the probes that train a
    head, or more): ``before_epoch`` sets train/eval modes, ``after_step`` and ``after_epoch`` step schedules."""
    normalize = Normalizer.for_data(data, device)
    for epoch in range(epochs):
        before_epoch()
        order = epoch_order(len(data.train), batch_size, seed, epoch)
        for images, meta in tqdm(
            iterate(data.train, order), total=len(order), desc=f"{desc} epoch {epoch + 1}", disable=None
        ):
            logits = model(normalize(images.to(device)))
            loss = F.nll_loss(F.log_softmax(logits, dim=1), meta["label"].to(device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            after_step()
        after_epoch()


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
