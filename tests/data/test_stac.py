"""STAC catalogs whose band assets are COGs served over HTTP by a real server on 127.0.0.1: windowed reads fetch
a small part of a file, overviews read coarser levels, assets of two resolutions are resampled to the finest, the
catalog trains `moco+geolocation` end to end and is indexed and mapped, and every bad input is one line."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import numpy as np
import pytest
from rasterio.transform import from_origin

from ssl_toolkit.data import DataOptions, load_data
from ssl_toolkit.data.raster import Tile, TileReader
from ssl_toolkit.data.remote import redacted
from tests.data.http_server import FileServer
from tests.data.stac_items import CRS, edit_item, stac_scenes, write_cog


@pytest.fixture
def served(tmp_path: Path):
    with FileServer(tmp_path) as server:
        yield tmp_path, server


def test_a_windowed_read_of_a_cog_over_http_fetches_far_fewer_bytes_than_the_file(served) -> None:
    root, server = served
    data = np.random.default_rng(0).integers(0, 60000, size=(1, 1024, 1024)).astype(np.uint16)  # incompressible
    write_cog(root / "big.tif", data, CRS, from_origin(500_000, 5_300_000, 10, 10))
    size = (root / "big.tif").stat().st_size
    url = server.url("big.tif")
    tile = Tile(url, 300, 600, 64, 64, CRS, (0, 0, 1, 1), 0.0, 0.0, None, 1, whole=False)
    reader = TileReader([tile], bands=None, fill=None)
    values = reader(0).numpy()
    reader.close()
    assert np.array_equal(values, data[:, 600:664, 300:364])
    assert 0 < server.sent["big.tif"] < size / 10, (server.sent["big.tif"], size)  # the header and one 256 px block
    assert server.requests["big.tif"] >= 2  # ranges, not one whole-file GET


def test_an_overview_level_is_read_instead_of_full_resolution(served) -> None:
    root, server = served
    rows, cols = np.mgrid[0:512, 0:512]
    write_cog(root / "grad.tif", (rows * 100).astype(np.uint16)[None], CRS, from_origin(500_000, 5_300_000, 10, 10))
    tile = Tile(server.url("grad.tif"), 0, 0, 32, 32, CRS, (0, 0, 1, 1), 0.0, 0.0, None, 1, whole=False)
    full, coarse = (TileReader([tile], None, None, overview=o)(0).numpy() for o in (0, 1))
    assert full[0, :, 0].max() < 3200 <= coarse[0, :, 0].max()  # 32 rows of the overview span 64 of the full grid
    with pytest.raises(Exception, match="overview level"):
        TileReader([tile], None, None, overview=9)(0)


def test_a_stac_catalog_over_http_opens_with_resampled_assets_dates_places_and_labels(served) -> None:
    root, server = served
    catalog = stac_scenes(root, server.url("").rstrip("/"), places=4, dates=2)
    data = load_data(str(catalog), DataOptions(tile_size=32, label_property="landcover"))
    assert data.in_chans == 4 and data.img_size == 32 and data.band_names == ("B02", "B03", "B04", "B11")
    assert data.stats_note["resampled_to_finest"] == ["B11 (20 -> 10)"] and data.stats_note["items"] == 8
    assert len(data.train) + len(data.test) == 4 * 2 * 4  # places x dates x windows
    assert data.class_names == ("field", "forest")
    assert data.split_note.startswith("random split by place")  # the dates of a place on one side
    assert data.train[0].shape == (4, 32, 32)
    picked = load_data(str(catalog), DataOptions(tile_size=32, assets=["red", "B03", "blue"]))
    assert picked.band_names == ("B04", "B03", "B02") and picked.in_chans == 3


def test_tiles_stack_the_assets_and_resample_the_coarse_one_to_the_finest_grid(tmp_path: Path) -> None:
    from ssl_toolkit.data import open_catalog
    from ssl_toolkit.data.bad_files import BadFiles

    catalog = stac_scenes(tmp_path, None, places=1, dates=1, kind="items")
    cat = open_catalog(str(catalog), DataOptions(tile_size=32, assets=["B04", "B11"]), BadFiles(), False)
    x = cat.samples[0].numpy()  # the top-left window
    import rasterio

    with rasterio.open(tmp_path / "cogs" / "place0_2021-06-05_B04.tif") as src:
        assert np.array_equal(x[0], src.read(1)[:32, :32])
    with rasterio.open(tmp_path / "cogs" / "place0_2021-06-05_B11.tif") as src:
        coarse = src.read(1)[:16, :16].astype(float)
    assert x.shape == (2, 32, 32)
    assert abs(x[1].astype(float).mean() - coarse.mean()) < 0.02 * coarse.mean()  # the same area, upsampled


def test_moco_plus_geolocation_trains_on_a_stac_catalog_served_over_http_and_is_indexed_and_mapped(ssl, served) -> None:
    root, server = served
    catalog = stac_scenes(root, server.url("").rstrip("/") + "/", places=4, dates=2)
    for f in (root / "items").glob("*.json"):  # a signed-URL token on every asset: never written anywhere
        d = json.loads(f.read_text())
        for a in d["assets"].values():
            a["href"] = a["href"].replace("//cogs", "/cogs") + "?sig=SECRET123"
        f.write_text(json.dumps(d))
    run = root / "run"
    keys = ["data.assets=[B04,B03,B02]", "data.tile_size=32", "data.label_property=landcover"]
    small = [
        "task.moco.proj_hidden=32",
        "task.moco.proj_dim=16",
        "task.moco.queue_size=16",
        "task.geolocation.clusters=2",
    ]
    code, out, err = ssl(
        "pretrain", "--task", "moco+geolocation", "--data", catalog, "--backbone", "mnist_net", "--out", run,
        "--max-steps", 2, "train.batch_size=4", *keys, *small,
    )  # fmt: skip
    assert code == 0, err
    steps = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert any(r.get("kind") == "step" and np.isfinite(r["loss"]) for r in steps)
    code, out, err = ssl("data", "index", catalog, "--out", root / "index.csv", *keys)
    assert code == 0, err
    assert "32 tiles" in out and "bad files: 0" in out and "16 of 16 places taken on two or more dates" in out
    rows = list(csv.DictReader((root / "index.csv").open()))
    assert rows[0]["path"].startswith(f"{catalog}#place0_2021-06-05") and rows[0]["assets"] == "B04,B03,B02"
    code, out, err = ssl("data", "map", root / "index.csv", "--color", "label", "--out", root / "map.png")
    assert code == 0 and (root / "map.png").stat().st_size > 0, err
    cache = Path(os.environ["SSL_CACHE_DIR"])
    written = [p for p in [*run.rglob("*"), root / "index.csv", *cache.rglob("*")] if p.is_file()]
    assert not [p for p in written if b"SECRET123" in p.read_bytes()]  # nor in the kept tile index
    for f in (root / "items").glob("*.json"):  # the token rotates: the kept index is reused, read with the new one
        f.write_text(f.read_text().replace("SECRET123", "SECRET456"))
    before = server.requests.copy()
    code, out, err = ssl("data", "index", catalog, "--out", root / "index2.csv", *keys)
    assert code == 0 and "32 tiles" in out, err
    assert sum(server.requests.values()) == sum(before.values())  # no asset opened: the index came from the cache


def test_redacted_drops_tokens_and_passwords_from_urls() -> None:
    assert redacted("https://user:pw@host:8080/a/b.tif?sig=x&se=y#frag") == "https://host:8080/a/b.tif"
    assert redacted("s3://bucket/key.tif") == "s3://bucket/key.tif"
    assert redacted("/local/path?.tif") == "/local/path?.tif"


def _catalog(root: Path, server: FileServer) -> Path:
    return stac_scenes(root, server.url("").rstrip("/"), places=2, dates=1)


def _href(asset: str, href):
    return lambda d: d["assets"][asset].update(href=href(d["assets"][asset]["href"]))


BAD_ITEMS = [  # (case, change to one item, what the one line says)
    ("unreachable", _href("B04", lambda h: "http://127.0.0.1:9/none.tif"), "B04 (http://127.0.0.1:9/none.tif) cannot"),
    ("missing", _href("B04", lambda h: h.replace("B04", "B99")), "asset B04 (http://127.0.0.1:"),
    ("no geometry", lambda d: d.update(geometry=None, bbox=None), "has no geometry"),
    ("bad datetime", lambda d: d["properties"].update(datetime="June the 5th"), "time 'June the 5th' is not a date"),
    ("no asset", lambda d: d["assets"].pop("B03"), "no asset matches data.assets entry 'B03'"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "change", "message"), BAD_ITEMS, ids=[c[0] for c in BAD_ITEMS])
def test_a_bad_item_is_one_line_naming_it_or_a_counted_skip(ssl, served, case, change, message) -> None:
    root, server = served
    catalog = _catalog(root, server)
    edit_item(catalog, "place0_2021-06-05", change)
    keys = ["data.assets=[B04,B03,B02]", "data.tile_size=32"]
    code, out, err = ssl("data", "index", catalog, "--out", root / "i.csv", *keys)
    assert code == 0 and "bad files: 1" in out and message in out, out  # the index lists it
    code, out, err = ssl("pretrain", "--task", "rotation", "--data", catalog, "--max-steps", 1, *keys)
    assert code != 0 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert f"{catalog}#place0_2021-06-05: " in err and message in err, err
    skip = ["data.on_bad_file=skip", "train.batch_size=4", "--backbone", "mnist_net", "--out", root / f"run-{case}"]
    code, out, err = ssl("pretrain", "--task", "rotation", "--data", catalog, "--max-steps", 1, *keys, *skip)
    assert code == 0 and "skipped 1 bad file(s)" in out + err, out + err


def test_mixed_crss_within_an_item_and_a_catalog_without_matching_assets_are_one_line(ssl, served) -> None:
    root, server = served
    catalog = _catalog(root, server)
    other = root / "cogs" / "elsewhere.tif"
    write_cog(other, np.ones((1, 64, 64), dtype=np.uint16), "EPSG:32633", from_origin(500_000, 5_300_000, 10, 10))
    edit_item(catalog, "place1_2021-06-05", lambda d: d["assets"]["B03"].update(href=server.url("cogs/elsewhere.tif")))
    code, _, err = ssl("pretrain", "--task", "rotation", "--data", catalog, "--max-steps", 1, "data.tile_size=32")
    assert code != 0 and "place1_2021-06-05: assets B02 (EPSG:32632) and B03 (EPSG:32633) are in different CRSs" in err
    code, _, err = ssl(
        "pretrain", "--task", "rotation", "--data", catalog, "data.assets=[B08]", "data.on_bad_file=skip"
    )
    assert code != 0 and len(err.strip().splitlines()) == 1
    assert "no usable items" in err and "no asset matches data.assets entry 'B08'" in err, err
    code, _, err = ssl("pretrain", "--task", "rotation", "--data", catalog, "data.bands=[1]")
    assert code != 0 and "pick STAC bands with data.assets" in err
    code, _, err = ssl("pretrain", "--task", "rotation", "data.assets=[B04]")
    assert code != 0 and "data.assets=['B04'] applies to STAC data" in err


def test_a_file_that_is_not_stac_json_is_one_line(ssl, tmp_path: Path) -> None:
    broken = tmp_path / "catalog.json"
    broken.write_text("{not json")
    code, _, err = ssl("pretrain", "--task", "rotation", "--data", broken)
    assert code != 0 and f"{broken}: cannot read the STAC file" in err and len(err.strip().splitlines()) == 1


def test_items_of_one_place_on_two_dates_are_temporal_positives(ssl, served) -> None:
    root, server = served
    catalog = stac_scenes(root, server.url("").rstrip("/"), places=4, dates=2)
    small = ["task.proj_hidden=32", "task.proj_dim=16", "task.queue_size=16", "task.geo_clusters=2"]
    code, out, err = ssl(
        "pretrain", "--task", "gassl", "--data", catalog, "--backbone", "mnist_net", "--out", root / "run",
        "--max-steps", 2, "train.batch_size=4", "data.tile_size=32", "task.temporal_positives=true", *small,
    )  # fmt: skip
    assert code == 0, err
    assert "temporal positives: 24 of 24 training samples have another acquisition of their place" in out
