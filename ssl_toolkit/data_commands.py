"""``ssl data index`` and ``ssl data map``: what a dataset holds and where its tiles lie.

``index`` opens a dataset as training would (every file checked), writes one CSV row per tile (path, window,
CRS, bounds in that CRS, WGS84 lat/lon of the centre, label, band count) and prints a summary; bad files are
listed, never fatal, since finding them is the point. ``map`` draws the tiles on a lon/lat scatter coloured by
label, by k-means cluster on the sphere (as the geolocation task makes them), or by train/test side of the
split (``data.split=geographic`` shows the held-out regions), from a dataset or an index CSV.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import numpy as np
import torch

from ssl_toolkit import atomic
from ssl_toolkit.data import DataOptions, open_catalog
from ssl_toolkit.data.bad_files import BadFiles
from ssl_toolkit.errors import UserError

COLUMNS = [
    "path",
    "col",
    "row",
    "width",
    "height",
    "crs",
    "left",
    "bottom",
    "right",
    "top",
    "lat",
    "lon",
    "label",
    "bands",
]


def index_rows(name: str, options: DataOptions) -> tuple[list[dict], list[tuple[str, str]]]:
    """One row per usable tile (COLUMNS) and the (path, reason) of every bad file."""
    bad = BadFiles("skip")
    catalog = open_catalog(name, options, bad, need_coords=False)
    samples = catalog.samples
    rows = []
    for i in range(len(samples)):
        label = int(samples.labels[i])
        row = {
            "path": samples.path(i),
            "label": catalog.class_names[label] if label >= 0 else "",
            "bands": catalog.in_chans,
            "lat": float(samples.coords[i, 0]) if samples.coords is not None else math.nan,
            "lon": float(samples.coords[i, 1]) if samples.coords is not None else math.nan,
        }
        if catalog.tiles is not None:
            t = catalog.tiles[i]
            left, bottom, right, top = t.bounds
            row.update(path=t.path, col=t.col, row=t.row, width=t.width, height=t.height, crs=t.crs, bands=t.bands)
            row.update(left=left, bottom=bottom, right=right, top=top)
        else:
            row.update(col=0, row=0, width=catalog.img_size, height=catalog.img_size, crs="")
            row.update(left="", bottom="", right="", top="")
        rows.append(row)
    return rows, bad.skipped


def split_rows(name: str, options: DataOptions) -> list[dict]:
    """Rows (path, lat, lon, label = "train" or "test") of the dataset split as ``options.split`` splits it."""
    from ssl_toolkit.data import load_data

    data = load_data(name, options)
    if data.train.coords is None:
        raise UserError(f"data '{name}' has no coordinates, nothing to map")
    return [
        {"path": split.path(i), "lat": float(lat), "lon": float(lon), "label": part}
        for part, split in (("train", data.train), ("test", data.test))
        for i, (lat, lon) in enumerate(split.coords.tolist())
    ]


def summary(rows: list[dict], bad: list[tuple[str, str]]) -> str:
    lines = [f"{len(rows)} tiles"]
    if rows:
        bands = sorted({r["bands"] for r in rows})
        crss = sorted({r["crs"] for r in rows if r["crs"]})
        lines.append(f"bands: {', '.join(map(str, bands))}")
        lines.append(
            f"CRSs: {len(crss)} ({', '.join(crss[:8])}{', ...' if len(crss) > 8 else ''})" if crss else "CRSs: none"
        )
        lat = np.array([r["lat"] for r in rows], dtype=float)
        lon = np.array([r["lon"] for r in rows], dtype=float)
        located = ~np.isnan(lat)
        if located.any():
            lines.append(
                f"lat {lat[located].min():.4f} to {lat[located].max():.4f}, lon {lon[located].min():.4f} to "
                f"{lon[located].max():.4f} ({int(located.sum())} located, {int((~located).sum())} without coordinates)"
            )
        else:
            lines.append("no coordinates")
        labels = sorted({r["label"] for r in rows if r["label"]})
        lines.append(
            f"labels: {len(labels)}"
            + (f" ({', '.join(labels[:10])}{', ...' if len(labels) > 10 else ''})" if labels else "")
        )
    lines.append(f"bad files: {len(bad)}")
    lines += [f"  {path}: {reason}" for path, reason in bad]
    return "\n".join(lines)


def write_index(rows: list[dict], path: Path) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic.write_text(path, buffer.getvalue())


def read_index(path: Path) -> list[dict]:
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            missing = {"path", "lat", "lon"} - set(reader.fieldnames or ())
            if missing:
                raise UserError(
                    f"{path}: not a tile index (missing {', '.join(sorted(missing))}); write one with `ssl data index`"
                )
            return [
                {**r, "label": r.get("label") or "", "lat": float(r["lat"] or "nan"), "lon": float(r["lon"] or "nan")}
                for r in reader
            ]
    except (OSError, UnicodeDecodeError, csv.Error, ValueError) as e:
        raise UserError(f"{path}: cannot read the tile index ({e})") from None


def map_png(rows: list[dict], colour_by: str, clusters: int, seed: int, title: str) -> bytes:
    from ssl_toolkit.data.sphere_kmeans import assign, spherical_kmeans, to_lat_lon
    from ssl_toolkit.maps import draw_map

    located = [r for r in rows if not math.isnan(r["lat"])]
    if not located:
        raise UserError(f"{title}: no tile has coordinates, nothing to map")
    lat = np.array([r["lat"] for r in located])
    lon = np.array([r["lon"] for r in located])
    centres = names = None
    if colour_by == "cluster":
        t_lat, t_lon = torch.from_numpy(lat).float(), torch.from_numpy(lon).float()
        try:
            xyz = spherical_kmeans(t_lat, t_lon, clusters, seed)
        except ValueError as e:
            raise UserError(f"--clusters {clusters}: {e}") from None
        colour = assign(t_lat, t_lon, xyz).numpy()
        c_lat, c_lon = to_lat_lon(xyz)
        centres = (c_lat.numpy(), c_lon.numpy())
    else:
        names = sorted({r["label"] for r in located if r["label"]})
        colour = np.array([names.index(r["label"]) if r["label"] else -1 for r in located])
    return draw_map(lat, lon, colour, title, colour_by, centres=centres, names=names)
