"""Tiles on a lon/lat scatter, coloured by cluster or label, with cluster centres marked (PNG bytes)."""

from __future__ import annotations

import io

import numpy as np


def draw_map(
    lat: np.ndarray,
    lon: np.ndarray,
    colour: np.ndarray,
    title: str,
    colour_name: str,
    centres: tuple[np.ndarray, np.ndarray] | None = None,
    names: list[str] | None = None,
) -> bytes:
    """A PNG of the points (lon on x, lat on y) coloured by the integer ``colour`` (-1: grey); ``centres``
    (lat, lon) are drawn as crosses; ``names`` label the colours in a legend when there are few of them."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 6), dpi=110)
    colour = np.asarray(colour)
    known = colour >= 0
    if (~known).any():
        ax.scatter(lon[~known], lat[~known], s=3, c="lightgrey", label="none", linewidths=0)
    values = np.unique(colour[known])
    cmap = plt.get_cmap("tab10" if len(values) <= 10 else "tab20")
    for v in values:
        sel = colour == v
        label = names[v] if names is not None and v < len(names) else str(v)
        ax.scatter(lon[sel], lat[sel], s=4, color=cmap(int(v) % cmap.N), label=label, linewidths=0, zorder=2)
    if centres is not None:  # under the points, and smaller when there are many, so they never hide the tiles
        size = 25 if len(centres[0]) <= 20 else 8
        ax.scatter(centres[1], centres[0], marker="x", s=size, c="black", linewidths=0.8, label="centres", zorder=1)
    if len(values) <= 12:
        ax.legend(title=colour_name, fontsize=7, markerscale=3, loc="best")
    ax.set_xlabel("longitude (degrees)")
    ax.set_ylabel("latitude (degrees)")
    ax.set_title(f"{title} ({len(lat)} tiles, {len(values)} {colour_name} values)")
    ax.grid(True, alpha=0.3)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()
