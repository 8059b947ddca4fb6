"""The tile index as columns on disk: memory-mapped, kept between runs while the data is unchanged, rebuilt when
a file changes; its scan resumes from saved verdicts and gives the same index in worker processes."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np

from ssl_toolkit.data import DataOptions, open_catalog
from ssl_toolkit.data.bad_files import BadFiles
from ssl_toolkit.data.raster import Tile, index_geotiffs
from ssl_toolkit.data.tile_scan import file_rows, scan
from ssl_toolkit.data.tile_table import TileTable
from tests.data import geotiffs


def scenes(root: Path, count: int = 3) -> list[Path]:
    paths = []
    for i in range(count):
        paths.append(root / f"s{i}.tif")
        geotiffs.satellite_scene(paths[-1], size=64, seed=i, origin=(500_000 + 640 * i, 5_300_000))
    return paths


def test_the_index_is_columns_on_disk_and_a_tile_is_made_when_asked_for(tmp_path: Path) -> None:
    paths = scenes(tmp_path / "s", 2)
    index = index_geotiffs(paths, [None, None], tile_size=16, folder=tmp_path / "idx")
    table = index.tiles
    assert isinstance(table.window, np.memmap) and table.folder == tmp_path / "idx" / "final"
    assert len(table) + index.empty == 2 * 16  # the wedge of nodata empties some windows
    t = table[3]
    assert isinstance(t, Tile) and t.path == str(paths[0]) and t.width == 16 and t.crs == "EPSG:32632"
    assert table.names()[3] == f"{paths[0]}@{t.col},{t.row}" and table.names().select(np.array([3]))[0] == t.name
    again = pickle.loads(pickle.dumps(table))  # DataLoader workers map the files again
    assert again[3] == t and len(pickle.dumps(table)) < 2_000


def test_released_pages_read_back_the_same_values_and_undated_files_have_no_times(tmp_path: Path) -> None:
    table = index_geotiffs(scenes(tmp_path / "s", 2), [None, None], tile_size=16, folder=tmp_path / "idx").tiles
    before = {k: np.array(v) for k, v in table.columns.items()}
    coords = table.coords()
    table.release()  # drops this process's mapped pages; the next read faults them in from the page cache
    assert all(np.array_equal(before[k], np.asarray(v)) for k, v in table.columns.items())
    assert np.array_equal(coords.numpy(), before["latlon"]) and table[0].lat == before["latlon"][0, 0]
    assert table.times() is None  # no file carries a date: no per-tile column of NaN
    in_memory = table.select(np.arange(3))
    in_memory.release()  # nothing mapped: nothing to do
    assert len(in_memory) == 3


def test_places_are_equal_windows_of_one_crs(tmp_path: Path) -> None:
    root = geotiffs.multi_date_chips(tmp_path / "md", places=3, dates=2)
    catalog = open_catalog(str(root), DataOptions(), BadFiles(), False)
    places, paths = catalog.samples.places.tolist(), list(catalog.samples.paths)
    by_place: dict[int, set[str]] = {}
    for p, path in zip(places, paths, strict=True):
        by_place.setdefault(p, set()).add(Path(path).name.split("_")[0])
    assert len(by_place) == 3 and all(len(names) == 1 for names in by_place.values())  # p0, p1, p2 apart
    assert sorted(places) == [0, 0, 1, 1, 2, 2]


def test_an_unchanged_folder_reuses_its_index_and_a_changed_file_rebuilds_it(tmp_path: Path, monkeypatch) -> None:
    import ssl_toolkit.data.geotiff_folder as folder_module

    root = tmp_path / "scenes"
    paths = scenes(root, 2)
    builds = []
    real = folder_module.index_geotiffs
    monkeypatch.setattr(folder_module, "index_geotiffs", lambda *a, **k: builds.append(1) or real(*a, **k))
    options = DataOptions(tile_size=16)
    first = open_catalog(str(root), options, BadFiles(), False)
    second = open_catalog(str(root), options, BadFiles(), False)
    assert len(builds) == 1 and len(first.samples) == len(second.samples)
    assert first.tiles.folder == second.tiles.folder
    open_catalog(str(root), DataOptions(tile_size=32), BadFiles(), False)  # other tiling: another index
    assert len(builds) == 2
    geotiffs.satellite_scene(paths[1], size=64, seed=9, origin=(500_640, 5_300_000))
    os.utime(paths[1], ns=(1, 1))  # a changed file, whatever the clock's resolution
    third = open_catalog(str(root), options, BadFiles(), False)
    assert len(builds) == 3 and third.tiles.folder != first.tiles.folder


def test_a_stopped_scan_resumes_from_its_saved_verdicts(tmp_path: Path) -> None:
    paths = scenes(tmp_path / "s", 3)
    raw = index_geotiffs(paths, [None] * 3, tile_size=16, validate=False, folder=tmp_path / "raw").tiles
    work = tmp_path / "work"
    (work / "scan").mkdir(parents=True)
    starts = file_rows(raw)
    keep = np.zeros(starts[2] - starts[1], dtype=bool)
    keep[:2] = True  # a verdict saved before the stop: only file 1's first two windows
    np.savez(work / "scan" / "1.npz", keep=keep, empty=np.int64(5), problem=np.array(""))
    problems: list = []
    table, empty = scan(raw, problems, 0.0, 0, work)
    rows = file_rows(table)
    assert rows[2] - rows[1] == 2 and not problems  # file 1 was not read again
    full, _ = scan(raw, [], 0.0, 0, tmp_path / "fresh")
    full_rows = file_rows(full)
    assert full_rows[2] - full_rows[1] > 2  # a scan from scratch keeps more of file 1
    assert len(table) == len(full) - (full_rows[2] - full_rows[1]) + 2  # files 0 and 2 scanned as from scratch
    assert empty >= 5  # the saved verdict's count is kept


def test_the_scan_in_worker_processes_gives_the_index_of_the_scan_in_process(tmp_path: Path, monkeypatch) -> None:
    import ssl_toolkit.data.tile_scan as tile_scan

    paths = scenes(tmp_path / "s", 5)  # six files: more than the four two workers have in flight at once
    geotiffs.corrupt_chip(tmp_path / "s" / "bad.tif")
    files = [*paths, tmp_path / "s" / "bad.tif"]
    raw = index_geotiffs(files, [None] * len(files), tile_size=16, validate=False, folder=tmp_path / "raw").tiles
    serial_problems: list = []
    serial, serial_empty = scan(raw, serial_problems, 0.5, 0, tmp_path / "serial", workers=1)
    monkeypatch.setattr(tile_scan, "PARALLEL_FROM", 1)
    parallel_problems: list = []
    parallel, parallel_empty = scan(raw, parallel_problems, 0.5, 0, tmp_path / "parallel", workers=2)
    assert serial_problems == parallel_problems and serial_problems[0][0] == str(tmp_path / "s" / "bad.tif")
    assert serial_empty == parallel_empty > 0
    assert all(np.array_equal(np.asarray(serial.columns[k]), np.asarray(parallel.columns[k])) for k in serial.columns)


def test_a_list_of_tiles_converts_to_a_table_and_back(tmp_path: Path) -> None:
    tiles = [
        Tile("a.tif", 0, 0, 8, 8, "EPSG:32632", (0.0, 0.0, 80.0, 80.0), 1.0, 2.0, "x", 3, whole=False, time=5.0),
        Tile("b.tif", 0, 0, 8, 8, "", (0.0, 0.0, 8.0, 8.0), float("nan"), float("nan"), None, 3),
        Tile("a.tif", 8, 0, 8, 8, "EPSG:32632", (80.0, 0.0, 160.0, 80.0), 1.0, 2.1, "x", 3, whole=False, time=5.0),
    ]
    table = TileTable.of_tiles(tiles)
    assert len(table.files) == 2 and table.file.tolist() == [0, 1, 0]
    assert [table[j].name for j in range(3)] == [t.name for t in tiles]
    assert table.places().tolist() == [0, -1, 1]


def test_places_number_equal_windows_in_order_of_first_appearance_and_leave_files_without_crs_out() -> None:
    from ssl_toolkit.data.tile_table import SourceFile

    files = [SourceFile("a.tif", "EPSG:32632", None, 1), SourceFile("b.tif", "", None, 1)]
    files.append(SourceFile("c.tif", "EPSG:32632", None, 1))
    boxes = np.array([[0, 0, 10, 10], [10, 0, 20, 10], [0, 0, 10, 10], [10, 0, 20, 10], [0, 0, 10, 10]], float)
    table = TileTable.in_memory(
        files, file=np.array([0, 0, 1, 2, 2]), window=np.tile([0, 0, 10, 10], (5, 1)), bounds=boxes,
        latlon=np.zeros((5, 2)),
    )  # fmt: skip
    # c.tif's second window is a.tif's first; b.tif has no CRS, so its window is no place
    assert table.places().tolist() == [0, 1, -1, 1, 0]


def test_a_script_without_a_main_guard_fails_with_the_fix_instead_of_waiting_forever(tmp_path: Path) -> None:
    import subprocess
    import sys

    scenes(tmp_path / "s", 2)
    script = tmp_path / "unguarded.py"
    script.write_text(
        "import sys\n"
        "import ssl_toolkit.data.tile_scan as tile_scan\n"
        "from ssl_toolkit.data import DataOptions, open_catalog\n"
        "from ssl_toolkit.data.bad_files import BadFiles\n"
        "tile_scan.PARALLEL_FROM = 1  # worker processes even for these few windows\n"
        "open_catalog(sys.argv[1], DataOptions(tile_size=16), BadFiles(), False)\n"
    )
    env = {**os.environ, "SSL_CACHE_DIR": str(tmp_path / "cache")}
    out = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "s")], env=env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode != 0 and 'if __name__ == "__main__":' in out.stderr.splitlines()[-1]
