"""``ssl data index`` and ``ssl data map``: what a dataset holds and where its tiles lie.

``index`` opens a dataset as training would (every file checked), writes one CSV row per tile (path, window,
CRS, bounds in that CRS, WGS84 lat/lon of the centre, label, band count, acquisition date and place where the
data says them; for a STAC item's tile its band assets and those resampled onto the finest grid) and prints a
summary (with the places taken on several dates: temporal positives); bad files are listed, never fatal, since
finding them is the point. ``map`` draws the tiles on a lon/lat scatter coloured by label, by k-means cluster
on the sphere (as the geolocation task makes them), or by train/test side of the split (``data.split=geographic``
shows the held-out regions), from a dataset or an index CSV.
"""

from __future__ import annotations

import argparse
import csv
import io
import math
from pathlib import Path

import numpy as np
import torch

from ssl_toolkit import atomic
from ssl_toolkit import config as cfg
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
    "time",
    "place",
    "assets",
    "resampled",
]


def index_rows(
    name: str, options: DataOptions, empty: list[int] | None = None
) -> tuple[list[dict], list[tuple[str, str]]]:
    """One row per usable tile (COLUMNS) and the (path, reason) of every bad file; ``empty`` (a list) gets the
    count of windows left out for too few valid pixels."""
    bad = BadFiles("skip")
    catalog = open_catalog(name, options, bad, need_coords=False)
    if empty is not None:
        empty.append(catalog.empty_windows)
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
            if t.assets is not None:  # a STAC item's tile: its band assets, those read at another resolution
                keys = catalog.stats_note["assets"]
                row["assets"] = ",".join(keys)
                row["resampled"] = ",".join(
                    f"{key} x{1 / scale:g}" for key, (_, scale) in zip(keys, t.assets, strict=True) if scale != 1
                )
        else:
            row.update(col=0, row=0, width=catalog.img_size, height=catalog.img_size, crs="")
            row.update(left="", bottom="", right="", top="")
        time = float(samples.times[i]) if samples.times is not None else math.nan
        row["time"] = iso_date(time)
        row["place"] = int(samples.places[i]) if samples.places is not None and samples.places[i] >= 0 else ""
        rows.append(row)
    return rows, bad.skipped


