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
    TileReader,
    band_statistics,
    find_geotiffs,
    index_geotiffs,
    pixel_scale,
)
from ssl_toolkit.data.splits import Catalog, LazyImages, Split
from ssl_toolkit.data.tile_cache import cached_index, file_stamp
from ssl_toolkit.data.tile_table import TileTable
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
    keys = {"tile_size": tile_size, "tile_stride": tile_stride, "need_coords": need_coords}
    keys.update(overview=options.overview, min_valid_fraction=options.min_valid_fraction)
    parts = {"kind": "geotiffs", "files": [[str(f), *file_stamp(f)] for f in files], "labels": labels, **keys}

    def build(folder: Path) -> tuple[TileTable, dict]:
        index = index_geotiffs(
            files, labels, tile_size, tile_stride, need_coords, max_tiles=options.max_tiles,
            min_valid_fraction=options.min_valid_fraction, overview=options.overview, folder=folder,
        )  # fmt: skip
        meta = {"bands": index.bands, "dtype": index.dtype, "nodata": index.nodata, "problems": index.problems}
        return index.tiles, {**meta, "empty": index.empty, "band_names": index.band_names}

    tiles, meta, _ = cached_index(parts, build)  # a first build refuses too many windows before listing any
    if options.max_tiles is not None and len(tiles) > options.max_tiles:
        raise UserError(
            f"{root}: {len(tiles):,} tiles, more than data.max_tiles={options.max_tiles:,}; raise data.max_tiles "
            "(null: no limit) or use larger tiles or stride"
        )
    for path, reason in meta["problems"]:
        bad.report(path, reason)
    if not len(tiles):
        raise UserError(
            f"{root}: no usable tiles ({len(meta['problems'])} bad file(s), {meta['empty']} window(s) with less than "
            f"{options.min_valid_fraction:.0%} valid pixels, data.min_valid_fraction)"
        )
    if bands is not None:
        wrong = [b for b in bands if not isinstance(b, int) or not 1 <= b <= meta["bands"]]
        if wrong or not bands:
            raise UserError(f"data.bands: expected band numbers between 1 and {meta['bands']}, got {bands}")
    top = [Path(f.path).relative_to(root).parts[0] for f in tiles.files]  # per file: never a string per tile
    predefined = None
    if set(SPLIT_FOLDERS) <= set(top):
        split_of = tiles.per_file(
            np.array([SPLIT_FOLDERS.index(t) if t in SPLIT_FOLDERS else -1 for t in top], np.int8)
        )
        predefined = tuple(np.flatnonzero(split_of == k) for k in range(len(SPLIT_FOLDERS)))
    names = meta["band_names"]
    if bands and names:
        names = [names[b - 1] for b in bands]
    return tiles_catalog(
        name or str(root), tiles, len(bands) if bands else meta["bands"], meta["dtype"], options,
        note={"bands": bands or list(range(1, meta["bands"] + 1)), "dtype": meta["dtype"], "nodata": meta["nodata"]},
        bands=bands, predefined=predefined, empty=meta["empty"], band_names=tuple(names) if names else None,
    )  # fmt: skip


def tiles_catalog(
    name: str,
    tiles: TileTable,
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
    present = np.flatnonzero(np.bincount(np.asarray(tiles.file), minlength=len(tiles.files)))
    classes = sorted({tiles.files[i].label for i in present if tiles.files[i].label is not None})
    labels = torch.from_numpy(
        tiles.per_file([classes.index(f.label) if f.label is not None else -1 for f in tiles.files]).astype(np.int64)
    )
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
        tiles.coords(),
        tiles.names(),
        times=tiles.times(),
        places=tiles.places(),
    )
    groups = torch.from_numpy(np.asarray(tiles.file, dtype=np.int64))
    tiles.release()  # the columns were read whole once; pages come back as tiles are read
    return Catalog(
        name=name,
        samples=samples,
        class_names=tuple(classes),
        in_chans=in_chans,
        img_size=int(tiles.window[0, 3]),
        stats=stats,
        pixel_scale=scale,
        predefined=predefined,
        stats_note=note,
        empty_windows=empty,
        band_names=band_names,
        tiles=tiles,
        groups=groups,
        use_stats=lambda mean, std: reader.set_fill(np.asarray(mean) * scale),
    )
