"""EuroSAT (Helber et al. 2019): Sentinel-2 tiles of 10 land-cover classes, 64x64 pixels, geotagged.

``eurosat-rgb``: 27,000 RGB JPEG tiles; ``locations.csv`` (path,label,lat,lon) lists them with the WGS84
centre of each tile. ``eurosat-ms``: the 13-band GeoTIFFs (a GeoTIFF folder, see ``geotiff_folder``).
Found as ``eurosat_rgb/`` or ``eurosat_ms/`` under ``$SSL_DATA_ROOT``, or under ``../shared/data`` (from the
working directory or the repository) in development; ``--data PATH`` works too. The RGB tiles are decoded
into memory (330 MB uint8) with a thread pool, and the decoded array is cached under ``$SSL_CACHE_DIR``
(default ``~/.cache/ssl-toolkit``) keyed by the table's path, size, mtime and rows, so later runs load it in a
second.
"""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ssl_toolkit.cache import cache_dir, load_array, save_array
from ssl_toolkit.data.bad_files import BadFiles
from ssl_toolkit.data.geotags import TABLE_NAME, Geotag, read_table
from ssl_toolkit.data.splits import Catalog, TensorImages
from ssl_toolkit.errors import UserError

FOLDER = "eurosat_rgb"


def find_root(folder: str = FOLDER) -> Path:
    """The dataset folder: $SSL_DATA_ROOT/<folder> when the variable is set, else ../shared/data/<folder> near the
    cwd or the repo."""
    if os.environ.get("SSL_DATA_ROOT"):  # set by the user: used, or an error; never a silent fallback
        root = Path(os.environ["SSL_DATA_ROOT"]).expanduser()
        if not (root / folder).is_dir():
            raise UserError(f"SSL_DATA_ROOT={root} holds no {folder}/ folder; point it at the folder that holds it")
        return root / folder
    candidates = [
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


def _decode(path: Path) -> np.ndarray | str:
    """(H, W, 3) uint8 pixels, or the reason they cannot be read."""
    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"), dtype=np.uint8)
    except (OSError, ValueError) as e:
        return f"cannot decode image ({e})"


def _decoded_tiles(root: Path, tags: list[Geotag], bad: BadFiles) -> tuple[np.ndarray, list[Geotag]]:
    """(N, H, W, 3) uint8 of the readable tiles in table order, and their rows; from the cache when current."""
    table = (root / TABLE_NAME).resolve()
    st = table.stat()
    rows = hashlib.sha256("\n".join(str(t.path) for t in tags).encode()).hexdigest()
    key = hashlib.sha256(f"{table}|{st.st_size}|{st.st_mtime_ns}|{rows}".encode()).hexdigest()[:16]
    cache = cache_dir() / f"eurosat_rgb-{key}.npy"
    cached = load_array(cache)
    if cached is not None:
        return cached, tags
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        decoded = list(pool.map(_decode, (t.path for t in tags)))
    kept = []
    for tag, result in zip(tags, decoded, strict=True):
        if isinstance(result, str):
            bad.report(tag.path, result)
        else:
            kept.append((tag, result))
    shapes = {a.shape for _, a in kept}
    if len(shapes) != 1:
        raise UserError(f"{root}: tiles differ in size {sorted(shapes)[:3]}; EuroSAT tiles are 64x64")
    stacked = np.stack([a for _, a in kept])
    if len(kept) == len(tags):  # cache only a complete decode, so skipped tiles are reported every time
        save_array(cache, stacked)
    return stacked, [t for t, _ in kept]


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


def eurosat_rgb_catalog(bad: BadFiles, root: Path | None = None) -> Catalog:
    root = root or find_root()
    tags = read_table(root / TABLE_NAME, bad)
    if not tags:
        raise UserError(f"{root / TABLE_NAME}: no usable rows")
    if any(t.label is None for t in tags):
        raise UserError(f"{root / TABLE_NAME}: EuroSAT needs a label on every row")
    classes = sorted({t.label for t in tags})
    labels = torch.tensor([classes.index(t.label) for t in tags])
    pixels, tags = _decoded_tiles(root, tags, bad)
    images = torch.from_numpy(pixels).permute(0, 3, 1, 2).contiguous()
    coords = torch.tensor([(t.lat, t.lon) for t in tags], dtype=torch.float64)
    paths = [str(t.path) for t in tags]
    return Catalog(
        name="eurosat-rgb",
        samples=TensorImages(images, labels, coords, paths),
        class_names=tuple(classes),
        in_chans=3,
        img_size=images.shape[-1],
        stats=lambda split: channel_stats(split.images),
    )
