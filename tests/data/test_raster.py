"""GeoTIFF datasets on tiny generated files: CRSs, windows, nodata, band selection, statistics, bad files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from ssl_toolkit.data import DataOptions, load_data
from ssl_toolkit.data.raster import TileReader, index_geotiffs, windows
from ssl_toolkit.errors import UserError
from tests.data import geotiffs


def test_chips_in_several_crss_are_located_at_their_centres(tmp_path: Path) -> None:
    written = geotiffs.good_chips(tmp_path)
    index = index_geotiffs([p for p, _, _ in written], ["x"] * len(written))
    assert not index.problems and index.bands == 4 and index.dtype == "uint16"
    assert len({t.crs for t in index.tiles}) == 4  # two UTM zones 32/33, zone 35, and EPSG:4326
    for tile, (path, lat, lon) in zip(index.tiles, written, strict=True):
        assert tile.path == str(path)
        assert abs(tile.lat - lat) < 1e-6 and abs(tile.lon - lon) < 1e-6


def test_a_scene_is_cut_into_windows_at_the_expected_positions(tmp_path: Path) -> None:
    path = tmp_path / "scene.tif"
    pixels = geotiffs.scene(path, width=100, height=70)
    index = index_geotiffs([path], [None], tile_size=32, stride=16)
    # (100 - 32) // 16 + 1 = 5 columns, (70 - 32) // 16 + 1 = 3 rows of full windows
    assert len(index.tiles) == 15
    assert [(t.col, t.row) for t in index.tiles] == [(c, r) for r in (0, 16, 32) for c in (0, 16, 32, 48, 64)]
    assert windows(100, 70, 32, 16) == [(t.col, t.row, 32, 32) for t in index.tiles]
    reader = TileReader(index.tiles, bands=[2, 1], fill=None)
    for j, t in enumerate(index.tiles):
        expected = pixels[[1, 0], t.row : t.row + 32, t.col : t.col + 32].astype(np.float32)
        assert np.array_equal(reader(j).numpy(), expected)
    # window (col 16, row 16): 16 px right and down of the origin, 32 px wide, 10 m pixels, UTM 32N
    tile = index.tiles[6]
    left, bottom, right, top = tile.bounds
    assert (left, top, right, bottom) == (500_160.0, 5_299_840.0, 500_480.0, 5_299_520.0)
    assert 47.8 < tile.lat < 47.9 and 9.0 < tile.lon < 9.01  # just east of the zone's central meridian, 9 E
    assert tile.name == f"{path}@16,16"


def test_nodata_is_left_out_of_the_statistics_and_filled_with_the_band_mean(tmp_path: Path) -> None:
    pixels = geotiffs.nodata_chip(tmp_path / "nodata.tif")
    geotiffs.chip_at(tmp_path / "full1.tif", 50.1, 10.1, "EPSG:32632", seed=8, nodata=geotiffs.NODATA)
    geotiffs.chip_at(tmp_path / "full2.tif", 50.2, 10.2, "EPSG:32632", seed=9, nodata=geotiffs.NODATA)
    data = load_data(str(tmp_path), DataOptions(test_fraction=0.34))
    assert data.pixel_scale == 65535.0 and data.in_chans == 4
    # statistics over the valid pixels of the training tiles only
    paths = data.train.paths
    valid = []
    for p in paths:
        import rasterio

        with rasterio.open(p) as src:
            band = src.read(masked=True)
        valid.append(band.reshape(4, -1))
    stacked = np.ma.concatenate(valid, axis=1)
    assert np.allclose(np.array(data.mean) * 65535, stacked.mean(axis=1), rtol=1e-9)
    assert np.allclose(np.array(data.std) * 65535, stacked.std(axis=1), rtol=1e-6)
    assert data.num_classes == 0  # a flat folder is unlabelled
    every = [(p, data.train[i]) for i, p in enumerate(paths)] + [
        (p, data.test[i]) for i, p in enumerate(data.test.paths)
    ]
    chip = next(x.numpy() for p, x in every if p.endswith("nodata.tif"))
    assert np.allclose(chip[:, :, :8], (np.array(data.mean) * 65535)[:, None, None], rtol=1e-6)
    assert np.array_equal(chip[:, :, 8:], pixels[:, :, 8:].astype(np.float32))


def test_band_selection_reads_the_chosen_bands_in_order(tmp_path: Path) -> None:
    geotiffs.good_chips(tmp_path)
    data = load_data(str(tmp_path), DataOptions(bands=[3, 1]))
    assert data.in_chans == 2 and len(data.mean) == 2
    with pytest.raises(UserError, match=r"data.bands: expected band numbers between 1 and 4, got \[5\]"):
        load_data(str(tmp_path), DataOptions(bands=[5]))


DEFECTS = {
    "corrupt.tif": (geotiffs.corrupt_chip, "truncated or corrupt"),
    "three_bands.tif": (geotiffs.three_band_chip, "has 3 band"),
}


@pytest.mark.parametrize("name", sorted(DEFECTS))
def test_a_bad_file_stops_with_its_name_or_is_skipped_and_reported(tmp_path: Path, name: str) -> None:
    geotiffs.good_chips(tmp_path)
    make, reason = DEFECTS[name]
    make(tmp_path / "field" / name)
    with pytest.raises(UserError, match=rf"{name}: .*{reason}.*on_bad_file=skip"):
        load_data(str(tmp_path))
    data = load_data(str(tmp_path), DataOptions(on_bad_file="skip"))
    assert len(data.train) + len(data.test) == len(geotiffs.CHIPS)
    assert len(data.skipped) == 1 and data.skipped[0][0].endswith(name) and reason in data.skipped[0][1]


def test_an_all_nodata_window_is_left_out_and_counted_not_a_bad_file(tmp_path: Path) -> None:
    """An orbit-edge wedge or a no-data corner is normal imagery: with the default data.on_bad_file=error the data
    opens, the empty window is counted apart from bad files (``data.min_valid_fraction``)."""
    geotiffs.good_chips(tmp_path)
    geotiffs.all_nodata_chip(tmp_path / "field" / "all_nodata.tif")
    data = load_data(str(tmp_path))
    assert len(data.train) + len(data.test) == len(geotiffs.CHIPS) and data.skipped == [] and data.empty_windows == 1
    strict = load_data(str(tmp_path), DataOptions(min_valid_fraction=0.0))  # a window with no valid pixel: always out
    assert strict.empty_windows == 1


def test_windows_below_the_valid_share_are_left_out(tmp_path: Path) -> None:
    data = geotiffs.scene(tmp_path / "s.tif", width=64, height=32).astype(np.int16)
    data[:, :, :56] = -9999  # the left 56 columns are nodata: window 0..31 empty, 32..63 a quarter valid
    geotiffs.write_tif(tmp_path / "s.tif", data, "EPSG:32632", geotiffs.from_origin(5e5, 5.3e6, 10, 10), nodata=-9999)
    geotiffs.write_tif(
        tmp_path / "t.tif",
        data[:, :, ::-1].copy(),
        "EPSG:32632",
        geotiffs.from_origin(6e5, 5.3e6, 10, 10),
        nodata=-9999,
    )
    opts = dict(tile_size=32, tile_stride=32, on_bad_file="error")
    assert load_data(str(tmp_path), DataOptions(**opts, min_valid_fraction=0.2)).empty_windows == 2
    with pytest.raises(UserError, match="no usable tiles .* 4 window"):
        load_data(str(tmp_path), DataOptions(**opts, min_valid_fraction=0.5))


def test_a_file_without_crs_is_bad_only_when_coordinates_are_needed(tmp_path: Path) -> None:
    geotiffs.good_chips(tmp_path)
    geotiffs.no_crs_chip(tmp_path / "field" / "no_crs.tif")
    data = load_data(str(tmp_path))  # rotation and friends do not need coordinates
    assert len(data.train) + len(data.test) == len(geotiffs.CHIPS) + 1
    with pytest.raises(UserError, match=r"no_crs.tif: has no CRS, so its tiles have no coordinates"):
        load_data(str(tmp_path), need_coords=True)
    data = load_data(str(tmp_path), DataOptions(on_bad_file="skip"), need_coords=True)
    assert not torch.isnan(data.train.coords).any() and len(data.skipped) == 1


def test_a_scene_folder_needs_a_tile_size_when_files_differ(tmp_path: Path) -> None:
    geotiffs.scene(tmp_path / "a.tif")
    geotiffs.scene(tmp_path / "b.tif", width=80, height=80)
    with pytest.raises(UserError, match=r"is 80x80 pixels, the others 100x70; set data.tile_size"):
        load_data(str(tmp_path))
    data = load_data(str(tmp_path), DataOptions(tile_size=32, tile_stride=32))
    assert len(data.train) + len(data.test) == 3 * 2 + 2 * 2  # 3x2 windows of a, 2x2 of b
    assert data.pixel_scale == 32767.0 and data.train[0].shape == (2, 32, 32)


def test_windows_of_one_scene_stay_on_one_side_of_a_geographic_split(tmp_path: Path) -> None:
    for i in range(6):  # six scenes far apart, each cut into overlapping windows
        geotiffs.chip_at(tmp_path / f"s{i}.tif", 40 + 3 * i, 2 + 4 * i, "EPSG:4326", size=48, seed=i)
    # EPSG:4326 at 10-"metre" pixels would span the globe: use a small pixel size for these degree scenes
    import rasterio

    for i in range(6):
        with rasterio.open(tmp_path / f"s{i}.tif", "r+") as dst:
            dst.transform = rasterio.transform.from_origin(2 + 4 * i, 40 + 3 * i, 0.001, 0.001)
    options = DataOptions(tile_size=16, tile_stride=8, split="geographic", regions=3, test_fraction=0.3)
    data = load_data(str(tmp_path), options)
    scenes = lambda split: {p.split("@")[0] for p in split.paths}  # noqa: E731
    assert scenes(data.train) and scenes(data.test) and not scenes(data.train) & scenes(data.test)


def test_a_crs_without_a_way_to_wgs84_gives_no_coordinates_not_a_crash(tmp_path: Path) -> None:
    geotiffs.good_chips(tmp_path)
    local = 'LOCAL_CS["local",UNIT["metre",1],AXIS["X",EAST],AXIS["Y",NORTH]]'
    geotiffs.write_tif(
        tmp_path / "field" / "local.tif", np.ones((4, 16, 16), np.uint16), local, geotiffs.from_origin(0, 160, 10, 10)
    )
    data = load_data(str(tmp_path))
    assert len(data.train) + len(data.test) == len(geotiffs.CHIPS) + 1
    with pytest.raises(UserError, match=r"local.tif: has a CRS .* that cannot be transformed to WGS84"):
        load_data(str(tmp_path), need_coords=True)
