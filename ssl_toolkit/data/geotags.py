"""Lat/lon tables: a CSV with columns ``path,lat,lon`` and optional ``label``, ``time`` (an ISO date or date-time:
when the image was taken) and ``place`` (rows of one place; without it, rows with the same coordinates are one
place), one row per image. Times and places feed temporal positives (``revisits``).

Paths are relative to the table's folder (or absolute). Latitude and longitude are WGS84 degrees of the image
centre. A row whose path does not exist or whose coordinates are out of range is a bad file (see
``bad_files``); a table without the required columns is an error naming the table.
"""

from __future__ import annotations

import csv
import math
import os
from dataclasses import dataclass
from pathlib import Path

from ssl_toolkit.data.bad_files import BadFiles
from ssl_toolkit.data.revisits import parse_time
from ssl_toolkit.errors import UserError

TABLE_NAME = "locations.csv"


@dataclass(frozen=True)
class Geotag:
    path: Path
    lat: float
    lon: float
    label: str | None
    time: float = math.nan  # days since 1970-01-01 UTC
    place: str | None = None


def read_table(table: Path, bad: BadFiles, check_files: bool = True) -> list[Geotag]:
    """The table's valid rows in file order; invalid rows go to ``bad`` (which may raise)."""
    if not table.is_file():
        raise UserError(f"lat/lon table {table} does not exist")
    try:
        with table.open(newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            columns = set(reader.fieldnames or ())
            rows = list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise UserError(f"{table}: cannot read the lat/lon table ({e})") from None
    missing = {"path", "lat", "lon"} - columns
    if missing:
        raise UserError(
            f"{table}: missing column(s) {', '.join(sorted(missing))}; expected path,lat,lon[,label,time,place]"
        )
    tags: list[Geotag] = []
    first_line: dict[str, int] = {}  # resolved image path -> the line that listed it first
    for line, row in enumerate(rows, start=2):
        where = f"{table} line {line}"
        if not row.get("path") or row.get("lat") is None or row.get("lon") is None:
            bad.report(where, "a row needs path, lat and lon")
            continue
        path = Path(row["path"]) if Path(row["path"]).is_absolute() else table.parent / row["path"]
        try:
            lat, lon = float(row["lat"]), float(row["lon"])
        except (TypeError, ValueError):
            bad.report(where, f"lat/lon {row['lat']!r}, {row['lon']!r} are not numbers")
            continue
        if not (math.isfinite(lat) and -90 <= lat <= 90):
            bad.report(where, f"latitude {lat} is outside [-90, 90]")
            continue
        if not (math.isfinite(lon) and -180 <= lon <= 360):
            bad.report(where, f"longitude {lon} is outside [-180, 360]")
            continue
        if check_files and not path.is_file():
            bad.report(where, f"{path} is not a regular file" if path.exists() else f"{path} does not exist")
            continue
        real = os.path.realpath(path)
        if real in first_line:
            raise UserError(
                f"{where} lists {row['path']} again (first on line {first_line[real]}); each image once, or the "
                "same image could land on both sides of the train/test split"
            )
        first_line[real] = line
        time = math.nan
        if row.get("time"):
            try:
                time = parse_time(row["time"])
            except ValueError as e:
                bad.report(where, str(e))
                continue
        label = row.get("label") or None
        tags.append(Geotag(path, lat, lon if lon <= 180 else lon - 360, label, time, row.get("place") or None))
    return tags
