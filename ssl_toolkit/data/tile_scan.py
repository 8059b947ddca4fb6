"""The bad-file scan: every window of every file read once before training, so a corrupt file or an empty window
is found before the first step, never half way through an epoch.

A file is in or out whole (its readable windows do not train while it is listed as bad); windows with too few
valid pixels are left out and counted. Files are scanned one per task, by worker processes in parallel when there
are many windows, with a progress bar (on a terminal). Each file's verdict is saved under the index's folder as
it comes in, so a scan that was stopped resumes with the files not yet done. The kept rows are then copied to the
final columns in chunks: memory stays flat however many windows there are.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ssl_toolkit.data.tile_table import ColumnWriter, SourceFile, TileTable

PARALLEL_FROM = 20_000  # windows; fewer are scanned in this process (starting workers costs seconds)
MAX_WORKERS = 8
CHUNK = 65_536  # rows copied at a time
SCAN_WORKERS_DIED = (
    "the bad-file scan's worker processes died; a script that opens the data at its top level must put it under "
    '`if __name__ == "__main__":` (each worker runs the main script again)'
)
NAN_PROBLEM = "holds NaN pixels but declares no nodata value for them (set one, e.g. nan)"


def scan_file(
    source: SourceFile, windows: np.ndarray, min_valid_fraction: float, overview: int
) -> tuple[np.ndarray, int, str]:
    """(kept windows as a bool mask, windows left out as empty, the file's problem or "") for one file."""
    from ssl_toolkit.data.raster import TileReader, TileReadError

    n = len(windows)
    zeros = np.zeros((n, 4))
    table = TileTable.in_memory([source], file=np.zeros(n), window=windows, bounds=zeros, latlon=zeros[:, :2])
    reader = TileReader(table, bands=None, fill=None, overview=overview)
    keep, empty = np.zeros(n, dtype=bool), 0
    try:
        for j in range(n):
            try:
                values, valid = reader.read_masked(j)
            except TileReadError as e:
                return np.zeros(n, dtype=bool), 0, str(e)
            if values.dtype.kind == "f" and np.isnan(values if valid is None else values[valid]).any():
                return np.zeros(n, dtype=bool), 0, NAN_PROBLEM
            if valid is not None:
                share = float(valid.all(axis=0).mean())
                if share == 0 or share < min_valid_fraction:
                    empty += 1
                    continue
            keep[j] = True
    finally:
        reader.close()
    return keep, empty, ""


def file_rows(table: TileTable) -> np.ndarray:
    """(F + 1,) row offsets: file i's tiles are rows starts[i]:starts[i + 1] (tables are written file by file)."""
    return np.searchsorted(np.asarray(table.file), np.arange(len(table.files) + 1))


def scan(
    table: TileTable,
    problems: list[tuple[str, str]],
    min_valid_fraction: float,
    overview: int,
    folder: Path,
    workers: int | None = None,
) -> tuple[TileTable, int]:
    """The table of the windows that read well (under ``folder/final``), and the count of empty ones; bad files
    are appended to ``problems`` in file order. Verdicts already under ``folder/scan`` are not read again."""
    state = folder / "scan"
    state.mkdir(parents=True, exist_ok=True)
    starts = file_rows(table)
    todo = [i for i in range(len(table.files)) if starts[i + 1] > starts[i] and not (state / f"{i}.npz").exists()]

    def record(i: int, keep: np.ndarray, empty: int, problem: str) -> None:
        tmp = state / f"{i}.tmp.npz"
        np.savez(tmp, keep=keep, empty=np.int64(empty), problem=np.array(problem))
        os.replace(tmp, state / f"{i}.npz")

    workers = workers or min(MAX_WORKERS, os.cpu_count() or 1)

    def args(i: int) -> tuple:  # one file's windows copied out of the mapped column when its turn comes
        return table.files[i], np.array(table.window[starts[i] : starts[i + 1]]), min_valid_fraction, overview

    bar = tqdm(total=len(todo), desc="scanning tiles", unit="file", disable=None, leave=False)
    if len(table) >= PARALLEL_FROM and len(todo) > 1 and workers > 1:
        import multiprocessing
        from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
        from concurrent.futures.process import BrokenProcessPool

        from ssl_toolkit.errors import UserError

        workers = min(workers, len(todo))
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            pending, queue = {}, iter(todo)
            while True:  # at most two files per worker in flight: never every file's windows at once
                while len(pending) < 2 * workers and (i := next(queue, None)) is not None:
                    pending[pool.submit(scan_file, *args(i))] = i
                if not pending:
                    break
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    try:
                        result = future.result()
                    except BrokenProcessPool:
                        raise UserError(SCAN_WORKERS_DIED) from None
                    record(pending.pop(future), *result)
                    bar.update()
    else:
        for i in todo:
            record(i, *scan_file(*args(i)))
            bar.update()
    bar.close()
    table.release()
    writer = ColumnWriter(folder / "final")
    empty = 0
    for i in range(len(table.files)):
        if starts[i + 1] == starts[i]:
            continue
        with np.load(state / f"{i}.npz", allow_pickle=False) as verdict:
            keep, problem = verdict["keep"], str(verdict["problem"])
            empty += int(verdict["empty"])
        if problem:
            problems.append((table.files[i].path, problem))
            continue
        rows = starts[i] + np.flatnonzero(keep)
        for chunk in np.array_split(rows, max(1, -(-len(rows) // CHUNK))):
            if len(chunk):
                writer.append(**{k: np.asarray(v[chunk]) for k, v in table.columns.items()})
        table.release()
    return writer.finish(table.files), empty
