"""The sampled test images that ``ssl visualize``'s analyses look at: their stored pixels, labels and features,
the valid pixel range (what attacks and optimised inputs are clipped to) and the range drawn as black..white."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ssl_toolkit.pictures.grids import to_display


def sample_indices(n: int, samples: int, seed: int) -> torch.Tensor:
    """``min(samples, n)`` indices into a split of ``n``, a seeded random choice (in drawn order)."""
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed))[: min(samples, n)]


def load_images(split: Any, idx: torch.Tensor, batch_size: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """Stored pixels (N, C, H, W) in their stored dtype and labels (N,) of ``split`` at ``idx``, in that order."""
    from ssl_toolkit.data import iterate, sequential_order

    part = split.select(idx)
    images, labels = [], []
    for x, meta in iterate(part, sequential_order(len(part), batch_size)):
        images.append(x)
        labels.append(meta["label"])
    return torch.cat(images), torch.cat(labels)


def pixel_bounds(images: torch.Tensor, pixel_scale: float) -> tuple[torch.Tensor, torch.Tensor, str]:
    """The valid pixel range per channel, in pixel units (stored / pixel_scale): the stored integer dtype's
    range ([0, 1] for 8- and 16-bit images), else the smallest and largest value of ``images`` (float rasters
    have no fixed range)."""
    chans = images.shape[1]
    if not images.dtype.is_floating_point:
        info = torch.iinfo(images.dtype)
        lo, hi = info.min / pixel_scale, info.max / pixel_scale
        return torch.full((chans,), lo), torch.full((chans,), hi), f"[{lo:g}, {hi:g}] (the stored {info.dtype} range)"
    flat = images.float().transpose(0, 1).reshape(chans, -1) / pixel_scale
    return flat.min(1).values, flat.max(1).values, "per channel min..max of the sampled test images (float pixels)"


def display_bounds(images: torch.Tensor, pixel_scale: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The pixel range mapped to black..white in the pictures: [0, 1] for 8-bit images; otherwise the 0.5th and
    99.5th percentile per channel of ``images`` (a 16-bit raster uses a small part of its range)."""
    chans = images.shape[1]
    if images.dtype == torch.uint8:
        return torch.zeros(chans), torch.ones(chans)
    flat = images.float().transpose(0, 1).reshape(chans, -1) / pixel_scale
    lo, hi = torch.quantile(flat, 0.005, dim=1), torch.quantile(flat, 0.995, dim=1)
    return lo, torch.maximum(hi, lo + 1e-8)


def shown_channels(chans: int) -> str:
    if chans == 1:
        return "the one channel, as grey"
    if chans == 3:
        return "all 3 channels as RGB"
    if chans > 3:
        return f"the first 3 of {chans} channels as RGB (the optimisation and attacks use all {chans})"
    return f"the first of {chans} channels, as grey (the optimisation and attacks use all {chans})"


@dataclass(frozen=True)
class Sample:
    """The sampled test images every section looks at: stored pixels (N, C, H, W), labels (N,), their indices in
    the test split, their features (N, F), the valid pixel range and the range drawn as black..white."""

    images: torch.Tensor
    labels: torch.Tensor
    idx: torch.Tensor
    features: torch.Tensor
    lo: torch.Tensor
    hi: torch.Tensor
    range_note: str
    show_lo: torch.Tensor
    show_hi: torch.Tensor
    channels: list[int] | None = None  # shown as red, green, blue (``DataSource.display_channels``)

    def shown(self, stored: torch.Tensor, pixel_scale: float) -> np.ndarray:
        return to_display(stored.float().cpu() / pixel_scale, self.show_lo, self.show_hi, self.channels)


def rows_of(cells: list, columns: int = 8) -> list[list]:
    return [cells[i : i + columns] for i in range(0, len(cells), columns)]
