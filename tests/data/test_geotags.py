"""Lat/lon tables and the real EuroSAT geotags."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ssl_toolkit.data import DataOptions, load_data
from ssl_toolkit.data.eurosat import find_root
from ssl_toolkit.errors import UserError


def table_folder(root: Path, rows: list[tuple[str, str, str, str]]) -> Path:
    """Images a.png, b.png, ... and a locations.csv with the given (path, lat, lon, label) rows."""
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for path, *_ in rows:
        if not path.startswith("missing"):
            Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)).save(root / path)
    with (root / "locations.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "lat", "lon", "label"])
        w.writerows(rows)
    return root


GOOD = [(f"{i}.png", str(40 + i), str(-3 + i), "sea" if i % 2 else "land") for i in range(10)]


def test_a_table_gives_coordinates_and_labels(tmp_path: Path) -> None:
    data = load_data(str(table_folder(tmp_path / "t", GOOD)), DataOptions(test_fraction=0.2))
    assert data.class_names == ("land", "sea") and len(data.train) == 8
    for split in (data.train, data.test):
        for path, (lat, lon), label in zip(split.paths, split.coords.tolist(), split.labels.tolist(), strict=True):
            i = int(Path(path).stem)
            assert (lat, lon) == (40 + i, -3 + i) and label == i % 2
    meta = data.train.batch_meta(torch.tensor([0, 1]))
    assert set(meta) == {"label", "lat", "lon"} and meta["lat"].dtype == torch.float32


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        (("bad.png", "95.5", "10", "sea"), "latitude 95.5 is outside"),
        (("missing.png", "45", "10", "sea"), "missing.png does not exist"),
        (("bad.png", "north", "10", "sea"), "are not numbers"),
    ],
)
def test_bad_table_rows_stop_with_the_line_or_are_skipped(tmp_path: Path, row: tuple, reason: str) -> None:
    root = table_folder(tmp_path / "t", [*GOOD, row])
    with pytest.raises(UserError, match=rf"locations.csv line 12: .*{reason}"):
        load_data(str(root))
    data = load_data(str(root), DataOptions(on_bad_file="skip"))
    assert len(data.train) + len(data.test) == 10 and len(data.skipped) == 1


def test_a_table_without_coordinate_columns_is_an_error(tmp_path: Path) -> None:
    root = tmp_path / "t"
    root.mkdir()
    (root / "locations.csv").write_text("path,label\na.png,sea\n")
    with pytest.raises(UserError, match=r"missing column\(s\) lat, lon; expected path,lat,lon\[,label,time,place\]"):
        load_data(str(root))


@pytest.fixture(scope="module")
def eurosat_ms():
    """The real 13-band GeoTIFFs, read once for the tests below."""
    return load_data("eurosat-ms", DataOptions(stats_tiles=8))


def test_eurosat_ms_geotiff_centres_match_the_rgb_table(eurosat_ms) -> None:
    """The 270 real GeoTIFFs (8 UTM zones): centre lat/lon within 1e-3 degrees of eurosat_rgb/locations.csv."""
    table = find_root("eurosat_rgb") / "locations.csv"
    with table.open() as f:
        expected = {Path(r["path"]).stem: (float(r["lat"]), float(r["lon"])) for r in csv.DictReader(f)}
    assert eurosat_ms.in_chans == 13 and eurosat_ms.img_size == 64 and eurosat_ms.num_classes == 10
    assert len(eurosat_ms.train) + len(eurosat_ms.test) == 270
    worst = 0.0
    for split in (eurosat_ms.train, eurosat_ms.test):
        for path, (lat, lon) in zip(split.paths, split.coords.tolist(), strict=True):
            want = expected[Path(path).stem]
            worst = max(worst, abs(lat - want[0]), abs(lon - want[1]))
    assert worst < 1e-3


def test_eurosat_ms_band_labels_follow_the_file_order_of_its_bands(eurosat_ms) -> None:
    """Each label's band has that band's physics on the real tiles: cirrus (B10) is near zero, water vapour (B09)
    is the darkest of the rest, and B8A sits close to B08 (narrow and broad near infrared)."""
    labels, mean = eurosat_ms.band_labels, eurosat_ms.mean
    assert labels == ["B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B09", "B10", "B11", "B12", "B8A"]
    by_name = dict(zip(labels, mean, strict=True))
    assert min(mean) == by_name["B10"] and by_name["B10"] < 0.1 * by_name["B09"]
    assert by_name["B09"] == min(m for name, m in by_name.items() if name != "B10")
    assert abs(by_name["B8A"] - by_name["B08"]) < 0.2 * by_name["B08"]


def test_a_table_given_by_path_lists_images_relative_to_it(tmp_path: Path) -> None:
    root = table_folder(tmp_path / "t", GOOD)
    (root / "locations.csv").rename(root / "my_tiles.csv")
    data = load_data(str(root / "my_tiles.csv"))
    assert len(data.train) + len(data.test) == 10 and data.train.coords is not None
    with pytest.raises(UserError, match=r"got another kind of file"):
        load_data(str(root / "0.png"))
