"""Splits of samples and the dataset description the rest of the toolkit sees.

A split knows, for every sample, its label (-1 when unlabelled), its WGS84 coordinates (NaN when unknown) and
its source path, without reading any pixels; ``batch_meta`` turns an index batch into the ``meta`` tensors
tasks receive. Pixels stay in their stored dtype until they reach the training device; normalisation happens
there, in one batched op.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch.utils.data import Dataset


class Split:
    """Per-sample facts: ``labels`` int64 (N,), ``coords`` float64 (N, 2) lat/lon degrees or None, ``paths``;
    where the data says when and where each sample was taken (see ``revisits``), ``times`` float64 (N,) days since
    1970 (NaN: unknown) and ``places`` int64 (N,) (-1: unknown), else None."""

    labels: torch.Tensor
    coords: torch.Tensor | None
    paths: list[str] | None
    times: torch.Tensor | None = None
    places: torch.Tensor | None = None

    def __len__(self) -> int:
        return len(self.labels)

    def select(self, idx: Sequence[int] | torch.Tensor) -> Split:
        """The samples at ``idx``, in that order."""
        raise NotImplementedError

    def head(self, n: int) -> Split:
        return self.select(torch.arange(min(n, len(self))))

    def sample(self, n: int, seed: int) -> Split:
        """``n`` samples drawn at random with ``seed`` (all of them when ``n >= len``), kept in this split's order:
        a representative subset even where the split is sorted (by class in folders, by region in a geographic
        split)."""
        if n >= len(self):
            return self
        return self.select(torch.randperm(len(self), generator=torch.Generator().manual_seed(seed))[:n].sort().values)

    def batch_meta(self, idx: torch.Tensor) -> dict[str, torch.Tensor]:
        """``label`` (B,), and ``lat``/``lon`` (B,) float32 degrees when the split has coordinates."""
        meta = {"label": self.labels[idx]}
        if self.coords is not None:
            meta["lat"] = self.coords[idx, 0].float()
            meta["lon"] = self.coords[idx, 1].float()
        return meta

    def path(self, i: int) -> str:
        return self.paths[i] if self.paths is not None else f"sample {i}"

    def _facts(self, idx: torch.Tensor) -> dict:
        return {
            "labels": self.labels[idx],
            "coords": self.coords[idx] if self.coords is not None else None,
            "paths": _select_paths(self.paths, idx),
            "times": self.times[idx] if self.times is not None else None,
            "places": self.places[idx] if self.places is not None else None,
        }


def _select_paths(paths, idx: torch.Tensor):
    """The paths of samples ``idx``: a list, or a lazy view for a sequence that selects itself (tile names)."""
    if paths is None:
        return None
    if hasattr(paths, "select"):
        return paths.select(idx.numpy())
    return [paths[i] for i in idx.tolist()]


COLOUR_NAMES = {"red": ("red", "b04", "b4"), "green": ("green", "b03", "b3"), "blue": ("blue", "b02", "b2")}
NIR_NAMES = ("nir", "b08", "b8")
# Sentinel-2 Level-1C's 13 bands in EuroSAT-MS's file order, assumed for 13 unnamed bands: B8A comes last there
# (measured on the real tiles: band 10 holds the near-zero cirrus values of B10, band 13 sits just above B08)
SENTINEL2_BANDS = ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B09", "B10", "B11", "B12", "B8A")


def _named(band_names: tuple[str | None, ...] | None, channels: int) -> list[str]:
    if band_names and any(band_names):
        return [(n or "").strip().lower() for n in band_names]
    return [n.lower() for n in SENTINEL2_BANDS] if channels == len(SENTINEL2_BANDS) else []


def _find(names: list[str], groups: list[tuple[str, ...]]) -> list[int] | None:
    found = [next((i for i, n in enumerate(names) if n in aliases), None) for aliases in groups]
    return found if all(i is not None for i in found) else None


def natural_colour(band_names: tuple[str | None, ...] | None, channels: int) -> list[int]:
    """Indices of the red, green and blue channels by name (13 unnamed bands: EuroSAT-MS's order), or the first
    three (one for fewer than three)."""
    found = _find(_named(band_names, channels), list(COLOUR_NAMES.values()))
    if found is not None:
        return found
    return list(range(3)) if channels >= 3 else [0]


def false_colour(band_names: tuple[str | None, ...] | None, channels: int) -> list[int] | None:
    """Indices of near infrared, red and green (the vegetation false-colour composite), or None when the bands
    are not known to hold them."""
    return _find(_named(band_names, channels), [NIR_NAMES, COLOUR_NAMES["red"], COLOUR_NAMES["green"]])


def remap_indices(parts: Sequence[Sequence[int]], keep: Sequence[int]) -> tuple[np.ndarray, ...]:
    """Index lists into the full sample list -> indices into the kept samples ``keep`` (dropped ones vanish)."""
    position = {int(old): new for new, old in enumerate(keep)}
    return tuple(np.array([position[int(i)] for i in part if int(i) in position], dtype=np.int64) for part in parts)


def _index(idx: Sequence[int] | torch.Tensor) -> torch.Tensor:
    return torch.as_tensor(idx, dtype=torch.long)


class TensorImages(Split):
    """A split held in memory: ``images`` (N, C, H, W) in their stored dtype; batches by fancy indexing."""

    def __init__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        coords: torch.Tensor | None = None,
        paths: list[str] | None = None,
        times: torch.Tensor | None = None,
        places: torch.Tensor | None = None,
    ) -> None:
        if images.ndim != 4 or images.dtype == torch.bool:
            raise ValueError(f"images must be (N, C, H, W) numbers, got {images.dtype} {tuple(images.shape)}")
        if len(images) != len(labels):
            raise ValueError(f"{len(images)} images but {len(labels)} labels")
        self.images = images
        self.labels = labels.long()
        self.coords = coords
        self.paths = paths
        self.times, self.places = times, places

    def select(self, idx: Sequence[int] | torch.Tensor) -> TensorImages:
        idx = _index(idx)
        return TensorImages(self.images[idx], **self._facts(idx))


class LazyImages(Split, Dataset):
    """A split read sample by sample: ``read(j)`` returns sample ``j`` of the source as a (C, H, W) tensor.

    ``read`` must be picklable (DataLoader workers call it); ``source_index`` maps this split's samples to the
    source's, so selecting a subset never copies pixels.
    """

    def __init__(
        self,
        read: Callable[[int], torch.Tensor],
        source_index: torch.Tensor,
        labels: torch.Tensor,
        coords: torch.Tensor | None = None,
        paths: list[str] | None = None,
        times: torch.Tensor | None = None,
        places: torch.Tensor | None = None,
    ) -> None:
        self.read = read
        self.source_index = source_index.long()
        self.labels = labels.long()
        self.coords = coords
        self.paths = paths
        self.times, self.places = times, places

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.read(int(self.source_index[i]))

    def select(self, idx: Sequence[int] | torch.Tensor) -> LazyImages:
        idx = _index(idx)
        return LazyImages(self.read, self.source_index[idx], **self._facts(idx))


@dataclass
class Catalog:
    """Everything a loader knows about a dataset before it is split into train and test.

    ``stats(split)`` gives per-channel (mean, std) in units of ``stored value / pixel_scale``; ``predefined``
    holds (train, test) indices when the files themselves say (MNIST's files, ``train/`` and ``test/`` folders).
    """

    name: str
    samples: Split
    class_names: tuple[str, ...]
    in_chans: int
    img_size: int
    stats: Callable[[Split], tuple[tuple[float, ...], tuple[float, ...]]]
    pixel_scale: float = 255.0
    predefined: tuple[Sequence[int], Sequence[int]] | None = None
    stats_note: dict = field(default_factory=dict)
    use_stats: Callable[[tuple[float, ...], tuple[float, ...]], None] | None = None  # told the stats in use
    tiles: list | None = None  # GeoTIFF datasets: the raster.Tile of each sample (window, CRS, bounds)
    groups: torch.Tensor | None = None  # (N,) source file of each sample when several share one (scene windows)
    empty_windows: int = 0  # GeoTIFF windows left out for too few valid pixels (not bad files)
    band_names: tuple[str | None, ...] | None = None  # GeoTIFF band descriptions, for natural-colour pictures


@dataclass
class DataSource:
    """A dataset resolved from a name or a path: its train and test splits and what a model must know of it.

    ``mean``/``std`` are per channel in units of ``stored value / pixel_scale`` (pixel_scale is 255 for 8-bit
    images, the dtype's maximum for other integer rasters, 1 for float rasters).
    """

    name: str
    train: Split
    test: Split
    mean: tuple[float, ...]
    std: tuple[float, ...]
    in_chans: int
    img_size: int
    num_classes: int
    class_names: tuple[str, ...]
    pixel_scale: float = 255.0
    split: str = "random"
    skipped: list[tuple[str, str]] = field(default_factory=list)
    stats_note: dict = field(default_factory=dict)
    empty_windows: int = 0
    # the splits before ``data.subset`` (the same objects when there is none): for measures that must not
    # depend on a run's budget, such as a GAN's judge of sample quality
    full_train: Split | None = None
    full_test: Split | None = None
    split_note: str = ""  # how the split came out, where a user should see it (the geographic split's share)
    band_names: tuple[str | None, ...] | None = None

    @property
    def display_channels(self) -> list[int]:
        """The channels pictures show as red, green, blue: those the band names call so (red/green/blue, or
        Sentinel-2's B04/B03/B02), else the first three (or the first one, as grey)."""
        return natural_colour(self.band_names, self.in_chans)

    @property
    def false_colour_channels(self) -> list[int] | None:
        """Near infrared, red, green as red, green, blue where the bands hold them (``false_colour``)."""
        return false_colour(self.band_names, self.in_chans)

    @property
    def band_labels(self) -> list[str]:
        """A short name per channel: its description, Sentinel-2's name for 13 unnamed bands, else its number."""
        named = _named(self.band_names, self.in_chans)
        return (
            [n.upper() if n else f"band {i}" for i, n in enumerate(named)]
            if named
            else [f"band {i}" for i in range(self.in_chans)]
        )
