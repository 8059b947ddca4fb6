"""A folder of GeoTIFFs as a dataset: chips (``ROOT/[train|test/]<class>/<file>.tif`` or unlabelled files), or
large scenes cut into tiles by windowed reads (``data.tile_size``, ``data.tile_stride``).

Any band count and dtype: tiles are read in their stored dtype (float32 where nodata is filled), a subset of
bands by 1-based index (``data.bands``).
Per-band normalisation statistics come from the valid (non-nodata) pixels of a seeded sample of training
tiles (``data.stats_tiles``); nodata pixels are filled with the band mean, so they are zero once normalised.
Built-in ``eurosat-ms``: the 13-band EuroSAT GeoTIFFs (uint16, UTM zones 29N to 36N).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ssl_toolkit.data.bad_files import BadFiles
from ssl_toolkit.data.options import DataOptions
from ssl_toolkit.data.raster import (
    Tile,
    TileReader,
    band_statistics,
    find_geotiffs,
    index_geotiffs,
    pixel_scale,
)
from ssl_toolkit.data.revisits import window_places
from ssl_toolkit.data.splits import Catalog, LazyImages, Split
from ssl_toolkit.errors import UserError

SPLIT_FOLDERS = ("train", "test")


def label_of(root: Path, path: Path) -> str | None:
    """The class folder of a file: ``ROOT/<class>/f.tif`` or ``ROOT/train/<class>/f.tif``; None if flat."""
    parts = path.relative_to(root).parts[:-1]
    if parts and parts[0] in SPLIT_FOLDERS:
        parts = parts[1:]
    return parts[0] if parts else None


def geotiff_catalog(
    root: Path, bad: BadFiles, options: DataOptions, need_coords: bool, name: str | None = None
) -> Catalog:
    """The GeoTIFF chips or scene windows under ``root``, opened as ``options`` (bands, tiles, statistics) say."""
    bands, tile_size, tile_stride = options.bands, options.tile_size, options.tile_stride
    if not 0 <= options.min_valid_fraction <= 1:
        raise UserError(f"data.min_valid_fraction must be in [0, 1], got {options.min_valid_fraction}")
    if tile_stride is not None and tile_size is None:
        raise UserError(f"data.tile_stride={tile_stride} needs data.tile_size (the tile's side in pixels)")
    files = find_geotiffs(root)
    if not files:
        raise UserError(f"{root}: no GeoTIFF files (*.tif, *.tiff)")
    labels = [label_of(root, f) for f in files]
    index = index_geotiffs(
        files,
        labels,
        tile_size,
        tile_stride,
        need_coords,
        max_tiles=options.max_tiles,
        min_valid_fraction=options.min_valid_fraction,
        overview=options.overview,
    )
    for path, reason in index.problems:
        bad.report(path, reason)
    tiles = index.tiles
    if not tiles:
        raise UserError(
            f"{root}: no usable tiles ({len(index.problems)} bad file(s), {index.empty} window(s) with less than "
            f"{options.min_valid_fraction:.0%} valid pixels, data.min_valid_fraction)"
        )
    if bands is not None:
        wrong = [b for b in bands if not isinstance(b, int) or not 1 <= b <= index.bands]
        if wrong or not bands:
            raise UserError(f"data.bands: expected band numbers between 1 and {index.bands}, got {bands}")
    split_of = [Path(t.path).relative_to(root).parts[0] for t in tiles]
    predefined = None
    if {"train", "test"} <= set(split_of):
        predefined = tuple(np.flatnonzero(np.array(split_of) == s) for s in SPLIT_FOLDERS)
    names = index.band_names
    if bands and names:
        names = [names[b - 1] for b in bands]
    return tiles_catalog(
        name or str(root), tiles, len(bands) if bands else index.bands, index.dtype, options,
        note={"bands": bands or list(range(1, index.bands + 1)), "dtype": index.dtype, "nodata": index.nodata},
        bands=bands, predefined=predefined, empty=index.empty, band_names=tuple(names) if names else None,
    )  # fmt: skip


def tiles_catalog(
    name: str,
    tiles: list[Tile],
    in_chans: int,
    dtype: str,
    options: DataOptions,
    *,
    note: dict,
    bands: list[int] | None = None,
    predefined: tuple | None = None,
    empty: int = 0,
    band_names: tuple[str | None, ...] | None = None,
) -> Catalog:
    """A Catalog of raster tiles read lazily: labels from the tiles' class names, per-band statistics from a seeded
    sample of training tiles, places of revisits from equal windows, groups by source file (or STAC item)."""
    classes = sorted({t.label for t in tiles if t.label is not None})
    labels = torch.tensor([classes.index(t.label) if t.label is not None else -1 for t in tiles])
    reader = TileReader(tiles, bands, fill=None, overview=options.overview)
    scale = pixel_scale(dtype)

    def stats(split: Split) -> tuple[tuple[float, ...], tuple[float, ...]]:
        g = torch.Generator().manual_seed(0)
        picked = torch.randperm(len(split), generator=g)[: options.stats_tiles]
        sources = split.source_index[picked].tolist()  # type: ignore[attr-defined]
        mean, std, pixels = band_statistics(reader, sources, scale)
        reader.close()  # DataLoader workers open their own files
        note.update({"stats_tiles": len(sources), "stats_pixels_per_band": pixels})
        return tuple(mean), tuple(std)

    samples = LazyImages(
        reader,
        torch.arange(len(tiles)),
        labels,
        torch.tensor([(t.lat, t.lon) for t in tiles], dtype=torch.float64),
        [t.name for t in tiles],
        times=torch.tensor([t.time for t in tiles], dtype=torch.float64),
        places=window_places(tiles),
    )
    return Catalog(
        name=name,
        samples=samples,
        class_names=tuple(classes),
        in_chans=in_chans,
        img_size=tiles[0].height,
        stats=stats,
        pixel_scale=scale,
        predefined=predefined,
        stats_note=note,
        empty_windows=empty,
        band_names=band_names,
        tiles=tiles,
        groups=torch.tensor(np.unique([t.path for t in tiles], return_inverse=True)[1]),
        use_stats=lambda mean, std: reader.set_fill(np.asarray(mean) * scale),
    )
