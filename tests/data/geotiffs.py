"""Tiny GeoTIFFs written by the tests (real files through rasterio), in several CRSs, with the usual defects.

Run as a script to look at them: ``python tests/data/geotiffs.py OUT_DIR``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import rasterio
from rasterio.transform import from_origin
from rasterio.warp import transform as warp_points

NODATA = 0
PIXEL = 10.0  # metres


def write_tif(
    path: Path,
    data: np.ndarray,
    crs: str | None,
    transform,
    nodata: float | None = None,
    **options,
) -> None:
    """``data`` (C, H, W) as a GeoTIFF; ``options`` go into rasterio's profile (e.g. ``driver="COG"``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    profile = {
        "driver": "GTiff",
        "width": data.shape[2],
        "height": data.shape[1],
        "count": data.shape[0],
        "dtype": data.dtype.name,
        "transform": transform,
    }
    if crs is not None:
        profile["crs"] = crs
    if nodata is not None:
        profile["nodata"] = nodata
    profile.update(options)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)


def chip_at(path: Path, lat: float, lon: float, crs: str, size: int = 16, bands: int = 4, seed: int = 0, **kw) -> None:
    """A uint16 chip whose centre pixel corner lies at (lat, lon), in ``crs``."""
    xs, ys = warp_points("EPSG:4326", crs, [lon], [lat])
    half = size / 2 * PIXEL
    transform = from_origin(xs[0] - half, ys[0] + half, PIXEL, PIXEL)
    rng = np.random.default_rng(seed)
    data = rng.integers(100, 5000, size=(bands, size, size), dtype=np.uint16)
    write_tif(path, data, crs, transform, **kw)


def two_class_chips(root: Path, count: int) -> Path:
    """ROOT/{a,b}/<n>.tif: ``count`` 4-band uint16 chips of 16x16 in one UTM zone, alternating classes."""
    for i in range(count):
        chip_at(root / ("a" if i % 2 else "b") / f"{i}.tif", 48.0 + 0.01 * i, 9.0, "EPSG:32632", seed=i)
    return root


# (class, lat, lon, crs): two UTM zones and a geographic CRS in one dataset
CHIPS = [
    ("field", 48.10, 9.20, "EPSG:32632"),
    ("field", 48.30, 9.50, "EPSG:32632"),
    ("field", 47.90, 15.40, "EPSG:32633"),
    ("forest", 60.10, 24.90, "EPSG:32635"),
    ("forest", 59.90, 25.10, "EPSG:4326"),
    ("forest", 60.30, 25.30, "EPSG:32635"),
]


def good_chips(root: Path) -> list[tuple[Path, float, float]]:
    """ROOT/<class>/<n>.tif chips of 4 uint16 bands, 16x16 pixels; returns (path, lat, lon) of each."""
    written = []
    for i, (cls, lat, lon, crs) in enumerate(CHIPS):
        path = root / cls / f"{i}.tif"
        chip_at(path, lat, lon, crs, seed=i)
        written.append((path, lat, lon))
    return written


def nodata_chip(path: Path) -> np.ndarray:
    """A chip whose left half is nodata (0); returns its pixels."""
    chip_at(path, 50.0, 10.0, "EPSG:32632", seed=7, nodata=NODATA)
    with rasterio.open(path, "r+") as dst:
        data = dst.read()
        data[:, :, :8] = NODATA
        dst.write(data)
    return data


def all_nodata_chip(path: Path) -> None:
    chip_at(path, 50.5, 10.5, "EPSG:32632", nodata=NODATA)
    with rasterio.open(path, "r+") as dst:
        dst.write(np.zeros((4, 16, 16), dtype=np.uint16))


def three_band_chip(path: Path) -> None:
    chip_at(path, 51.0, 11.0, "EPSG:32632", bands=3)


def no_crs_chip(path: Path) -> None:
    write_tif(path, np.ones((4, 16, 16), dtype=np.uint16), None, from_origin(0, 160, PIXEL, PIXEL))


