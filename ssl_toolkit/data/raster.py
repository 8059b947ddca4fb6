"""GeoTIFF tiles through rasterio: an index of tiles (chips, or windows cut from large scenes) and their reader.

Each file is read in its own CRS: a tile is a pixel window of one file, never reprojected, so a dataset may mix
CRSs (EuroSAT-MS spans eight UTM zones) and no tile holds fill pixels from a warp (a STAC item's coarser band
assets are resampled onto its finest grid, the one exception). The WGS84 lat/lon of a tile is its centre
transformed from the file's CRS. The index is a ``tile_table.TileTable``: columns on disk, not an object per tile.

Indexing opens every file once and, with ``validate``, reads every tile once (``tile_scan``), so a corrupt or
truncated file, an all-nodata tile, a file without CRS (when coordinates are needed) or a file with another band
count or dtype is found before training starts (see ``bad_files``), never half way through an epoch. Reading
opens, reads and closes a chip like a plain loop, or keeps scene files open and reads only the tile's window:
a scene is never read whole into memory.
"""

from __future__ import annotations

import math
import os
from collections import Counter, OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ssl_toolkit.data.files import is_regular, walk_files
from ssl_toolkit.data.revisits import geotiff_time
from ssl_toolkit.data.tile_table import ColumnWriter, SourceFile, TileTable
from ssl_toolkit.errors import UserError

SUFFIXES = (".tif", ".tiff")


@dataclass(frozen=True)
class Tile:
    """One tile: a pixel window of a GeoTIFF, with where it lies."""

    path: str
    col: int
    row: int
    width: int
    height: int
    crs: str  # "" when the file has none
    bounds: tuple[float, float, float, float]  # left, bottom, right, top in the file's CRS
    lat: float  # WGS84 degrees of the tile centre; NaN without CRS
    lon: float
    label: str | None
    bands: int

    @property
    def name(self) -> str:
        """The path, with the window's offset when the tile is part of a larger file."""
        return self.path if (self.col, self.row) == (0, 0) and self.whole else f"{self.path}@{self.col},{self.row}"

    whole: bool = True
    time: float = math.nan  # days since 1970-01-01 UTC, from the file's date tag or name (see ``revisits``)
    # a STAC item's tile: (href, scale) of each band asset, read in this order and stacked; ``scale`` is the
    # asset's pixels per pixel of the finest asset (0.5: a 20 m band under 10 m ones, resampled on read)
    assets: tuple[tuple[str, float], ...] | None = None


def find_geotiffs(root: Path) -> list[Path]:
    """The GeoTIFF files (regular files only: never a FIFO or a device) under ``root``, each once by its
    resolved path, sorted; folder links are followed once and never in a loop."""
    return [p for p in walk_files(root) if p.suffix.lower() in SUFFIXES]


def open_raster(href: str, overview: int = 0):
    """``rasterio.open`` of a path or URL at full resolution (``overview`` 0) or as its ``overview``-th overview
    level (1: the first, typically 2x coarser); a RasterioIOError names what is missing. A URL is read with the
    toolkit's network defaults (``remote.GDAL_NETWORK_DEFAULTS``: bounded retries and timeouts)."""
    import rasterio

    from ssl_toolkit.data.remote import configure_gdal_network, is_remote

    if is_remote(href):
        configure_gdal_network()

    if overview == 0:
        return rasterio.open(href)
    with rasterio.open(href) as src:
        levels = len(src.overviews(1))
    if overview > levels:
        from rasterio.errors import RasterioIOError

        raise RasterioIOError(f"has {levels} overview level(s), data.overview={overview} asks for more")
    return rasterio.open(href, overview_level=overview - 1)


def pixel_scale(dtype: str) -> float:
    """The stored value that means 1.0: the maximum of an integer dtype, 1 for floats."""
    kind = np.dtype(dtype)
    return float(np.iinfo(kind).max) if kind.kind in "ui" else 1.0


