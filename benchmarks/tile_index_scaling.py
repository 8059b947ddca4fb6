"""The tile index at 10^4, 10^5 and 10^6 windows: build time, peak memory, and read time per tile, in one run.

Generated scenes: 1-band uint8 GeoTIFFs of 1,600 x 1,600 px (UTM 32N, 10 m), cut into 16 px windows (10,000 per
scene), so the three sizes are 1, 10 and 100 scenes (2.6 MB each). Each size is measured in a fresh process:

- build: ``open_catalog`` of the folder with ``data.tile_size=16`` (every file opened, every window read once by
  the bad-file scan), wall time and the process's peak resident memory above what it held after its imports;
- again, with the index already built (the on-disk index reused when the data has not changed);
- read: 20,000 tiles in a random order through the catalog's samples, microseconds per tile;
- epoch: the first 80 batches of 256 of a training epoch's shuffled order (20,480 tiles) through the training
  loader (``BatchReader``: one DataLoader worker, batches stacked, meta gathered), microseconds per tile: the
  data side of an epoch (the model's side does not depend on how many tiles there are).

    python benchmarks/tile_index_scaling.py [--sizes 10000 100000 1000000] [--root runs/tile-index-scenes]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

SCENE = 1_600
TILE = 16
PER_SCENE = (SCENE // TILE) ** 2


def write_scenes(root: Path, count: int) -> Path:
    """``count`` scenes under ``root/<count>/`` (kept between runs)."""
    import numpy as np
    import rasterio
    from rasterio.transform import from_origin

    folder = root / str(count)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        path = folder / f"scene{i:04d}.tif"
        if path.exists():
            continue
        data = np.random.default_rng(i).integers(1, 255, size=(1, SCENE, SCENE), dtype=np.uint8)
        origin = from_origin(400_000 + 16_000 * (i % 10), 5_400_000 - 16_000 * (i // 10), 10, 10)
        profile = {"driver": "GTiff", "width": SCENE, "height": SCENE, "count": 1, "dtype": "uint8"}
        profile.update(crs="EPSG:32632", transform=origin, tiled=True, blockxsize=256, blockysize=256)
        with rasterio.open(path, "w", **profile) as dst:
            dst.write(data)
    return folder


CHILD = r"""
import json, resource, sys, time
import numpy as np
import torch
from ssl_toolkit.data import DataOptions, open_catalog
from ssl_toolkit.data.bad_files import BadFiles

def rss_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024

def peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

folder = sys.argv[1]
base = rss_mb()
t0 = time.perf_counter()
catalog = open_catalog(folder, DataOptions(tile_size=16, max_tiles=None), BadFiles(), False)
build_s = time.perf_counter() - t0
n = len(catalog.samples)
peak = peak_mb()
order = np.random.default_rng(0).permutation(n)[:20_000]
t0 = time.perf_counter()
for j in order:
    catalog.samples[int(j)]
read_us = (time.perf_counter() - t0) / len(order) * 1e6
from ssl_toolkit.data.loader import BatchReader, epoch_order
batches = epoch_order(n, 256, seed=0, epoch=0)[:80]
reader = BatchReader(catalog.samples, num_workers=1)
next(iter(reader(batches[:1])))  # the worker started and its files opened before the clock
t0 = time.perf_counter()
tiles = sum(len(images) for images, _ in reader(batches))
epoch_us = (time.perf_counter() - t0) / tiles * 1e6
print(json.dumps({"tiles": n, "build_s": build_s, "base_mb": base, "peak_mb": peak, "read_us": read_us,
                  "epoch_us": epoch_us}))
"""


def measure(folder: Path, cache: Path) -> dict:
    env = {**os.environ, "SSL_CACHE_DIR": str(cache), "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", CHILD, str(folder)], env=env, capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(out.stderr)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--root", type=Path, default=Path("runs/tile-index-scenes"))
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as cache:
        for size in args.sizes:
            folder = write_scenes(args.root, max(1, size // PER_SCENE))
            first = measure(folder, Path(cache))
            again = measure(folder, Path(cache))
            rows.append((first, again))
            print(json.dumps({"first": first, "again": again}), flush=True)
    print()
    print(
        "| windows | build s | peak MB above imports | peak MB in all | again: build s | again: peak MB above "
        "imports | read us/tile | epoch us/tile |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for first, again in rows:
        print(
            f"| {first['tiles']:,} | {first['build_s']:.1f} | {first['peak_mb'] - first['base_mb']:.0f} | "
            f"{first['peak_mb']:.0f} | {again['build_s']:.1f} | {again['peak_mb'] - again['base_mb']:.0f} | "
            f"{again['read_us']:.0f} | {again['epoch_us']:.0f} |"
        )
    low, high = rows[0][0]["peak_mb"], rows[-1][0]["peak_mb"]
    print(f"\npeak memory, largest size against smallest: {high / low:.3f}x (flat within 10%: {high / low <= 1.1})")
    low, high = rows[0][1]["epoch_us"], rows[-1][1]["epoch_us"]
    print(f"epoch time per tile, largest size against smallest: {high / low:.2f}x")


if __name__ == "__main__":
    main()
