"""A STAC file as a dataset: each item's band assets (local files or COGs over HTTP / object storage) cut into
tiles on the grid of its finest asset, read by windows and stacked.

When the index is built, every asset's header is read (one small range request for a COG): the assets of an
item must share a CRS and cover the same extent; those of coarser resolution are resampled (bilinear) to the
finest on read, which the tile index states (``ssl data index``: the ``assets`` and ``resampled`` columns). The
index is kept (``tile_cache``) keyed on the items with their URLs less any query string, and stores them so: a
signed URL's token never lands on disk, and a reused index reads through the URLs the catalog gives now. The
item's tiles are located as GeoTIFF tiles are (window centres in WGS84), dated by the item's datetime and
labelled by ``data.label_property``; items of one place on several dates share their windows, so they become
temporal positives. An item whose asset cannot be
opened (an unreachable URL, a 404) is a bad file named by item and URL: it stops the run, or with
``data.on_bad_file=skip`` is left out and listed.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ssl_toolkit.data.bad_files import BadFiles
from ssl_toolkit.data.geotiff_folder import tiles_catalog
from ssl_toolkit.data.options import DataOptions
from ssl_toolkit.data.raster import (
    centres_wgs84,
    first_line,
    open_raster,
    window_array,
    window_bounds,
    window_count,
)
from ssl_toolkit.data.remote import configure_gdal_network, redacted
from ssl_toolkit.data.splits import Catalog
from ssl_toolkit.data.stac import StacScene, read_scenes
from ssl_toolkit.data.tile_cache import cached_index
from ssl_toolkit.data.tile_scan import scan
from ssl_toolkit.data.tile_table import ColumnWriter, SourceFile, TileTable
from ssl_toolkit.errors import UserError

EXTENT_TOLERANCE = 0.5  # of the coarsest asset's pixel: assets whose bounds differ by more do not cover one extent


@dataclass
class OpenedScene:
    scene: StacScene
    width: int  # of the finest asset
    height: int
    transform: object
    crs: object
    bands: int
    dtype: str
    scales: tuple[float, ...]  # per asset: its pixels per finest pixel
    resampled: tuple[str, ...]  # asset keys read at another resolution


class AssetHeader(NamedTuple):
    key: str
    width: int
    height: int
    transform: object
    crs: object
    count: int
    dtype: str
    res: tuple[float, float]


def open_scene(scene: StacScene, overview: int) -> OpenedScene:
    """Every asset's header; a ValueError says what does not fit (unreachable, CRS, extent, dtype)."""
    from rasterio.errors import RasterioError

    headers = []
    for key, href in scene.assets:
        try:
            with open_raster(href, overview) as src:
                headers.append(
                    AssetHeader(key, src.width, src.height, src.transform, src.crs, src.count, src.dtypes[0], src.res)
                )
        except (RasterioError, OSError) as e:
            raise ValueError(f"asset {key} ({redacted(href)}) cannot be opened ({first_line(e)})") from None
    finest = min(headers, key=lambda h: h.res[0] * h.res[1])
    for h in headers:
        if h.crs != finest.crs:
            raise ValueError(
                f"assets {finest.key} ({finest.crs}) and {h.key} ({h.crs}) are in different CRSs (tiles are never "
                "reprojected)"
            )
        if h.dtype != finest.dtype:
            raise ValueError(f"assets {finest.key} ({finest.dtype}) and {h.key} ({h.dtype}) hold different data types")
    coarsest = max(max(h.res) for h in headers)
    box = bounds(finest.transform, finest.width, finest.height)
    for h in headers:
        other = bounds(h.transform, h.width, h.height)
        if max(abs(a - b) for a, b in zip(box, other, strict=True)) > EXTENT_TOLERANCE * coarsest:
            raise ValueError(
                f"assets {finest.key} and {h.key} do not cover the same extent ({_fmt(box)} against {_fmt(other)})"
            )
    scales = tuple(finest.res[0] / h.res[0] for h in headers)
    resampled = tuple(f"{h.key} ({h.res[0]:g} -> {finest.res[0]:g})" for h in headers if h.res[0] != finest.res[0])
    return OpenedScene(
        scene, finest.width, finest.height, finest.transform, finest.crs, sum(h.count for h in headers), finest.dtype,
        scales, resampled,
    )  # fmt: skip


def bounds(transform, width: int, height: int) -> tuple[float, float, float, float]:
    """left, bottom, right, top of a whole raster in its CRS."""
    return tuple(window_bounds(transform, np.array([[0, 0, width, height]]))[0].tolist())