def corrupt_chip(path: Path) -> None:
    """A real GeoTIFF cut to a third of its bytes (a truncated download)."""
    chip_at(path, 52.0, 12.0, "EPSG:32632", seed=3)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def multi_date_chips(root: Path, places: int = 6, dates: int = 3, size: int = 16) -> Path:
    """ROOT/{a,b}/p<place>_<date>.tif: every place (a fixed 16x16 footprint in UTM 32N) taken on ``dates`` days,
    its pixels the place's own pattern plus a little change per date. Dates come from the TIFFTAG_DATETIME tag,
    except the last date of each place, which is written only in the file name (``..._20210905.tif``)."""
    for p in range(places):
        xs, ys = warp_points("EPSG:4326", "EPSG:32632", [9.0 + 0.05 * p], [48.0])
        transform = from_origin(round(xs[0]), round(ys[0]), PIXEL, PIXEL)
        pattern = np.random.default_rng(p).integers(500, 4000, size=(4, size, size))
        for d in range(dates):
            change = np.random.default_rng(100 * p + d).integers(0, 300, size=(4, size, size))
            day = f"2021{6 + d:02d}05"
            last = d == dates - 1
            path = root / ("a" if p % 2 else "b") / (f"p{p}_{day}.tif" if last else f"p{p}_{d}.tif")
            write_tif(path, (pattern + change).astype(np.uint16), "EPSG:32632", transform)
            if not last:
                with rasterio.open(path, "r+") as dst:
                    dst.update_tags(TIFFTAG_DATETIME=f"{day[:4]}:{day[4:6]}:{day[6:]} 10:30:00")
    return root


def scene(path: Path, width: int = 100, height: int = 70) -> np.ndarray:
    """A 2-band int16 scene (UTM 32N) whose pixel (r, c) holds r * 100 + c in band 1; returns its pixels."""
    rows, cols = np.mgrid[0:height, 0:width]
    data = np.stack([rows * 100 + cols, -(rows * 100 + cols) // 7]).astype(np.int16)
    write_tif(path, data, "EPSG:32632", from_origin(500_000, 5_300_000, PIXEL, PIXEL))
    return data


def satellite_scene(
    path: Path, size: int = 256, seed: int = 0, origin: tuple[float, float] = (500_000, 5_300_000)
) -> None:
    """A 4-band uint16 scene (UTM 32N) with nodata 0 in an orbit-edge wedge (the left corner triangle): fields
    of random blobs over a north-to-south brightness gradient, so a tile's orientation can be told."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0:size, 0:size]
    base = 3000 - 2000 * rows / size  # brighter to the north
    blobs = np.zeros((size, size))
    for _ in range(size // 8):
        r, c, radius = rng.integers(0, size, 2).tolist() + [int(rng.integers(3, 12))]
        blobs += 800 * np.exp(-((rows - r) ** 2 + (cols - c) ** 2) / (2 * radius**2))
    bands = [base + blobs * (1 + 0.3 * b) + rng.normal(0, 50, (size, size)) for b in range(4)]
    data = np.clip(np.stack(bands), 1, 60000).astype(np.uint16)
    data[:, cols < (size // 2 - rows)] = NODATA  # the wedge outside the swath
    write_tif(path, data, "EPSG:32632", from_origin(*origin, PIXEL, PIXEL), nodata=NODATA)


if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "geotiffs")
    good_chips(out / "chips")
    nodata_chip(out / "chips" / "field" / "nodata.tif")
    all_nodata_chip(out / "defects" / "all_nodata.tif")
    three_band_chip(out / "defects" / "three_bands.tif")
    no_crs_chip(out / "defects" / "no_crs.tif")
    corrupt_chip(out / "defects" / "corrupt.tif")
    scene(out / "scene" / "scene.tif")
    print(f"wrote tiny GeoTIFFs under {out}")
