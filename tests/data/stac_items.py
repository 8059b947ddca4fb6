"""Generated STAC catalogs for the tests: real cloud-optimised GeoTIFFs (GDAL's COG driver) as band assets, items
with footprints, datetimes and labels, written as a Catalog (one JSON file per item) or as an ItemCollection.

Each place is a 64x64 px footprint at 10 m in UTM 32N, taken on ``dates`` days; bands B04/B03/B02 (red, green,
blue) at 10 m and B11 (swir16) at 20 m, so reading B11 resamples it to the finest grid.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from rasterio.transform import from_origin
from rasterio.warp import transform as warp_points

from tests.data.geotiffs import write_tif

CRS = "EPSG:32632"
PIXEL = 10.0
BANDS = (("B04", "red", 10.0), ("B03", "green", 10.0), ("B02", "blue", 10.0), ("B11", "swir16", 20.0))
CLASSES = ("field", "forest")


def write_cog(path: Path, data: np.ndarray, crs: str | None, transform, block: int = 256) -> None:
    """``data`` (C, H, W) as a COG: internal tiles of ``block`` px, deflate, overviews down to one block."""
    write_tif(path, data, crs, transform, driver="COG", blocksize=block, compress="deflate", overviews="auto")


def footprint(transform, width: int, height: int, crs: str) -> tuple[dict, list[float]]:
    """(GeoJSON polygon, bbox) in WGS84 of a raster's extent."""
    left, top = transform @ (0, 0)
    right, bottom = transform @ (width, height)
    lons, lats = warp_points(crs, "EPSG:4326", [left, right, right, left], [top, top, bottom, bottom])
    ring = [[lo, la] for lo, la in zip(lons, lats, strict=True)]
    return {"type": "Polygon", "coordinates": [ring + ring[:1]]}, [min(lons), min(lats), max(lons), max(lats)]


def item(item_id: str, assets: dict[str, str], transform, size: int, when: str | None, label: str) -> dict:
    geometry, bbox = footprint(transform, size, size, CRS)
    return {
        "type": "Feature",
        "stac_version": "1.0.0",
        "stac_extensions": ["https://stac-extensions.github.io/eo/v1.1.0/schema.json"],
        "id": item_id,
        "geometry": geometry,
        "bbox": bbox,
        "properties": {"datetime": when, "landcover": label},
        "links": [],
        "assets": {
            key: {
                "href": href,
                "type": "image/tiff; application=geotiff; profile=cloud-optimized",
                "roles": ["data"],
                "eo:bands": [{"name": key, "common_name": common}],
            }
            for (key, common, _), href in zip(BANDS, assets.values(), strict=True)
        },
    }


def stac_scenes(
    root: Path, base_url: str | None = None, places: int = 4, dates: int = 2, size: int = 64, kind: str = "catalog"
) -> Path:
    """COGs under ``root/cogs`` and a STAC file (``catalog.json`` with ``items/<id>.json``, or an
    ``items.json`` ItemCollection) whose asset hrefs are ``base_url/cogs/...`` (None: relative paths)."""
    features = []
    for p in range(places):
        xs, ys = warp_points("EPSG:4326", CRS, [9.0 + 0.05 * p], [48.0 + 0.03 * (p % 2)])
        transform = from_origin(round(xs[0]), round(ys[0]), PIXEL, PIXEL)
        label = CLASSES[p % 2]
        pattern = np.random.default_rng(p).integers(500 + 1500 * (p % 2), 2500 + 1500 * (p % 2), size=(size, size))
        for d in range(dates):
            item_id = f"place{p}_2021-0{6 + d}-05"
            hrefs = {}
            for b, (key, _, res) in enumerate(BANDS):
                side = int(size * PIXEL / res)
                change = np.random.default_rng(100 * p + 10 * d + b).integers(0, 300, size=(size, size))
                band = (pattern + change + 200 * b).astype(np.uint16)[:: size // side, :: size // side][None]
                name = f"cogs/{item_id}_{key}.tif"
                write_cog(root / name, band, CRS, from_origin(transform.c, transform.f, res, res))
                hrefs[key] = f"{base_url}/{name}" if base_url else f"../{name}" if kind == "catalog" else name
            features.append(item(item_id, hrefs, transform, size, f"2021-0{6 + d}-05T10:30:00Z", label))
    if kind == "items":
        path = root / "items.json"
        path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
        return path
    links = []
    for f in features:
        (root / "items").mkdir(parents=True, exist_ok=True)
        (root / "items" / f"{f['id']}.json").write_text(json.dumps(f))
        links.append({"rel": "item", "href": f"./items/{f['id']}.json", "type": "application/geo+json"})
    catalog = {
        "type": "Catalog",
        "stac_version": "1.0.0",
        "id": "test-catalog",
        "description": "generated COGs",
        "links": links,
    }
    path = root / "catalog.json"
    path.write_text(json.dumps(catalog))
    return path


def edit_item(catalog: Path, item_id: str, change) -> None:
    """Apply ``change(item dict)`` to one item of a catalog written by ``stac_scenes``."""
    path = catalog.parent / "items" / f"{item_id}.json"
    d = json.loads(path.read_text())
    change(d)
    path.write_text(json.dumps(d))
