"""Batches in a deterministic order, and normalisation on the training device.

The order of epoch ``e`` depends only on (seed, e), so a resumed run sees exactly the batches an uninterrupted
run would, without saving any sampler state.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
from torch.utils.data import DataLoader, Dataset

from ssl_toolkit.data.splits import TensorImages


def epoch_order(n: int, batch_size: int, seed: int, epoch: int) -> list[torch.Tensor]:
    """Index batches of a shuffled epoch; the last batch may be smaller."""
    g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return list(torch.randperm(n, generator=g).split(batch_size))


def sequential_order(n: int, batch_size: int) -> list[torch.Tensor]:
    return list(torch.arange(n).split(batch_size))


def iterate(
    split: TensorImages | Dataset,
    batches: Sequence[torch.Tensor],
    num_workers: int = 0,
    pin_memory: bool = False,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield (uint8 images, int64 labels) on the CPU for each index batch."""
    if isinstance(split, TensorImages):
        for idx in batches:
            images, labels = split.images[idx], split.labels[idx]
            yield (images.pin_memory(), labels.pin_memory()) if pin_memory else (images, labels)
        return
    loader = DataLoader(
        split,
        batch_sampler=[b.tolist() for b in batches],
        num_workers=num_workers,
        pin_memory=pin_memory,
        persistent_workers=False,
        # its own generator: creating the iterator must not draw from the global RNG, or a resumed run's
        # task randomness would differ from an uninterrupted run's
        generator=torch.Generator().manual_seed(0),
    )
    for images, labels in loader:
        yield images, torch.as_tensor(labels)


class Normalizer:
    """uint8 (B, C, H, W) on any device -> float32 normalised by per-channel mean and std."""

    def __init__(self, mean: Sequence[float], std: Sequence[float], device: torch.device) -> None:
        self.mean = torch.tensor(mean, device=device).view(1, -1, 1, 1)
        self.std = torch.tensor(std, device=device).view(1, -1, 1, 1)
        self.scale = (1.0 / (255.0 * torch.tensor(std, device=device))).view(1, -1, 1, 1)
        self.shift = (torch.tensor(mean, device=device) / torch.tensor(std, device=device)).view(1, -1, 1, 1)

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        return images.float() * self.scale - self.shift