def iso_date(days: float) -> str:
    """Days since 1970-01-01 UTC as an ISO date-time ('' for NaN)."""
    if math.isnan(days):
        return ""
    from datetime import datetime, timezone

    return datetime.fromtimestamp(days * 86_400, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def split_rows(name: str, options: DataOptions) -> list[dict]:
    """Rows (path, lat, lon, label = "train" or "test") of the dataset split as ``options.split`` splits it."""
    from dataclasses import replace

    from ssl_toolkit.data import load_data

    data = load_data(name, replace(options, on_bad_file="skip"))  # a map shows what is usable, as the index does
    if data.train.coords is None:
        raise UserError(f"data '{name}' has no coordinates, nothing to map")
    return [
        {"path": split.path(i), "lat": float(lat), "lon": float(lon), "label": part}
        for part, split in (("train", data.train), ("test", data.test))
        for i, (lat, lon) in enumerate(split.coords.tolist())
    ]


def summary(rows: list[dict], bad: list[tuple[str, str]], empty: int = 0) -> str:
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
        dated = sorted(r["time"] for r in rows if r.get("time"))
        if dated:
            dates_of: dict[str, set[str]] = {}
            for r in rows:
                if r.get("time") and r.get("place") != "":
                    dates_of.setdefault(str(r["place"]), set()).add(r["time"])
            revisited = sum(len(d) > 1 for d in dates_of.values())
            lines.append(
                f"dates: {len(dated)} dated tiles, {dated[0][:10]} to {dated[-1][:10]}; {revisited} of "
                f"{len(dates_of)} places taken on two or more dates (task.temporal_positives)"
            )
    stacked = sorted({(r.get("assets", ""), r.get("resampled", "")) for r in rows if r.get("assets")})
    for assets, resampled in stacked:
        lines.append(f"assets: {assets}" + (f"; read on the finest grid, resampled: {resampled}" if resampled else ""))
    if empty:
        lines.append(f"windows left out for too few valid pixels (data.min_valid_fraction): {empty}")
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
    from ssl_toolkit.pictures.maps import draw_map

    located = [r for r in rows if not math.isnan(r["lat"])]
    if not located:
        raise UserError(f"{title}: no tile has coordinates, nothing to map")
    lat = np.array([r["lat"] for r in located])
    lon = np.array([r["lon"] for r in located])
    centres = names = None
    if colour_by == "cluster":
        if clusters > max(2, len(located) // 3):
            fitted = max(2, len(located) // 3)
            print(
                f"note: --clusters {clusters} on {len(located)} tiles leaves clusters of one tile or none; "
                f"using {fitted}"
            )
            clusters = fitted
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


def data_options(overrides: list[str]) -> DataOptions:
    """``data.<key>=value`` pairs -> DataOptions (checked against the config schema)."""
    given = dict(cfg.parse_override(o) for o in overrides)
    keys = {k: spec for k, spec in cfg.SCHEMA.items() if k.startswith("data.") and k != "data.name"}
    flat = cfg.apply(keys, {k: spec.default for k, spec in keys.items()}, given)
    return DataOptions.from_config(cfg.unflatten(flat)["data"])


def index_main(args: argparse.Namespace) -> None:
    empty: list[int] = []
    rows, bad = index_rows(args.data, data_options(args.overrides), empty)
    out = Path(args.out) if args.out else Path("runs") / "data" / f"{Path(args.data).name or 'data'}-index.csv"
    write_index(rows, out)
    print(summary(rows, bad, empty[0]))
    print(f"index of {len(rows)} tiles -> {out}")


def map_main(args: argparse.Namespace) -> None:
    if args.clusters < 2:
        raise UserError(f"--clusters must be at least 2, got {args.clusters}")
    source = Path(args.data)
    options = data_options(args.overrides)
    title = source.name or args.data
    if args.color == "split":
        rows = split_rows(args.data, options)
        title += f": {options.split} split"
    elif source.suffix.lower() == ".csv" and source.is_file():
        rows = read_index(source)
    else:
        rows, _ = index_rows(args.data, options)
    if args.color == "cluster":
        title += f": {args.clusters} k-means clusters"
    out = Path(args.out) if args.out else Path("runs") / "data" / f"{source.stem or 'data'}-map-{args.color}.png"
    colour = "label" if args.color == "split" else args.color
    atomic.write_bytes(out, map_png(rows, colour, args.clusters, args.seed, title))
    print(f"map of {len(rows)} tiles coloured by {args.color} -> {out}")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("data", help="index a dataset's tiles or map them (lat/lon)")
    data_sub = p.add_subparsers(dest="data_command", required=True, parser_class=type(p))
    q = data_sub.add_parser(
        "index",
        help="scan tiles, write an index CSV, print a summary",
        description="Scan a dataset's tiles (every file is opened and read once) and write one CSV row per tile: "
        "path, window, CRS, bounds, lat, lon, label, band count. Bad files are listed, not fatal.",
    )
    q.add_argument("data", help="eurosat-rgb, eurosat-ms, mnist, or a folder (GeoTIFFs, images, locations.csv)")
    q.add_argument("--out", help="CSV to write (default runs/data/<name>-index.csv)")
    q.add_argument("overrides", nargs="*", metavar="key=value", help="data keys, e.g. data.tile_size=256")
    q.set_defaults(func=index_main)
    q = data_sub.add_parser(
        "map",
        help="plot tiles on a lon/lat scatter coloured by cluster or label (PNG)",
        description="Plot a dataset's tiles (or an index CSV from `ssl data index`) on a lon/lat scatter.",
    )
    q.add_argument("data", help="a dataset name or folder, or an index CSV")
    q.add_argument(
        "--color",
        choices=("cluster", "label", "split"),
        default="cluster",
        help="colour by k-means cluster (default), label, or train/test side (with data.split=geographic)",
    )
    q.add_argument("--clusters", type=int, default=100, help="k-means clusters on the sphere (default 100)")
    q.add_argument("--seed", type=int, default=0, help="k-means seed (default 0, as the geolocation task)")
    q.add_argument("--out", help="PNG to write (default runs/data/<name>-map-<color>.png)")
    q.add_argument("overrides", nargs="*", metavar="key=value", help="data keys, e.g. data.tile_size=256")
    q.set_defaults(func=map_main)
