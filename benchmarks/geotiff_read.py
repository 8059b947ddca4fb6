"""GeoTIFF tiles per second: our loader against a plain rasterio loop and torchgeo's RasterDataset, in one run.

Two inputs: the 270 real EuroSAT-MS chips (13 bands, uint16, 64x64, eight UTM zones) and a generated scene
(13 bands, uint16, 2048x2048, 256x256 internal blocks) cut into 64x64 tiles. Three readers over the same files:

- plain rasterio: open each file, read it (chips), or read each 64x64 window of the open scene;
- ours: ``load_data`` (its one-time index, which opens and reads every tile once, is timed apart), then every tile
  of both splits through ``iterate`` in batches of 64, as training reads them;
- torchgeo: a ``RasterDataset`` over the folder with a ``GridGeoSampler`` of 64 pixels and a DataLoader of 64.

Rounds are interleaved and the median of three is reported. For each reader it also counts what it delivered:
tiles, distinct source files touched, and the share of pixels that are fill (all 13 bands exactly 0, torchgeo's
fill value where a reprojected chip does not cover the query box).

Needs torchgeo, so it runs in the benchmark environment (see README):

    python3 -m venv .venv-bench && .venv-bench/bin/pip install -e . torchgeo requests
    .venv-bench/bin/python benchmarks/geotiff_read.py
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import rasterio
import torch
from rasterio.transform import from_origin
from rasterio.windows import Window

from ssl_toolkit.data import DataOptions, iterate, load_data, sequential_order
from ssl_toolkit.data.eurosat import find_root
from ssl_toolkit.data.raster import find_geotiffs

TILE = 64


def write_scene(path: Path, size: int, bands: int = 13) -> None:
    rng = np.random.default_rng(0)
    profile = {
        "driver": "GTiff", "width": size, "height": size, "count": bands, "dtype": "uint16", "crs": "EPSG:32632",
        "transform": from_origin(500_000, 5_300_000, 10, 10), "tiled": True, "blockxsize": 256, "blockysize": 256,
    }  # fmt: skip
    with rasterio.open(path, "w", **profile) as dst:
        for row in range(0, size, 256):
            block = rng.integers(1, 10_000, size=(bands, 256, size), dtype=np.uint16)
            dst.write(block, window=Window(0, row, size, 256))


def plain_chips(files: list[Path]) -> Iterator[tuple[np.ndarray, list[str]]]:
    for f in files:
        with rasterio.open(f) as src:
            yield src.read()[None], [str(f)]


def plain_scene(path: Path) -> Iterator[tuple[np.ndarray, list[str]]]:
    with rasterio.open(path) as src:
        for row in range(0, src.height - TILE + 1, TILE):
            for col in range(0, src.width - TILE + 1, TILE):
                yield src.read(window=Window(col, row, TILE, TILE))[None], [str(path)]


def ours(data) -> Iterator[tuple[torch.Tensor, list[str]]]:
    for split in (data.train, data.test):
        order = sequential_order(len(split), 64)
        for idx, (images, _) in zip(order, iterate(split, order), strict=True):
            yield images, [split.paths[i].split("@")[0] for i in idx.tolist()]


def torchgeo_reader(root: Path):
    from torch.utils.data import DataLoader
    from torchgeo.datasets import RasterDataset, stack_samples
    from torchgeo.samplers import GridGeoSampler

    class Tiles(RasterDataset):
        filename_glob = "*.tif"
        is_image = True

    dataset = Tiles(paths=[str(root)])
    sampler = GridGeoSampler(dataset, size=TILE)
    index = dataset.index

    def read() -> Iterator[tuple[torch.Tensor, list[str]]]:
        loader = DataLoader(dataset, sampler=sampler, batch_size=64, collate_fn=stack_samples)
        for batch in loader:
            touched = []
            for x, y, _ in batch["bounds"]:  # the files under each query box
                touched += list(index.cx[x.start : x.stop, y.start : y.stop]["filepath"])
            yield batch["image"], touched

    return read, dataset.crs.to_string()


def account(batches) -> dict:
    """Tiles delivered, distinct source files touched, share of fill pixels (every band exactly 0)."""
    tiles = fill = pixels = 0
    files: set[str] = set()
    for images, touched in batches:
        images = torch.as_tensor(np.asarray(images, dtype=np.float32))
        tiles += len(images)
        fill += int((images == 0).all(dim=1).sum())
        pixels += images.shape[0] * images.shape[2] * images.shape[3]
        files |= set(touched)
    return {"tiles": tiles, "files": len(files), "fill": fill / pixels}


def measure(readers: dict, rounds: int) -> dict:
    """Median seconds of ``rounds`` interleaved timed passes (reading only), then one untimed accounting pass."""
    times: dict[str, list[float]] = {name: [] for name in readers}
    for _ in range(rounds):
        for name, read in readers.items():
            t0 = time.perf_counter()
            for _batch in read():
                pass
            times[name].append(time.perf_counter() - t0)
    return {name: {**account(read()), "seconds": statistics.median(times[name])} for name, read in readers.items()}


def report(title: str, results: dict, files: int) -> list[str]:
    plain = results["plain rasterio"]["tiles"] / results["plain rasterio"]["seconds"]
    theirs = results["torchgeo"]["tiles"] / results["torchgeo"]["seconds"]
    lines = [
        f"### {title} ({files} files)",
        "",
        "| reader | tiles/s | tiles delivered | source files touched | fill pixels | vs plain rasterio | vs torchgeo |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        rate = r["tiles"] / r["seconds"]
        lines.append(
            f"| {name} | {rate:,.0f} | {r['tiles']} | {r['files']} | {100 * r['fill']:.1f}% | {rate / plain:.2f}x |"
            f" {rate / theirs:.2f}x |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--scene-size", type=int, default=2048)
    args = parser.parse_args()
    torch.set_num_threads(1)  # every reader is single-threaded; fair and steady on a shared machine
    lines = []

    chips = find_root("eurosat_ms")
    files = find_geotiffs(chips)
    t0 = time.perf_counter()
    data = load_data(str(chips))
    index_s = time.perf_counter() - t0
    tg_read, crs = torchgeo_reader(chips)
    results = measure(
        {"plain rasterio": lambda: plain_chips(files), "ours": lambda: ours(data), "torchgeo": tg_read}, args.rounds
    )
    lines += report("EuroSAT-MS chips", results, len(files))
    lines += ["", f"Our one-time index (open and read every chip once): {index_s:.2f} s. torchgeo's CRS: {crs}.", ""]

    with tempfile.TemporaryDirectory() as tmp:
        scene = Path(tmp) / "scene.tif"
        write_scene(scene, args.scene_size)
        t0 = time.perf_counter()
        data = load_data(tmp, DataOptions(tile_size=TILE))
        index_s = time.perf_counter() - t0
        tg_read, _ = torchgeo_reader(Path(tmp))
        results = measure(
            {"plain rasterio": lambda: plain_scene(scene), "ours": lambda: ours(data), "torchgeo": tg_read}, args.rounds
        )
        size = args.scene_size
        lines += report(f"generated scene, 13 x {size} x {size} uint16, 64 px tiles", results, 1)
        lines += ["", f"Our one-time index (every window read once): {index_s:.2f} s.", ""]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
