"""The tile index as columns on disk: one row per tile (window), one entry per source file.

A Python object per tile costs hundreds of bytes: 10^6 windows would hold half a gigabyte before the first step.
Here the per-tile facts are NumPy columns (source file, window, bounds in the file's CRS, WGS84 lat/lon), written
file by file while the files are scanned (``ColumnWriter``) and memory-mapped back, so a process holds the pages it
reads rather than the whole index. What is shared by a file's tiles (path, CRS, label, date, band count, STAC
assets) is held once per file. A ``raster.Tile`` is made only when one is asked for (``table[j]``); names,
labels, coordinates and places come out as arrays.
"""

from __future__ import annotations

import json
import math
import mmap
import shutil
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

CHUNK = 65_536  # rows at a time where a whole column would be copied
COLUMNS = {"file": ("int32", ()), "window": ("int32", (4,)), "bounds": ("float64", (4,)), "latlon": ("float64", (2,))}


@dataclass(frozen=True)
class SourceFile:
    """What every tile of one file (or STAC item) shares."""

    path: str  # the file, or catalog.json#<item> for a STAC item (never a signed URL)
    crs: str  # "" without one
    label: str | None
    bands: int
    time: float = math.nan  # days since 1970-01-01 UTC
    whole: bool = False  # one tile covering the whole file (a chip: read without a window)
    assets: tuple[tuple[str, float], ...] | None = None  # a STAC item's (href, scale) per band asset


