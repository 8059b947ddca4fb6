"""A STAC file (Catalog, Collection, ItemCollection or one Item; e.g. a STAC API search saved to disk) read with
pystac into scenes: per item, the hrefs of the band assets asked for, its acquisition time, its label.

Catalogs and Collections are walked through their ``child`` and ``item`` links (relative hrefs resolve against
the file that holds them, local or remote). ``data.assets`` picks assets by key (``B04``) or by the common name or
name of their band (``red``: the ``eo:bands`` of STAC 1.0, ``bands`` of 1.1); without it, every GeoTIFF asset with
the ``data`` role, in key order. Each item is checked on its own, so a bad one is named (``catalog.json#<id>``)
and stops the run or, with ``data.on_bad_file=skip``, is left out and listed: no geometry, a datetime that does
not parse, no asset matching ``data.assets``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ssl_toolkit.data.bad_files import BadFiles
from ssl_toolkit.data.raster import first_line
from ssl_toolkit.data.remote import is_remote, redacted
from ssl_toolkit.data.revisits import parse_time
from ssl_toolkit.errors import UserError

STAC_TYPES = ("Catalog", "Collection", "FeatureCollection", "Feature")
TIFF_MEDIA = ("image/tiff", "image/vnd.stac.geotiff")
MAX_DEPTH = 32  # nested catalogs; deeper is a link loop


@dataclass(frozen=True)
class StacScene:
    """One STAC item as a scene: its band assets (key, href), in channel order."""

    name: str  # catalog.json#<item id>: names the item in every message and index row
    assets: tuple[tuple[str, str], ...]
    time: float  # days since 1970-01-01 UTC; NaN without a datetime
    label: str | None
    footprint: tuple[float, float]  # (lat, lon) of the footprint's bounding-box centre


def is_stac_file(name: str) -> bool:
    """Whether ``name`` is a ``.json`` file (or URL) whose ``type`` is a STAC one."""
    if not str(name).lower().endswith(".json"):
        return False
    if is_remote(name):
        return True
    path = Path(name).expanduser()
    if not path.is_file():
        return False
    try:
        with path.open(encoding="utf-8") as f:
            head = json.load(f)
    except (OSError, ValueError):
        return True  # a .json that does not parse: reported as a STAC file that cannot be read
    return isinstance(head, dict) and head.get("type") in STAC_TYPES


def read_json(href: str) -> dict:
    import pystac

    try:
        d = pystac.StacIO.default().read_json(href)
    except Exception as e:  # pystac raises whatever its reader meets (OSError, HTTPError, JSONDecodeError)
        raise UserError(f"{redacted(href)}: cannot read the STAC file ({first_line(e)})") from None
    if not isinstance(d, dict) or d.get("type") not in STAC_TYPES:
        kind = d.get("type") if isinstance(d, dict) else type(d).__name__
        raise UserError(f"{redacted(href)}: not a STAC Catalog, Collection, ItemCollection or Item (type {kind!r})")
    return d


def features(href: str, depth: int = 0) -> Iterator[tuple[dict, str]]:
    """(item dict, href of the file it came from) of every item under ``href``, links followed in order."""
    from pystac.utils import make_absolute_href

    if depth > MAX_DEPTH:
        raise UserError(f"{redacted(href)}: catalogs nested more than {MAX_DEPTH} deep (a link loop?)")
    d = read_json(href)
    kind = d["type"]
    if kind == "Feature":
        yield d, href
    elif kind == "FeatureCollection":
        for feature in d.get("features") or []:
            yield feature, href
    else:
        for link in d.get("links") or []:
            if link.get("rel") in ("child", "item") and link.get("href"):
                target = make_absolute_href(link["href"], href)
                if link["rel"] == "item":
                    yield read_json(target), target
                else:
                    yield from features(target, depth + 1)


def band_names(asset: dict) -> list[str]:
    """The names and common names of an asset's bands, lower case (STAC 1.0 ``eo:bands``, 1.1 ``bands``)."""
    names = []
    for band in (asset.get("eo:bands") or []) + (asset.get("bands") or []):
        if isinstance(band, dict):
            for key in ("common_name", "eo:common_name", "name"):
                if isinstance(band.get(key), str):
                    names.append(band[key].lower())
    return names


