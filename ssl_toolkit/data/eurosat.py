"""EuroSAT RGB (Helber et al. 2019): 27,000 Sentinel-2 tiles, 64x64 RGB, 10 land-cover classes, geotagged.

Found as ``eurosat_rgb/`` under ``$SSL_DATA_ROOT``, or under ``../shared/data`` (from the working directory or
the repository) in development; ``--data PATH/eurosat_rgb`` works too. ``locations.csv`` (path,label,lat,lon)
lists the tiles. All tiles are decoded into memory (330 MB uint8) with a thread pool, and the decoded array is
cached under ``$SSL_CACHE_DIR`` (default ``~/.cache/ssl-toolkit``) keyed by the table's path, size and mtime,
so later runs load it in a second. The train/test split
is stratified by class, 80/20, with a fixed seed, so every run and probe uses the same split.
"""

from __future__ import annotations

import csv
import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from sklearn.model_selection import train_test_split

from ssl_toolkit.cache import cache_dir, load_array, save_array
from ssl_toolkit.data.splits import DataSource, TensorImages
from ssl_toolkit.errors import UserError

FOLDER = "eurosat_rgb"
SPLIT_SEED = 0


def find_root(folder: str = FOLDER) -> Path:
    """The dataset folder: $SSL_DATA_ROOT/<folder>, else ../shared/data/<folder> near the cwd or the repo."""
    candidates = []
    if os.environ.get("SSL_DATA_ROOT"):
        candidates.append(Path(os.environ["SSL_DATA_ROOT"]) / folder)
    candidates += [
        Path.cwd().parent / "shared" / "data" / folder,
        Path(__file__).resolve().parents[3] / "shared" / "data" / folder,
    ]
    for c in candidates:
        if c.is_dir():
            return c
    raise UserError(
        f"dataset folder {folder}/ not found (looked in {', '.join(map(str, candidates))}); "
        "set SSL_DATA_ROOT to the folder that holds it, or pass its path with --data"
    )


def read_locations(csv_path: Path) -> list[dict[str, str]]:
    if not csv_path.is_file():
        raise UserError(f"{csv_path} does not exist (EuroSAT RGB needs its path,label,lat,lon table)")
    with csv_path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    missing = {"path", "label"} - set(rows[0] if rows else {})
    if missing:
        raise UserError(f"{csv_path}: missing column(s) {', '.join(sorted(missing))}; expected path,label,lat,lon")
    return rows


def _decode(path: Path) -> np.ndarray:
    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"), dtype=np.uint8)
    except (OSError, ValueError) as e:
        raise UserError(f"{path}: cannot decode image ({e})") from None


def _decoded_tiles(root: Path, rows: list[dict[str, str]]) -> np.ndarray:
    """(N, H, W, 3) uint8 of the tiles in table order, from the cache when it is current."""
    table = (root / "locations.csv").resolve()
    st = table.stat()
    key = hashlib.sha256(f"{table}|{st.st_size}|{st.st_mtime_ns}|{len(rows)}".encode()).hexdigest()[:16]
    cache = cache_dir() / f"eurosat_rgb-{key}.npy"
    cached = load_array(cache)
    if cached is not None:
        return cached
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        arrays = list(pool.map(_decode, (root / r["path"] for r in rows)))
    shapes = {a.shape for a in arrays}
    if len(shapes) != 1:
        raise UserError(f"{root}: tiles differ in size {sorted(shapes)[:3]}; EuroSAT tiles are 64x64")
    stacked = np.stack(arrays)
    save_array(cache, stacked)
    return stacked


def channel_stats(images: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Exact per-channel mean and std in [0, 1] of uint8 (N, C, H, W) images, from 256-bin histograms."""
    values = torch.arange(256, dtype=torch.float64) / 255
    means, stds = [], []
    for c in range(images.shape[1]):
        hist = torch.bincount(images[:, c].reshape(-1), minlength=256).double()
        p = hist / hist.sum()
        m = float((p * values).sum())
        means.append(m)
        stds.append(float(((p * (values - m) ** 2).sum()).sqrt()))
    return tuple(means), tuple(stds)


def load_eurosat_rgb(root: Path | None = None) -> DataSource:
    root = root or find_root()
    rows = read_locations(root / "locations.csv")
    classes = sorted({r["label"] for r in rows})
    labels = np.array([classes.index(r["label"]) for r in rows])
    images = torch.from_numpy(_decoded_tiles(root, rows)).permute(0, 3, 1, 2).contiguous()
    train_idx, test_idx = train_test_split(
        np.arange(len(rows)), test_size=0.2, random_state=SPLIT_SEED, stratify=labels
    )
    lab = torch.from_numpy(labels)
    train = TensorImages(images[train_idx], lab[train_idx])
    mean, std = channel_stats(train.images)
    return DataSource(
        name="eurosat-rgb",
        train=train,
        test=TensorImages(images[test_idx], lab[test_idx]),
        mean=mean,
        std=std,
        in_chans=3,
        img_size=images.shape[-1],
        num_classes=len(classes),
        class_names=tuple(classes),
    )