class ColumnWriter:
    """Appends rows to one raw file per column under ``folder``; ``finish`` maps them back as a TileTable."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.handles = {name: open(folder / f"{name}.bin", "wb") for name in COLUMNS}  # noqa: SIM115
        self.rows = 0

    def append(self, **columns: np.ndarray) -> None:
        n = len(columns["file"])
        for name, (dtype, shape) in COLUMNS.items():
            values = np.ascontiguousarray(columns[name], dtype=dtype).reshape(n, *shape)
            self.handles[name].write(values.tobytes())
        self.rows += n

    def finish(self, files: list[SourceFile]) -> TileTable:
        for handle in self.handles.values():
            handle.close()
        (self.folder / "files.json").write_text(json.dumps([asdict(f) for f in files]))
        (self.folder / "rows.json").write_text(json.dumps(self.rows))
        return TileTable.load(self.folder)


class TileTable:
    """The tiles of a dataset: ``len``, ``table[j]`` (a ``raster.Tile``) and column views."""

    def __init__(self, files: list[SourceFile], columns: dict[str, np.ndarray], folder: Path | None = None) -> None:
        self.files, self.columns, self.folder = files, columns, folder
        self.saved_places: np.ndarray | None = None

    @classmethod
    def load(cls, folder: Path) -> TileTable:
        files = [
            SourceFile(**{**f, "assets": None if f["assets"] is None else tuple(tuple(a) for a in f["assets"])})
            for f in json.loads((folder / "files.json").read_text())
        ]
        rows = json.loads((folder / "rows.json").read_text())
        columns = {}
        for name, (dtype, shape) in COLUMNS.items():
            path = folder / f"{name}.bin"
            if rows == 0 or path.stat().st_size == 0:
                columns[name] = np.zeros((0, *shape), dtype=dtype)
            else:
                columns[name] = np.memmap(path, dtype=dtype, mode="r", shape=(rows, *shape))
        table = cls(files, columns, folder)
        if (folder / "place.npy").is_file():
            table.saved_places = np.load(folder / "place.npy", mmap_mode="r", allow_pickle=False)
        return table

    def save_places(self) -> None:
        """Compute the places once and keep them beside the columns (an index reused does not compute them)."""
        if self.folder is not None:
            np.save(self.folder / "place.npy", self.places().numpy().astype(np.int32))
            self.saved_places = np.load(self.folder / "place.npy", mmap_mode="r", allow_pickle=False)

    def release(self) -> None:
        """Drop the mapped pages this process has read from its resident memory (they stay in the page cache and
        are read again when touched): after a pass over whole columns, so a million rows read once are not held."""
        if not hasattr(mmap, "MADV_DONTNEED"):
            return
        for column in [*self.columns.values(), self.saved_places]:
            mapped = getattr(column, "_mmap", None)
            if mapped is not None and not mapped.closed:
                mapped.madvise(mmap.MADV_DONTNEED)

    @classmethod
    def in_memory(cls, files: list[SourceFile], **columns: np.ndarray) -> TileTable:
        n = len(columns["file"])
        return cls(
            files,
            {k: np.ascontiguousarray(columns[k], dtype=d).reshape(n, *s) for k, (d, s) in COLUMNS.items()},
        )

    @classmethod
    def of_tiles(cls, tiles: list) -> TileTable:
        """An in-memory table of ``raster.Tile`` objects (one source file per distinct path)."""
        files: list[SourceFile] = []
        index: dict[str, int] = {}
        for t in tiles:
            if t.path not in index:
                index[t.path] = len(files)
                files.append(SourceFile(t.path, t.crs, t.label, t.bands, t.time, t.whole, t.assets))
        return cls.in_memory(
            files,
            file=np.array([index[t.path] for t in tiles]),
            window=np.array([(t.col, t.row, t.width, t.height) for t in tiles]),
            bounds=np.array([t.bounds for t in tiles], dtype=np.float64),
            latlon=np.array([(t.lat, t.lon) for t in tiles], dtype=np.float64),
        )

    def __getstate__(self) -> dict:  # DataLoader workers map the files again instead of copying the columns
        if self.folder is not None:
            return {"files": self.files, "columns": None, "folder": self.folder, "saved_places": None}
        return self.__dict__.copy()

    def __setstate__(self, state: dict) -> None:
        if state["columns"] is None:
            self.__dict__.update(TileTable.load(state["folder"]).__dict__)
        else:
            self.__dict__.update(state)

    def __len__(self) -> int:
        return len(self.columns["file"])

    @property
    def file(self) -> np.ndarray:
        return self.columns["file"]

    @property
    def window(self) -> np.ndarray:
        return self.columns["window"]

    def __getitem__(self, j: int):
        from ssl_toolkit.data.raster import Tile

        f = self.files[int(self.file[j])]
        col, row, width, height = (int(v) for v in self.window[j])
        lat, lon = (float(v) for v in self.columns["latlon"][j])
        bounds = tuple(float(v) for v in self.columns["bounds"][j])
        return Tile(
            f.path, col, row, width, height, f.crs, bounds, lat, lon, f.label, f.bands,  # type: ignore[arg-type]
            whole=f.whole, time=f.time, assets=f.assets,
        )  # fmt: skip

    def per_file(self, values: Sequence) -> np.ndarray:
        """A per-file value spread to every tile (by the tiles' file ids)."""
        return np.asarray(values)[np.asarray(self.file)]

    def with_files(self, files: list[SourceFile]) -> TileTable:
        """The same rows with other per-file facts (e.g. current URLs for the assets); ``files.json`` is kept."""
        table = TileTable(files, self.columns, None)
        table.saved_places = self.saved_places
        return table

    def write_files(self, files: list[SourceFile]) -> TileTable:
        """Rewrite the on-disk per-file facts (e.g. with URLs stripped of their tokens); the table reloaded."""
        assert self.folder is not None
        (self.folder / "files.json").write_text(json.dumps([asdict(f) for f in files]))
        return TileTable.load(self.folder)

    def names(self) -> TileNames:
        return TileNames(self)

    def coords(self) -> torch.Tensor:
        """(N, 2) float64 lat/lon, copied out of the mapped column chunk by chunk (its pages released as read)."""
        latlon = self.columns["latlon"]
        out = np.empty(latlon.shape, dtype=np.float64)
        for start in range(0, len(out), CHUNK):
            out[start : start + CHUNK] = latlon[start : start + CHUNK]
            self.release()
        return torch.from_numpy(out)

    def times(self) -> torch.Tensor | None:
        """Days since 1970 per tile (NaN: unknown); None when no file has a date."""
        times = np.array([f.time for f in self.files], dtype=np.float64)
        return torch.from_numpy(self.per_file(times)) if np.isfinite(times).any() else None

    def places(self) -> torch.Tensor:
        """Places of windows: the same CRS and bounds to a tenth of a pixel make one place (no CRS: no place, -1),
        numbered in order of first appearance (``revisits.place_ids``' numbering). Computed chunk by chunk as one
        64-bit hash per window (SplitMix64 over the CRS and the rounded bounds), so a million windows cost a few
        arrays of a million integers, never a million keys."""
        from ssl_toolkit.data.revisits import _mix

        if self.saved_places is not None:
            return torch.from_numpy(np.asarray(self.saved_places, dtype=np.int64))
        n = len(self)
        crs_names = sorted({f.crs for f in self.files if f.crs})
        if not crs_names or n == 0:
            return torch.full((n,), -1, dtype=torch.int64)
        file_crs = np.array([crs_names.index(f.crs) if f.crs else -1 for f in self.files], dtype=np.int64)
        hashes = np.empty(n, dtype=np.uint64)
        located = np.ones(n, dtype=bool)
        for start in range(0, n, CHUNK):
            end = min(n, start + CHUNK)
            crs_id = file_crs[np.asarray(self.file[start:end])]
            located[start:end] = crs_id >= 0
            bounds, window = np.asarray(self.columns["bounds"][start:end]), np.asarray(self.window[start:end])
            step = (
                np.maximum(
                    np.abs(bounds[:, 2] - bounds[:, 0]) / np.maximum(window[:, 2], 1),
                    np.abs(bounds[:, 3] - bounds[:, 1]) / np.maximum(window[:, 3], 1),
                )
                / 10
            )
            step[step == 0] = 1.0
            rounded = np.round(bounds / step[:, None]).astype(np.int64).view(np.uint64)
            h = _mix(crs_id.view(np.uint64) + np.uint64(0x9E3779B97F4A7C15))
            for k in range(4):
                h = _mix(h ^ rounded[:, k])
            hashes[start:end] = h
            self.release()  # the chunk's mapped pages: a pass over a million rows holds one chunk
        everywhere = bool(located.all())
        _, first, inverse = np.unique(
            hashes if everywhere else hashes[located], return_index=True, return_inverse=True
        )  # fmt: skip
        del hashes
        rank = np.empty(len(first), dtype=np.int64)
        rank[np.argsort(first, kind="stable")] = np.arange(len(first))
        if everywhere:
            ids = rank[inverse.reshape(-1)]
        else:
            ids = np.full(n, -1, dtype=np.int64)
            ids[located] = rank[inverse.reshape(-1)]
        self.release()
        return torch.from_numpy(ids)

    def select(self, rows: np.ndarray, writer: ColumnWriter | None = None) -> TileTable:
        """The table of ``rows`` (in order): written through ``writer`` (on disk), or in memory without one."""
        rows = np.asarray(rows, dtype=np.int64)
        picked = {k: np.asarray(v[rows]) for k, v in self.columns.items()}
        if writer is None:
            return TileTable(self.files, picked)
        writer.append(**picked)
        return writer.finish(self.files)

    def remove(self) -> None:
        """Delete the table's folder (its mapped columns stay readable until released, on POSIX)."""
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)


class TileNames(Sequence):
    """The names of a table's tiles (``raster.Tile.name``), made when read: never a list of a million strings."""

    def __init__(self, table: TileTable, rows: np.ndarray | None = None) -> None:
        self.table, self.rows = table, rows

    def __len__(self) -> int:
        return len(self.table) if self.rows is None else len(self.rows)

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(len(self)))]
        j = int(i if self.rows is None else self.rows[i])
        f = self.table.files[int(self.table.file[j])]
        col, row = int(self.table.window[j, 0]), int(self.table.window[j, 1])
        return f.path if f.whole else f"{f.path}@{col},{row}"

    def select(self, idx: np.ndarray) -> TileNames:
        idx = np.asarray(idx, dtype=np.int64)
        return TileNames(self.table, idx if self.rows is None else self.rows[idx])