def stac_catalog(source: str, bad: BadFiles, options: DataOptions, need_coords: bool) -> Catalog:
    """The tiles of the STAC file ``source``, opened as ``options`` say (assets, tiles, overview, statistics)."""
    if options.bands is not None:
        raise UserError(f"data.bands={options.bands} picks bands of GeoTIFF files; pick STAC bands with data.assets")
    if not 0 <= options.min_valid_fraction <= 1:
        raise UserError(f"data.min_valid_fraction must be in [0, 1], got {options.min_valid_fraction}")
    if options.tile_stride is not None and options.tile_size is None:
        raise UserError(f"data.tile_stride={options.tile_stride} needs data.tile_size (the tile's side in pixels)")
    configure_gdal_network()
    scenes = read_scenes(source, options.assets, options.label_property, bad)
    if not scenes:
        raise UserError(f"{redacted(source)}: no usable items ({len(bad.skipped)} left out: {bad.summary(3)})")
    tile_size, stride = options.tile_size, options.tile_stride
    parts = {
        "kind": "stac",
        "items": [[sc.name, [redacted(h) for _, h in sc.assets], sc.time, sc.label, sc.footprint] for sc in scenes],
        "tile_size": tile_size, "tile_stride": stride, "need_coords": need_coords, "overview": options.overview,
        "min_valid_fraction": options.min_valid_fraction,
    }  # fmt: skip

    def build(folder: Path) -> tuple[TileTable, dict]:
        return build_index(scenes, options, need_coords, folder, redacted(source))

    tiles, meta, _ = cached_index(parts, build)
    current = {sc.name: sc.assets for sc in scenes}  # the URLs as the catalog gives them now, tokens and all
    tiles = tiles.with_files(
        [
            replace(f, assets=tuple((h, s) for (_, h), (_, s) in zip(current[f.path], f.assets, strict=True)))
            for f in tiles.files
        ]
    )
    for path, reason in meta["problems"]:
        bad.report(path, reason)
    empty = meta["empty"]
    if not len(tiles):
        raise UserError(
            f"{redacted(source)}: no usable tiles ({len(bad.skipped)} bad item(s), {empty} window(s) with less than "
            f"{options.min_valid_fraction:.0%} valid pixels, data.min_valid_fraction)"
        )
    keys = meta["assets"]
    note = {
        "assets": keys,
        "dtype": meta["dtype"],
        "resampled_to_finest": meta["resampled"],
        "overview": options.overview,
        "items": int(np.count_nonzero(np.bincount(np.asarray(tiles.file), minlength=len(tiles.files)))),
    }
    return tiles_catalog(
        redacted(source), tiles, meta["bands"], meta["dtype"], options, note=note, empty=empty,
        band_names=tuple(keys) if len(keys) == meta["bands"] else None,
    )  # fmt: skip


def build_index(
    scenes: list[StacScene], options: DataOptions, need_coords: bool, folder: Path, label: str
) -> tuple[TileTable, dict]:
    """Open every item's assets (headers only), cut the items into windows on their finest grid, scan them; the
    table under ``folder / "final"`` and the meta (layout, problems, counts). An index that met an asset it could
    not open is marked ``transient``: it is used but not kept, since the server may answer next time."""
    problems: list[tuple[str, str]] = []
    opened: list[OpenedScene] = []
    for scene in scenes:
        try:
            opened.append(open_scene(scene, options.overview))
        except ValueError as e:
            problems.append((scene.name, str(e)))
    transient = any("cannot be opened" in reason for _, reason in problems)
    if not opened:
        meta = {"problems": problems, "empty": 0, "bands": 0, "dtype": "uint8", "assets": [], "resampled": []}
        return ColumnWriter(folder / "final").finish([]), {**meta, "transient": transient}
    layout = Counter((o.bands, o.dtype) for o in opened).most_common(1)[0][0]
    size = Counter((o.width, o.height) for o in opened).most_common(1)[0][0]
    tile_size, stride = options.tile_size, options.tile_stride
    total = sum(window_count(o.width, o.height, tile_size, stride) for o in opened)
    if options.max_tiles is not None and total > options.max_tiles:
        raise UserError(
            f"{label}: data.tile_size={tile_size} cuts the items into {total:,} tiles, more than "
            f"data.max_tiles={options.max_tiles:,}; raise data.max_tiles (null: no limit) or use larger tiles"
        )
    writer, sources = ColumnWriter(folder / "raw"), []
    for o in opened:
        problem = _layout_problem(o, layout, size, tile_size)
        wins = window_array(o.width, o.height, tile_size, stride)
        if problem is None and not len(wins):
            problem = f"is {o.width}x{o.height} pixels, smaller than data.tile_size={tile_size}"
        lats, lons = centres_wgs84(o.transform, o.crs, wins)
        if problem is None and not np.isfinite(lats).all():  # no CRS: the item is placed by its footprint
            if need_coords and o.crs is not None:
                problem = f"has a CRS ({o.crs}) that cannot be transformed to WGS84"
            lats[:], lons[:] = o.scene.footprint
        if problem is not None:
            problems.append((o.scene.name, problem))
            continue
        writer.append(
            file=np.full(len(wins), len(sources)), window=wins, bounds=window_bounds(o.transform, wins),
            latlon=np.column_stack([lats, lons]),
        )  # fmt: skip
        assets = tuple((href, s) for (_, href), s in zip(o.scene.assets, o.scales, strict=True))
        crs = o.crs.to_string() if o.crs else ""
        sources.append(SourceFile(o.scene.name, crs, o.scene.label, o.bands, o.scene.time, assets=assets))
    table, empty = scan(writer.finish(sources), problems, options.min_valid_fraction, options.overview, folder)
    # what stays on disk names each asset without the query string of a signed URL (a token never lands on disk)
    table = table.write_files(
        [replace(f, assets=tuple((redacted(h), s) for h, s in f.assets or ())) for f in table.files]
    )
    meta = {
        "problems": problems,
        "empty": empty,
        "bands": layout[0],
        "dtype": layout[1],
        "assets": [key for key, _ in opened[0].scene.assets],
        "resampled": sorted({r for o in opened for r in o.resampled}),
        "transient": transient or any("cannot read asset" in reason for _, reason in problems),
    }
    return table, meta


def _layout_problem(o: OpenedScene, layout: tuple, size: tuple, tile_size: int | None) -> str | None:
    if (o.bands, o.dtype) != layout:
        return f"has {o.bands} band(s) of {o.dtype}, the other items {layout[0]} of {layout[1]}"
    if tile_size is None and (o.width, o.height) != size:
        return f"is {o.width}x{o.height} pixels, the other items {size[0]}x{size[1]}; set data.tile_size"
    return None


def _fmt(box: tuple[float, ...]) -> str:
    return ", ".join(f"{v:.1f}" for v in box)
