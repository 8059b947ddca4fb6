"""`ssl data index|map`, and geotagged data end to end through `ssl pretrain` and `ssl probe`."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from safetensors.torch import load_file

from tests.data import geotiffs


def chips_with_a_corrupt_one(root: Path) -> Path:
    geotiffs.good_chips(root)
    for i in range(6):  # more chips so the tiny runs have a few batches
        geotiffs.chip_at(root / "field" / f"extra{i}.tif", 45.0 + i, 5.0 + i, "EPSG:32631", seed=20 + i)
    geotiffs.corrupt_chip(root / "forest" / "corrupt.tif")
    return root


def test_data_index_shows_dates_and_the_places_taken_on_several(ssl, tmp_path: Path) -> None:
    root = geotiffs.multi_date_chips(tmp_path / "md", places=4, dates=3)
    code, out, err = ssl("data", "index", root, "--out", tmp_path / "index.csv")
    assert code == 0, err
    assert "dates: 12 dated tiles, 2021-06-05 to 2021-08-05; 4 of 4 places taken on two or more dates" in out
    rows = list(csv.DictReader((tmp_path / "index.csv").open()))
    assert {r["time"][:10] for r in rows} == {"2021-06-05", "2021-07-05", "2021-08-05"}
    assert len({r["place"] for r in rows}) == 4


def test_data_index_lists_tiles_and_bad_files(ssl, tmp_path: Path) -> None:
    root = chips_with_a_corrupt_one(tmp_path / "chips")
    code, out, err = ssl("data", "index", root, "--out", tmp_path / "index.csv")
    assert code == 0, err
    assert "12 tiles" in out and "bands: 4" in out and "CRSs: 5" in out and "bad files: 1" in out
    assert "corrupt.tif: cannot read the file, truncated or corrupt?" in out
    rows = list(csv.DictReader((tmp_path / "index.csv").open()))
    assert len(rows) == 12 and set(rows[0]) >= {"path", "col", "row", "crs", "left", "lat", "lon", "label", "bands"}
    code, out, err = ssl("data", "map", tmp_path / "index.csv", "--clusters", "3", "--out", tmp_path / "map.png")
    assert code == 0, err
    assert (tmp_path / "map.png").read_bytes()[:4] == b"\x89PNG"
    code, out, err = ssl("data", "map", root, "--color", "label", "--out", tmp_path / "labels.png")
    assert code == 0 and "coloured by label" in out
    # overrides may follow the options: the geographic split's held-out regions
    args = ["--color", "split", "--out", tmp_path / "split.png", "data.split=geographic", "data.regions=3"]
    code, out, err = ssl("data", "map", root, *args, "data.on_bad_file=skip")
    assert code == 0, err
    assert "map of 12 tiles coloured by split" in out and (tmp_path / "split.png").is_file()
    code, out, err = ssl("data", "map", root, "--colour", "split")
    assert code == 2 and "unrecognized arguments: --colour split" in err


def test_geolocation_needs_coordinates(ssl, tmp_path: Path) -> None:
    code, _, err = ssl("pretrain", "--task", "geolocation", "--out", tmp_path / "run")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "data 'mnist' has no coordinates" in err
    assert not (tmp_path / "run").exists()


def test_geotiff_pretrain_skips_bad_files_resumes_exactly_and_probes_with_the_run_statistics(
    ssl, tmp_path: Path
) -> None:
    root = chips_with_a_corrupt_one(tmp_path / "chips")
    common = ["--task", "rotation+geolocation", "--data", root, "--backbone", "resnet18", "--batch-size", "4"]
    settings = ["task.geolocation.clusters=3", "data.on_bad_file=skip", "data.test_fraction=0.25", "optim.lr=0.1"]
    code, out, err = ssl("pretrain", *common, "--out", tmp_path / "full", *settings)
    assert code == 0, err
    assert "skipped 1 bad file(s), first" in out and "corrupt.tif" in out
    full = tmp_path / "full"
    assert (full / "skipped_files.csv").read_text().count("\n") == 2
    norm = json.loads((full / "normalization.json").read_text())
    assert len(norm["mean"]) == 4 and norm["dtype"] == "uint16" and norm["pixel_scale"] == 65535.0
    assert (full / "geolocation" / "assignments.csv").read_text().count("\n") == 1 + 9
    # stopped after one step and resumed: the same weights as the uninterrupted run
    part = tmp_path / "part"
    assert ssl("pretrain", *common, "--out", part, "--max-steps", "1", *settings)[0] == 0
    assert ssl("pretrain", *common, "--out", part, "--resume", *settings)[0] == 0
    a, b = load_file(full / "backbone.safetensors"), load_file(part / "backbone.safetensors")
    assert a.keys() == b.keys() and all((a[k] == b[k]).all() for k in a)
    code, out, err = ssl("probe", "--run", full, "--out", tmp_path / "probe", "probe.epochs=2")
    assert code == 0, err
    record = json.loads((tmp_path / "probe" / "probe.json").read_text())
    assert record["normalization"] == "the run's normalization.json" and record["test_size"] == 3
    # other bands are other channels: the run's statistics do not apply to them
    code, out, err = ssl("probe", "--run", full, "--out", tmp_path / "probe2", "probe.epochs=1", "data.bands=[4,3,2,1]")
    assert code == 0, err
    assert json.loads((tmp_path / "probe2" / "probe.json").read_text())["normalization"].startswith("computed")


def test_eurosat_ms_thirteen_band_smoke(ssl, tmp_path: Path) -> None:
    run = tmp_path / "ms"
    code, out, err = ssl(
        "pretrain", "--task", "rotation", "--data", "eurosat-ms", "--backbone", "resnet18", "--max-steps", "2",
        "--batch-size", "8", "--out", run, "data.stats_tiles=16",
    )  # fmt: skip
    assert code == 0, err
    assert load_file(run / "backbone.safetensors")["conv1.weight"].shape[1] == 13
    code, out, err = ssl("probe", "--run", run, "--out", tmp_path / "probe", "probe.epochs=1")
    assert code == 0, err
    assert json.loads((tmp_path / "probe" / "probe.json").read_text())["test_size"] == 54
