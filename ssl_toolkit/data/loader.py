"""Batches in a deterministic order, and normalisation on the training device.

The order of epoch ``e`` depends only on (seed, e), so a resumed run sees exactly the batches an uninterrupted
run would, without saving any sampler state.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader

from ssl_toolkit.data.revisits import Revisits
from ssl_toolkit.data.splits import DataSource, Split, TensorImages


def epoch_order(n: int, batch_size: int, seed: int, epoch: int, min_last: int = 2) -> list[torch.Tensor]:
    """Index batches of a shuffled epoch. The last batch may be smaller, but a last batch of fewer than
    ``min_last`` samples joins the batch before it instead: batch norm cannot train on a single sample, and
    a distributed run (``min_last = 2 * ranks``) gives every rank at least two."""
    g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    batches = list(torch.randperm(n, generator=g).split(batch_size))
    if batch_size > 1 and len(batches) > 1 and len(batches[-1]) < min(min_last, batch_size):
        batches[-2:] = [torch.cat(batches[-2:])]
    return batches


def batches_per_epoch(n: int, batch_size: int, min_last: int = 2) -> int:
    """``len(epoch_order(n, batch_size, ..., min_last))`` without drawing the order."""
    count = -(-n // batch_size)
    merged = batch_size > 1 and count > 1 and 0 < n % batch_size < min_last
    return count - 1 if merged else count


def sequential_order(n: int, batch_size: int) -> list[torch.Tensor]:
    return list(torch.arange(n).split(batch_size))


def stack_images(images: list[torch.Tensor]) -> torch.Tensor:
    """Stack a batch of CPU tensors with numpy: one thread, so it never waits on a busy OpenMP pool (a
    two-thread ``torch.stack`` of 64 13x64x64 tiles took 0.5 s instead of 7 ms beside another busy process)."""
    return torch.from_numpy(np.stack([image.numpy() for image in images]))


def auto_workers(device: torch.device, processes: int = 1) -> int:
    """Loader workers sized from the machine: on CUDA, the cores this process may use (less one for the
    training loop) up to 8; on CPU, where workers take cores from the model's own math, a quarter of them."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    per_process = max(1, cores // processes)
    return min(8, per_process - 1) if device.type == "cuda" else min(4, per_process // 4)


class _EpochBatches:
    """A batch sampler whose batches are replaced before each pass: one DataLoader (and its persistent
    workers) serves every epoch of a run."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)


class BatchReader:
    """(images in their stored dtype, meta) for each index batch of ``split`` (on the CPU, or on the GPU where
    the images are kept there); meta as ``Split.batch_meta``. With ``revisits`` (temporal positives), meta also
    holds ``partner_images``: for each sample, another acquisition of its place, drawn for (``seed``, epoch,
    sample) by ``Revisits.partners``.

    In-memory splits are sliced directly; with ``device`` a GPU where they fit (``RESIDENT_SHARE`` of its free
    memory), their stored pixels are copied there once and batches are sliced on the GPU (no copy per step).
    Splits read from files go through one DataLoader kept for the reader's life: ``num_workers`` worker
    processes that stay up between epochs (no re-spawn, no re-opened files), each with ``prefetch`` batches in
    flight, and pinned batches for non-blocking copies to a GPU."""

    def __init__(
        self,
        split: Split,
        num_workers: int = 0,
        pin_memory: bool = False,
        prefetch: int = 4,
        revisits: Revisits | None = None,
        seed: int = 0,
        device: torch.device | None = None,
    ) -> None:
        self.split, self.pin_memory = split, pin_memory
        self.revisits, self.seed = revisits, seed
        self.resident = None  # the in-memory images on the training device, when they are kept there
        if isinstance(split, TensorImages) and device is not None and keep_on_device(split.images, device):
            self.resident = split.images.to(device)
            self.pin_memory = False
        self.sampler = _EpochBatches()
        self.loader = None
        if not isinstance(split, TensorImages):
            self.loader = DataLoader(
                split,
                batch_sampler=self.sampler,
                num_workers=num_workers,
                pin_memory=pin_memory,
                persistent_workers=num_workers > 0,
                prefetch_factor=prefetch if num_workers > 0 else None,
                # its own generator: creating the iterator must not draw from the global RNG, or a resumed
                # run's task randomness would differ from an uninterrupted run's
                generator=torch.Generator().manual_seed(0),
                collate_fn=stack_images,
            )

    def __call__(
        self, batches: Sequence[torch.Tensor], epoch: int = 0
    ) -> Iterator[tuple[torch.Tensor, dict[str, torch.Tensor]]]:
        split = self.split
        pairs = [self.revisits.partners(b, self.seed, epoch) for b in batches] if self.revisits else None
        reads = [torch.cat([b, pairs[i]]) for i, b in enumerate(batches)] if pairs else list(batches)
        if self.resident is not None:
            stored = (self.resident[idx.to(self.resident.device)] for idx in reads)
        elif self.loader is None:
            stored = (split.images[idx] for idx in reads)  # type: ignore[attr-defined]
        else:
            self.sampler.batches = [b.tolist() for b in reads]
            stored = iter(self.loader)
        for idx, images in zip(batches, stored, strict=True):
            if self.pin_memory and self.loader is None:
                images = images.pin_memory()
            meta = split.batch_meta(idx)
            if pairs:
                images, meta["partner_images"] = images[: len(idx)], images[len(idx) :]
            yield images, meta


RESIDENT_SHARE = 0.25  # in-memory images stay on a GPU when they take at most this share of its free memory


def keep_on_device(images: torch.Tensor, device: torch.device) -> bool:
    """Whether to keep in-memory images on ``device``: a GPU with room for them (``RESIDENT_SHARE`` of its free
    memory); never the CPU, where they already are."""
    if device.type != "cuda":
        return False
    free = torch.cuda.mem_get_info(device)[0]
    return images.numel() * images.element_size() <= RESIDENT_SHARE * free


def iterate(
    split: Split,
    batches: Sequence[torch.Tensor],
    num_workers: int = 0,
    pin_memory: bool = False,
) -> Iterator[tuple[torch.Tensor, dict[str, torch.Tensor]]]:
    """One pass of ``BatchReader`` over ``batches``."""
    yield from BatchReader(split, num_workers, pin_memory)(batches)


GENERATED_STDS = 3.0  # beyond 8 bits, a generator's [0, 1] spans each band's mean +- this many stds


class Normalizer:
    """Stored pixels (B, C, H, W) on any device -> float32 normalised by per-channel mean and std.

    ``mean`` and ``std`` are in units of ``stored value / pixel_scale`` (see ``DataSource``). ``low`` and ``high``
    (same units) are the range a generator's or decoder's [0, 1] output spans: the stored range for 8-bit images;
    for wider rasters each band's mean +- ``GENERATED_STDS`` stds, because a 16-bit reflectance uses a sliver of
    its dtype (Sentinel-2 bands sit at 0.01 to 0.04 of 65,535, std about 0.004: the dtype range's middle is over
    100 stds from the data).
    """

    def __init__(
        self, mean: Sequence[float], std: Sequence[float], device: torch.device, pixel_scale: float = 255.0
    ) -> None:
        self.mean = torch.tensor(mean, device=device).view(1, -1, 1, 1)
        self.std = torch.tensor(std, device=device).view(1, -1, 1, 1)
        self.scale = (1.0 / (pixel_scale * torch.tensor(std, device=device))).view(1, -1, 1, 1)
        self.shift = (torch.tensor(mean, device=device) / torch.tensor(std, device=device)).view(1, -1, 1, 1)
        if pixel_scale == 255.0:
            self.low, self.high = torch.zeros_like(self.mean), torch.ones_like(self.mean)
        else:
            self.low, self.high = self.mean - GENERATED_STDS * self.std, self.mean + GENERATED_STDS * self.std

    def stats(self) -> dict[str, torch.Tensor]:
        """The pixel statistics a task finds in ``meta``: ``pixel_mean``, ``pixel_std``, ``pixel_low``, ``pixel_high``
        (each (1, C, 1, 1) on the device)."""
        return {"pixel_mean": self.mean, "pixel_std": self.std, "pixel_low": self.low, "pixel_high": self.high}

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        return images.float() * self.scale - self.shift

    def batch(
        self,
        images: torch.Tensor,
        meta: dict[str, torch.Tensor],
        non_blocking: bool = False,
        memory_format: torch.memory_format = torch.contiguous_format,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """A batch from the reader on the training device: images normalised (and any ``*_images`` in meta, such
        as temporal positives' ``partner_images``), the other meta tensors moved as they are."""
        device = self.mean.device

        def normalised(x: torch.Tensor) -> torch.Tensor:
            return self(x.to(device, non_blocking=non_blocking)).contiguous(memory_format=memory_format)

        moved = {
            k: normalised(v) if k.endswith("_images") else v.to(device, non_blocking=non_blocking)
            for k, v in meta.items()
        }
        return normalised(images), moved

    @classmethod
    def for_data(cls, data: DataSource, device: torch.device) -> Normalizer:
        return cls(data.mean, data.std, device, data.pixel_scale)
