"""Times and places of samples, and each sample's partner from another acquisition of its place (temporal
positives): parsed from tables and GeoTIFFs, split by place, drawn as a pure function of (seed, epoch, sample),
and read by the batch reader beside the batch."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from PIL import Image

from ssl_toolkit.data import DataOptions, load_data
from ssl_toolkit.data.loader import BatchReader
from ssl_toolkit.data.revisits import Revisits, date_in_name, parse_time, revisits_of
from ssl_toolkit.data.splits import TensorImages
from tests.data.geotiffs import multi_date_chips


def test_times_parse_from_iso_tiff_and_compact_dates_and_file_names() -> None:
    day = parse_time("2021-06-30")
    assert day == 18808.0  # days since 1970-01-01
    assert parse_time("2021:06:30 12:00:00") == day + 0.5
    assert parse_time("2021-06-30T12:00:00Z") == day + 0.5 == parse_time("2021-06-30T14:00:00+02:00")
    assert parse_time("20210630") == day
    with pytest.raises(ValueError, match="'June 30' is not a date"):
        parse_time("June 30")
    assert date_in_name("S2A_MSIL2A_20210630T103021_T32UNU.tif") == day
    assert date_in_name("scene_2021-06-30.tif") == day
    assert math.isnan(date_in_name("tile_123456789.tif")) and math.isnan(date_in_name("x_20211399.tif"))


def test_partners_are_other_dates_of_the_place_and_a_pure_function_of_seed_epoch_and_sample() -> None:
    places = torch.tensor([0, 0, 0, 1, 1, 2, 3, 3, -1])
    times = torch.tensor([1.0, 2.0, 3.0, 5.0, 5.0, 1.0, 1.0, 9.0, 4.0], dtype=torch.float64)
    revisits = Revisits(places, times)
    # samples 3 and 4 share a place but not a date, 5 is alone, 8 has no place: they pair with themselves
    assert revisits.pairs == 5 and revisits.places == 4
    everyone = torch.arange(9)
    seen = {i: set() for i in range(9)}
    for epoch in range(20):
        partners = revisits.partners(everyone, seed=1, epoch=epoch)
        for i, j in enumerate(partners.tolist()):
            seen[i].add(j)
        # a rank's shard draws what one process draws for those samples (no dependence on the batch)
        shard = torch.tensor([7, 2, 4])
        assert torch.equal(revisits.partners(shard, 1, epoch), partners[shard])
    assert seen[0] == {1, 2} and seen[1] == {0, 2} and seen[2] == {0, 1}
    assert seen[3] == {3} and seen[4] == {4} and seen[5] == {5} and seen[8] == {8}
    assert seen[6] == {7} and seen[7] == {6}
    assert torch.equal(revisits.partners(everyone, 1, 3), revisits.partners(everyone, 1, 3))
    assert not torch.equal(
        torch.stack([revisits.partners(everyone, 2, e) for e in range(8)]),
        torch.stack([revisits.partners(everyone, 1, e) for e in range(8)]),
    )


def test_data_without_times_or_without_a_second_date_says_so() -> None:
    split = TensorImages(torch.zeros(4, 1, 8, 8, dtype=torch.uint8), torch.zeros(4))
    with pytest.raises(ValueError, match="has no acquisition times"):
        revisits_of(split, "data 'x'")
    split.times = torch.tensor([1.0, 2.0, 3.0, 4.0], dtype=torch.float64)
    split.places = torch.tensor([0, 1, 2, 3])
    with pytest.raises(ValueError, match="no place in data 'x''s training samples was taken at two times"):
        revisits_of(split, "data 'x'")


def test_multi_date_geotiffs_give_times_places_a_split_by_place_and_partner_pixels(tmp_path: Path) -> None:
    root = multi_date_chips(tmp_path / "md", places=6, dates=3)
    data = load_data(str(root))
    assert "random split by place: 18 samples of 6 places" in data.split_note
    assert torch.isfinite(data.train.times).all()  # tags, and the date in the last file's name
    assert not set(data.train.places.tolist()) & set(data.test.places.tolist())
    train = data.train
    revisits = revisits_of(train, "md")
    assert revisits.pairs == len(train) == 12
    idx = torch.arange(len(train))
    reader = BatchReader(train, revisits=revisits, seed=3)
    ((images, meta),) = list(reader([idx], epoch=2))
    partners = revisits.partners(idx, 3, 2)
    assert torch.equal(meta["partner_images"], torch.stack([train[int(j)] for j in partners]))
    assert torch.equal(images, torch.stack([train[i] for i in range(len(train))]))
    assert (train.places[partners] == train.places).all() and (train.times[partners] != train.times).all()


def test_a_table_with_a_time_column_gives_places_by_coordinates_or_by_its_place_column(tmp_path: Path) -> None:
    for i in range(4):
        Image.new("RGB", (8, 8), (40 * i, 0, 0)).save(tmp_path / f"{i}.png")
    rows = ["path,lat,lon,time", "0.png,48,9,2021-06-01", "1.png,48,9,2021-07-01", "2.png,50,9,2021-06-01"]
    (tmp_path / "locations.csv").write_text("\n".join([*rows, "3.png,51,9,"]) + "\n")
    data = load_data(str(tmp_path), DataOptions(test_fraction=0.25))
    everything = torch.cat([data.train.places, data.test.places])
    assert len(torch.unique(everything)) == 3  # rows 0 and 1 share their coordinates
    (tmp_path / "locations.csv").write_text(
        "path,lat,lon,time,place\n0.png,48,9,2021-06-01,x\n1.png,48.1,9,2021-07-01,x\n2.png,50,9,2021-06-01,y\n"
        "3.png,51,9,not a date,z\n"
    )
    data = load_data(str(tmp_path), DataOptions(test_fraction=0.25, on_bad_file="skip"))
    assert len(data.train) + len(data.test) == 3 and "not a date" in data.skipped[0][1]