def pick_assets(assets: dict[str, dict], wanted: list[str] | None) -> tuple[list[tuple[str, str]], str | None]:
    """((key, href) of the assets ``wanted``, in order; None: every GeoTIFF data asset), or ([], the problem)."""
    if wanted is None:
        picked = [
            (k, a["href"])
            for k, a in sorted(assets.items())
            if str(a.get("type", "")).split(";")[0].strip() in TIFF_MEDIA and "data" in (a.get("roles") or ["data"])
        ]
        if not picked:
            return [], f"has no GeoTIFF data asset (assets: {', '.join(sorted(assets)) or 'none'}); set data.assets"
        return picked, None
    picked = []
    for name in wanted:
        if name in assets:
            picked.append((name, assets[name]["href"]))
            continue
        matches = [k for k, a in sorted(assets.items()) if str(name).lower() in band_names(a)]
        if len(matches) != 1:
            why = "no asset" if not matches else f"{len(matches)} assets ({', '.join(matches)})"
            return [], (
                f"{why} matches data.assets entry {name!r} by key or band common name "
                f"(assets: {', '.join(sorted(assets)) or 'none'})"
            )
        picked.append((matches[0], assets[matches[0]]["href"]))
    return picked, None


def footprint_centre(feature: dict) -> tuple[float, float] | None:
    """(lat, lon) of the centre of the item's bbox, or of its geometry's coordinates; None without either."""
    bbox = feature.get("bbox")
    if isinstance(bbox, list) and len(bbox) in (4, 6) and all(isinstance(v, int | float) for v in bbox):
        west, south, east, north = (bbox[0], bbox[1], bbox[3], bbox[4]) if len(bbox) == 6 else bbox
        return (south + north) / 2, (west + east) / 2
    geometry = feature.get("geometry")
    if not isinstance(geometry, dict):
        return None
    points = list(_positions(geometry.get("coordinates")))
    if not points:
        return None
    lons, lats = [p[0] for p in points], [p[1] for p in points]
    return (min(lats) + max(lats)) / 2, (min(lons) + max(lons)) / 2


def _positions(coords) -> Iterator[tuple[float, float]]:
    if isinstance(coords, list | tuple) and len(coords) >= 2 and all(isinstance(v, int | float) for v in coords[:2]):
        yield float(coords[0]), float(coords[1])
    elif isinstance(coords, list | tuple):
        for c in coords:
            yield from _positions(c)


def item_time(properties: dict) -> float:
    """Days since 1970 of ``datetime`` (or ``start_datetime`` when datetime is null); NaN when neither is set."""
    value = properties.get("datetime") or properties.get("start_datetime")
    if value is None:
        return math.nan
    if not isinstance(value, str):
        raise ValueError(f"datetime {value!r} is not a date string")
    return parse_time(value)


def read_scenes(source: str, wanted: list[str] | None, label_property: str | None, bad: BadFiles) -> list[StacScene]:
    """Every usable item of the STAC file ``source`` as a scene; problems go to ``bad`` by item."""
    import pystac
    from pystac.utils import make_absolute_href

    if wanted is not None and (not wanted or not all(isinstance(w, str) and w for w in wanted)):
        raise UserError(f"data.assets: expected a list of asset keys or band common names, got {wanted}")
    label = redacted(source)
    scenes, seen = [], set()
    for feature, href in features(source):
        item_id = feature.get("id") if isinstance(feature, dict) else None
        name = f"{label}#{item_id}"
        if not isinstance(item_id, str) or not item_id:
            bad.report(f"{label}#?", "an item without an id")
            continue
        if item_id in seen:
            bad.report(name, "a second item with this id")
            continue
        seen.add(item_id)
        try:
            time = item_time(feature.get("properties") or {})
        except ValueError as e:
            bad.report(name, f"its {e}")
            continue
        centre = footprint_centre(feature)
        if feature.get("geometry") is None or centre is None:
            bad.report(name, "has no geometry (a footprint is needed to place its tiles)")
            continue
        try:
            item = pystac.Item.from_dict(feature, href=None, migrate=False, preserve_dict=True)
        except Exception as e:  # pystac's own checks of the item (e.g. a datetime it cannot parse)
            bad.report(name, f"is not a valid STAC item ({first_line(e)})")
            continue
        assets = {k: {**a.extra_fields, **a.to_dict()} for k, a in item.assets.items()}
        picked, problem = pick_assets(assets, wanted)
        if problem:
            bad.report(name, problem)
            continue
        value = item.properties.get(label_property) if label_property else None
        scenes.append(
            StacScene(
                name=name,
                assets=tuple((k, make_absolute_href(h, href)) for k, h in picked),
                time=time,
                label=None if value is None else str(value),
                footprint=centre,
            )
        )
    return scenes
