"""Tile indexes kept between runs: built once under the cache folder (``$SSL_CACHE_DIR/tile-index/<key>``) and
reused while the data and the keys that cut it are unchanged.

The key hashes what the index depends on: each file's path, size and modification time (a STAC catalog: its items'
names, assets and dates), the tiling keys, the overview level, the validity threshold. A build works in
``<key>.partial`` (its scan resumes there after an interruption) and becomes ``<key>`` by one rename when done;
processes that ask for the same index at once (DDP ranks) wait for one another on a lock instead of building
it twice. An index that cannot be read back is rebuilt; a cache folder that cannot be written means a
temporary one. An index whose build met a network failure (``meta["transient"]``) is used once and not kept.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import multiprocessing
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from ssl_toolkit.cache import cache_dir
from ssl_toolkit.data.tile_table import TileTable
from ssl_toolkit.errors import UserError

UNGUARDED = (
    "a worker process of the bad-file scan is starting and its copy of the main script opened the data again; "
    'put the script\'s top level under `if __name__ == "__main__":`'
)

VERSION = 1  # bump when the columns or the scan change meaning


def file_stamp(path: Path | str) -> list:
    """(size, mtime_ns) of a file, or (-1, -1) when it cannot be stat'ed (the index lists it as bad)."""
    try:
        st = os.stat(path)
        return [st.st_size, st.st_mtime_ns]
    except OSError:
        return [-1, -1]


def index_key(parts: dict) -> str:
    blob = json.dumps({"version": VERSION, **parts}, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:20]


@contextlib.contextmanager
def waiting_lock(path: Path) -> Iterator[None]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def cached_index(parts: dict, build: Callable[[Path], tuple[TileTable, dict]]) -> tuple[TileTable, dict, bool]:
    """(table, meta, reused) for the data ``parts`` describe; ``build(folder)`` makes them with the table's final
    columns under ``folder / "final"`` and ``meta`` JSON-serialisable (layout, problems, counts)."""
    if getattr(multiprocessing.current_process(), "_inheriting", False):  # would wait on the parent's lock forever
        raise UserError(UNGUARDED)
    key = index_key(parts)
    root = cache_dir() / "tile-index"
    try:
        root.mkdir(parents=True, exist_ok=True)
        with waiting_lock(root / f"{key}.lock"):
            return _cached(root, key, build)
    except OSError:  # a read-only or full cache folder: build in a temporary one, reuse nothing
        table, meta = build(Path(tempfile.mkdtemp(prefix="ssl-tile-index-")))
        return table, meta, False


def _cached(root: Path, key: str, build: Callable[[Path], tuple[TileTable, dict]]) -> tuple[TileTable, dict, bool]:
    final = root / key
    if (final / "meta.json").is_file():
        try:
            return TileTable.load(final), json.loads((final / "meta.json").read_text()), True
        except (OSError, ValueError, KeyError, TypeError):
            shutil.rmtree(final, ignore_errors=True)
    work = root / f"{key}.partial"
    table, meta = build(work)
    if meta.get("transient"):  # e.g. a server that did not answer: use this index, build afresh next time
        mapped = TileTable.load(work / "final")
        table = TileTable(mapped.files, {k: np.array(v) for k, v in mapped.columns.items()})  # in memory
        shutil.rmtree(work, ignore_errors=True)
        return table, meta, False
    table.save_places()
    (work / "final" / "meta.json").write_text(json.dumps(meta))
    shutil.rmtree(final, ignore_errors=True)
    os.replace(work / "final", final)
    shutil.rmtree(work, ignore_errors=True)
    return TileTable.load(final), meta, False