def window_count(width: int, height: int, size: int | None, stride: int | None) -> int:
    """``len(windows(...))`` without listing them."""
    if size is None:
        return 1
    step = stride or size
    if width < size or height < size:
        return 0
    return ((width - size) // step + 1) * ((height - size) // step + 1)


def windows(width: int, height: int, size: int | None, stride: int | None) -> list[tuple[int, int, int, int]]:
    """(col, row, w, h) of the full tiles of ``size`` every ``stride`` pixels, row by row; the whole file when
    ``size`` is None. Tiles that would run past the edge are left out."""
    return [tuple(int(v) for v in w) for w in window_array(width, height, size, stride)]  # type: ignore[misc]


def window_array(width: int, height: int, size: int | None, stride: int | None) -> np.ndarray:
    """``windows`` as a (K, 4) int32 array, made without a Python object per window."""
    if size is None:
        return np.array([[0, 0, width, height]], dtype=np.int32)
    step = stride or size
    cols, rows = np.arange(0, width - size + 1, step), np.arange(0, height - size + 1, step)
    grid_rows, grid_cols = np.meshgrid(rows, cols, indexing="ij")
    out = np.empty((grid_rows.size, 4), dtype=np.int32)
    out[:, 0], out[:, 1], out[:, 2:] = grid_cols.ravel(), grid_rows.ravel(), size
    return out


def window_bounds(affine, wins: np.ndarray) -> np.ndarray:
    """(K, 4) left, bottom, right, top of each window in the file's CRS."""
    c, r, w, h = (wins[:, i].astype(np.float64) for i in range(4))
    xs0, ys0 = affine @ (c, r)
    xs1, ys1 = affine @ (c + w, r + h)
    return np.column_stack([np.minimum(xs0, xs1), np.minimum(ys0, ys1), np.maximum(xs0, xs1), np.maximum(ys0, ys1)])


@dataclass
class RasterIndex:
    tiles: TileTable
    bands: int
    dtype: str
    nodata: list[float | None]  # per file band, of the common layout (None: no nodata value)
    problems: list[tuple[str, str]]
    empty: int = 0  # windows left out for too few valid pixels (not bad files: an orbit edge, a no-data corner)
    band_names: list[str | None] | None = None  # the bands' descriptions (e.g. "B04", "red"), None where unnamed


def index_geotiffs(
    files: list[Path],
    labels: list[str | None],
    tile_size: int | None = None,
    stride: int | None = None,
    need_coords: bool = False,
    validate: bool = True,
    max_tiles: int | None = None,
    min_valid_fraction: float = 0.0,
    overview: int = 0,
    folder: Path | None = None,
) -> RasterIndex:
    """Open each file, cut it into windows, locate each window's centre; collect problems as (path, reason).

    The band count and dtype shared by most files are the dataset's; files that differ are problems. Without a
    ``tile_size`` every file is one tile and files of another size than the most common are problems. More than
    ``max_tiles`` windows in all is a UserError (counted before any is listed). With ``validate``, windows whose
    share of valid pixels (valid in every band) is below ``min_valid_fraction`` are left out and counted, and a
    window with none is always left out (``tile_scan``). ``overview`` N > 0 reads each file's N-th overview level.
    The index's columns are written under ``folder / "final"`` (``folder`` a temporary one without it) and
    memory-mapped.
    """
    import tempfile

    from rasterio.errors import RasterioError

    folder = Path(tempfile.mkdtemp(prefix="ssl-tile-index-")) if folder is None else folder
    opened, problems = [], []
    times: dict[Path, float] = {}
    descriptions: dict[tuple[int, str], list[str | None]] = {}  # band names of the first file of each layout
    for path, label in zip(files, labels, strict=True):
        if not is_regular(path):  # a FIFO would block the read forever
            problems.append((str(path), "is not a regular file"))
            continue
        try:
            with open_raster(str(path), overview) as src:
                opened.append((path, label, src.profile.copy(), src.transform, src.crs, src.nodatavals))
                times[path] = geotiff_time(src.tags(), path.name)
                descriptions.setdefault((src.count, src.dtypes[0]), list(src.descriptions))
        except (RasterioError, OSError) as e:
            problems.append((str(path), f"cannot open as a GeoTIFF ({first_line(e)})"))
    if not opened:
        return RasterIndex(ColumnWriter(folder / "final").finish([]), 0, "uint8", [], problems)
    layout = Counter((p["count"], p["dtype"]) for _, _, p, _, _, _ in opened).most_common(1)[0][0]
    size = Counter((p["width"], p["height"]) for _, _, p, _, _, _ in opened).most_common(1)[0][0]
    nodata = next(list(nd) for _, _, p, _, _, nd in opened if (p["count"], p["dtype"]) == layout)
    if max_tiles is not None:
        total = 0
        for path, _, profile, _, _, _ in opened:
            total += window_count(profile["width"], profile["height"], tile_size, stride)
            if total > max_tiles:
                cut = f"data.tile_size={tile_size}" + (f" and data.tile_stride={stride}" if stride else "")
                raise UserError(
                    f"{path}: {cut} cut the files up to here into {total:,} tiles, more than data.max_tiles="
                    f"{max_tiles:,}; raise data.max_tiles (null: no limit) or use larger tiles or stride"
                )
    writer = ColumnWriter(folder / "raw")
    sources: list[SourceFile] = []
    for path, label, profile, affine, crs, _ in opened:
        width, height = profile["width"], profile["height"]
        if (profile["count"], profile["dtype"]) != layout:
            problems.append(
                (
                    str(path),
                    f"has {profile['count']} band(s) of {profile['dtype']}, the others {layout[0]} of {layout[1]}",
                )
            )
            continue
        if tile_size is None and (width, height) != size:
            problems.append(
                (
                    str(path),
                    f"is {width}x{height} pixels, the others {size[0]}x{size[1]}; set data.tile_size to cut tiles",
                )
            )
            continue
        wins = window_array(width, height, tile_size, stride)
        if not len(wins):
            problems.append((str(path), f"is {width}x{height} pixels, smaller than data.tile_size={tile_size}"))
            continue
        lats, lons = centres_wgs84(affine, crs, wins)
        if need_coords and not np.isfinite(lats).all():
            why = "has no CRS" if crs is None else f"has a CRS ({crs}) that cannot be transformed to WGS84"
            problems.append((str(path), f"{why}, so its tiles have no coordinates"))
            continue
        whole = len(wins) == 1 and tuple(wins[0]) == (0, 0, width, height)
        crs_name = crs.to_string() if crs else ""
        writer.append(
            file=np.full(len(wins), len(sources)),
            window=wins,
            bounds=window_bounds(affine, wins),
            latlon=np.column_stack([lats, lons]),
        )
        sources.append(SourceFile(str(path), crs_name, label, profile["count"], times[path], whole=whole))
    table = writer.finish(sources)
    empty = 0
    if validate:
        from ssl_toolkit.data.tile_scan import scan

        table, empty = scan(table, problems, min_valid_fraction, overview, folder)
    else:
        os.replace(folder / "raw", folder / "final")
        table = TileTable.load(folder / "final")
    return RasterIndex(table, layout[0], layout[1], nodata, problems, empty, descriptions.get(layout))


def centres_wgs84(affine, crs, wins) -> tuple[np.ndarray, np.ndarray]:
    """WGS84 (lat, lon) of the window centres ((K, 4) col, row, w, h); NaN where the file has no CRS or it cannot
    be transformed."""
    from rasterio._err import CPLE_BaseError  # GDAL's errors; rasterio.errors does not export their base
    from rasterio.errors import CRSError, RasterioError

    wins = np.asarray(wins, dtype=np.float64).reshape(-1, 4)
    cols, rows = wins[:, 0] + wins[:, 2] / 2, wins[:, 1] + wins[:, 3] / 2
    xs, ys = affine @ (cols, rows)
    nan = np.full(len(wins), math.nan)
    if crs is None:
        return nan, nan.copy()
    from rasterio.warp import transform as warp_points

    try:
        lons, lats = warp_points(crs, "EPSG:4326", np.atleast_1d(xs), np.atleast_1d(ys))
    except (CRSError, RasterioError, CPLE_BaseError, ValueError, RuntimeError):  # e.g. an engineering CRS
        return nan, nan.copy()
    lats, lons = np.asarray(lats, dtype=float), np.asarray(lons, dtype=float)
    bad = ~(np.isfinite(lats) & np.isfinite(lons))
    lats[bad], lons[bad] = math.nan, math.nan
    return lats, lons


class TileReadError(Exception):
    pass


KEEP_OPEN = 128  # files a reader keeps open: an epoch in random order visits every file again and again


class TileReader:
    """Reads tile ``j`` of a TileTable (or a list of Tiles) as (C, H, W): chosen bands (1-based, None = all), in the
    stored dtype (converted to float on the training device, like 8-bit images), or as float32 with nodata pixels
    set to ``fill`` when the file has nodata. (A float32 read of a uint16 tile costs as much again as the read.)

    A STAC item's tile reads the same window of each of its band assets (a coarser asset's window scaled to its
    grid and resampled bilinearly to the tile's size) and stacks them in order.

    Picklable for DataLoader workers (open files are not carried over, an on-disk table is mapped again); keeps up
    to ``keep_open`` files open.
    """

    def __init__(
        self,
        tiles: TileTable | list[Tile],
        bands: list[int] | None,
        fill: list[float] | None,
        keep_open: int = KEEP_OPEN,
        overview: int = 0,
    ) -> None:
        self.table = tiles if isinstance(tiles, TileTable) else TileTable.of_tiles(tiles)
        self.overview = overview
        self.bands = bands
        self.fill = None if fill is None else np.asarray(fill, dtype=np.float32).reshape(-1, 1, 1)
        self.keep_open = keep_open
        self._open: OrderedDict[str, object] = OrderedDict()
        self._all_valid: dict[str, bool] = {}  # per file: no nodata value and no mask, so no mask to read
        self._pid = os.getpid()

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_open": OrderedDict(), "_all_valid": {}}

    def _dataset(self, path: str):
        if self._pid != os.getpid():  # a forked DataLoader worker: never share the parent's open files
            self._open, self._pid = OrderedDict(), os.getpid()
        src = self._open.pop(path, None)
        if src is None:
            src = open_raster(path, self.overview)
            if len(self._open) >= self.keep_open:
                self._open.popitem(last=False)[1].close()
        self._open[path] = src
        return src

    def read_masked(self, j: int) -> tuple[np.ndarray, np.ndarray | None]:
        """((C, H, W) values, bool (C, H, W) valid), or (values in the stored dtype, None) when the file has no
        nodata value or mask; values with a mask are float32, so they can take a fill."""
        from rasterio.errors import RasterioError
        from rasterio.windows import Window

        source = self.table.files[int(self.table.file[j])]
        if source.assets is not None:
            return self._read_assets(source.assets, self.table.window[j].tolist())
        path = source.path
        try:
            if source.whole:  # a chip: open, read, close, as a plain loop would
                with open_raster(path, self.overview) as src:
                    return self._read(src, path, None)
            return self._read(self._dataset(path), path, Window(*self.table.window[j].tolist()))
        except (RasterioError, OSError) as e:
            broken = self._open.pop(path, None)
            if broken is not None:
                broken.close()
            raise TileReadError(f"cannot read the file, truncated or corrupt? ({first_line(e)})") from None

    def _read_assets(self, assets, window: list[int]) -> tuple[np.ndarray, np.ndarray | None]:
        from rasterio.errors import RasterioError
        from rasterio.windows import Window

        from ssl_toolkit.data.remote import redacted

        col, row, width, height = window
        parts = []
        for href, scale in assets:
            scaled = Window(col * scale, row * scale, width * scale, height * scale)
            try:
                parts.append(self._read(self._dataset(href), href, scaled, (height, width)))
            except (RasterioError, OSError) as e:
                broken = self._open.pop(href, None)
                if broken is not None:
                    broken.close()
                raise TileReadError(f"cannot read asset {redacted(href)} ({first_line(e)})") from None
        if all(valid is None for _, valid in parts):
            return np.concatenate([values for values, _ in parts]), None
        values = np.concatenate([v.astype(np.float32, copy=False) for v, _ in parts])
        valid = np.concatenate([np.ones(v.shape, dtype=bool) if m is None else m for v, m in parts])
        return values, valid

    def _read(self, src, path: str, window, out_shape=None) -> tuple[np.ndarray, np.ndarray | None]:
        from rasterio.enums import MaskFlags, Resampling

        if path not in self._all_valid:
            self._all_valid[path] = all(flags == [MaskFlags.all_valid] for flags in src.mask_flag_enums)
        shape = None if out_shape is None else (src.count if self.bands is None else len(self.bands), *out_shape)
        how = {"out_shape": shape, "resampling": Resampling.bilinear} if shape is not None else {}
        if self._all_valid[path]:
            return src.read(self.bands, window=window, **how), None  # the stored dtype: the device converts it
        data = src.read(self.bands, window=window, out_dtype="float32", masked=True, **how)
        return np.ma.getdata(data), ~np.ma.getmaskarray(data)

    def __call__(self, j: int) -> torch.Tensor:
        values, valid = self.read_masked(j)
        if valid is not None and self.fill is not None and not valid.all():
            values = np.where(valid, values, self.fill)
        return torch.from_numpy(values)

    def set_fill(self, fill: np.ndarray) -> None:
        """Nodata pixels read as ``fill`` (one value per band read, stored units)."""
        self.fill = np.asarray(fill, dtype=np.float32).reshape(-1, 1, 1)

    def close(self) -> None:
        while self._open:
            self._open.popitem()[1].close()


def band_statistics(reader: TileReader, indices: list[int], scale: float) -> tuple[list[float], list[float], int]:
    """Per-band mean and std of the valid pixels of the tiles ``indices`` (float64 sums), in units of
    ``value / scale``; also the number of valid pixels of the first band."""
    total = count = squares = None
    for j in indices:
        values, valid = reader.read_masked(j)
        if valid is None:
            valid = np.ones(values.shape, dtype=bool)
        v = np.where(valid, values, 0).astype(np.float64) / scale
        s, q, n = v.sum(axis=(1, 2)), (v * v).sum(axis=(1, 2)), valid.sum(axis=(1, 2))
        total, squares, count = (s, q, n) if total is None else (total + s, squares + q, count + n)
    if total is None:
        raise ValueError("no tiles to compute statistics from")
    count = np.maximum(count, 1)
    mean = total / count
    std = np.sqrt(np.maximum(squares / count - mean * mean, 0)).clip(min=1e-6)
    return mean.tolist(), std.tolist(), int(count[0])


def first_line(e: BaseException) -> str:
    """The first line of an exception's message (GDAL's run over several), or its type's name."""
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__
