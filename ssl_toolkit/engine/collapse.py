"""Collapse monitors: how spread out the backbone's embeddings of a fixed set of images are.

Measured on the first ``MONITOR_IMAGES`` test images (train when there is no test split), backbone in eval mode,
at every log step and epoch end, and written to ``metrics.jsonl``:

- ``embed_std``: the per-dimension standard deviation of the L2-normalised embeddings, averaged over dimensions
  and scaled by sqrt(dim), so 1 is as spread as points uniform on the sphere and 0 is every image mapped to one
  point (the SimSiam collapse measure, Chen & He 2021);
- ``embed_rank``: the effective rank (Roy & Vetterli 2007) of the centred normalised embeddings, exp of the
  entropy of their normalised singular values: how many directions the embeddings really use;
- ``dead_units``: the share of feature dimensions that are zero for every monitored image.

A warning is printed (once per run) and ``collapse_warning`` logged as 1 when ``embed_std`` falls below
``MIN_STD`` (complete collapse) or ``embed_rank`` below ``MIN_RANK`` (the embeddings span about one direction).
The thresholds leave room for randomly initialised nets: a random timm ResNet-18's pooled features measure about
0.03 and 4.4, because post-ReLU features of random weights point in similar directions.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ssl_toolkit.data import DataSource, Normalizer, iterate

MONITOR_IMAGES = 256
MIN_STD = 0.01
MIN_RANK = 2.0


def embedding_health(features: torch.Tensor) -> dict[str, float]:
    """``embed_std``, ``embed_rank`` and ``dead_units`` of a (N, D) batch of embeddings."""
    f = features.float()
    z = F.normalize(f, dim=1)
    dim = z.shape[1]
    std = float(z.std(dim=0).mean()) * math.sqrt(dim)
    singular = torch.linalg.svdvals(z - z.mean(dim=0))
    total = float(singular.sum())
    if total <= 1e-12:
        rank = 0.0  # every embedding identical
    else:
        p = singular / total
        rank = math.exp(float(-(p * torch.log(p.clamp_min(1e-30))).sum()))
    dead = float((f.abs().amax(dim=0) == 0).float().mean())
    return {"embed_std": std, "embed_rank": rank, "dead_units": dead}


def collapse_message(health: dict[str, float], dim: int) -> str | None:
    """A one-line description of the collapse these measurements show, or None."""
    if health["embed_std"] < MIN_STD:
        return f"embed_std {health['embed_std']:.4f} < {MIN_STD}: the embeddings have collapsed to one point"
    if health["embed_rank"] < MIN_RANK:
        return (
            f"embed_rank {health['embed_rank']:.2f} of {dim} dimensions < {MIN_RANK}: the embeddings use one direction"
        )
    return None


class CollapseMonitor:
    """Measures a backbone on a fixed batch of images; remembers whether it has warned."""

    def __init__(self, data: DataSource, normalize: Normalizer, device: torch.device) -> None:
        split = data.test if len(data.test) else data.train
        images, _ = next(iterate(split, [torch.arange(min(MONITOR_IMAGES, len(split)))]))
        self.images = normalize(images.to(device))
        self.warned = False

    @torch.no_grad()
    def measure(self, module: nn.Module, backbone: nn.Module) -> tuple[dict[str, float], str | None]:
        """(measurements, a warning to show now or None); ``module`` (the task) is put back in train mode."""
        module.eval()
        try:
            features = backbone(self.images)
        finally:
            module.train()
        health = embedding_health(features)
        message = collapse_message(health, features.shape[1])
        if message is None or self.warned:
            return health, None
        self.warned = True
        return {**health, "collapse_warning": 1.0}, message
