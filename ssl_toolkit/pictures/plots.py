"""Plots as PNG: loss curves of a run, a 2-d map coloured by class (t-SNE), grouped bars (bench results)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ssl_toolkit import atomic
from ssl_toolkit.pictures.grids import figure_png


def loss_curves(records: list[dict[str, Any]], path: Path, title: str) -> None:
    """Every logged loss (a GAN's two players apart) and pretext accuracy against step, as a PNG. Points are
    marked, so a run shorter than its log interval (one record) still shows; a loss that repeats another one
    (a GAN's ``loss`` is its discriminator's) is drawn once."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [r for r in records if r.get("kind") == "step"]
    if not steps:
        return
    metric_names = sorted({k for r in steps for k in r if k.endswith("loss") or k.endswith("acc")})
    series = {k: ([r["step"] for r in steps if k in r], [r[k] for r in steps if k in r]) for k in metric_names}
    losses = [k for k in metric_names if k.endswith("loss")]
    losses = [k for k in losses if not any(o != k and o in losses and series[o] == series[k] for o in losses if o < k)]
    accs = [k for k in metric_names if k.endswith("acc")]
    fig, axes = plt.subplots(1, 2 if accs else 1, figsize=(10 if accs else 5, 3.5), squeeze=False)
    style = dict(marker="o", markersize=3)
    for k in losses:
        axes[0][0].plot(*series[k], label=k, **style)
    axes[0][0].set_xlabel("step")
    axes[0][0].set_ylabel("loss")
    axes[0][0].legend()
    if accs:
        for k in accs:
            axes[0][1].plot(*series[k], label=k, **style)
        axes[0][1].set_xlabel("step")
        axes[0][1].set_ylabel("pretext accuracy")
        axes[0][1].set_ylim(0, 1)
        axes[0][1].legend()
    fig.suptitle(title)
    fig.tight_layout()
    atomic.write_bytes(path, figure_png(fig, dpi=100, tight=False))


def class_scatter(points: np.ndarray, labels: np.ndarray, class_names: tuple[str, ...], title: str) -> bytes:
    """2-d points (N, 2) coloured by class (a t-SNE map), legend by class name (PNG bytes)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 6.5))
    present = np.unique(labels)
    cmap = plt.get_cmap("tab10" if len(class_names) <= 10 else "tab20")
    for c in present:
        sel = labels == c
        name = class_names[c] if c < len(class_names) else str(c)
        ax.scatter(points[sel, 0], points[sel, 1], s=6, color=cmap(int(c) % cmap.N), label=name, linewidths=0)
    if len(present) <= 20:
        ax.legend(fontsize=7, markerscale=2.5, loc="center left", bbox_to_anchor=(1.0, 0.5), title="class")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, fontsize=9)
    return figure_png(fig)


def grouped_bars(
    groups: list[str], series: dict[str, list[tuple[float, float] | None]], ylabel: str, title: str
) -> bytes:
    """One group of bars per entry of ``groups`` (x labels), one bar per series in each, (mean, std) with std as
    an error bar; None leaves a gap. The y range fits the means (PNG bytes)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    width = 0.8 / max(len(series), 1)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.2 * len(groups) * max(1, len(series)) * 0.35 + 3), 4))
    for i, (name, stats) in enumerate(series.items()):
        values = [s if s is not None else (0.0, 0.0) for s in stats]
        xs = [c + (i - (len(series) - 1) / 2) * width for c in range(len(groups))]
        ax.bar(xs, [m for m, _ in values], width, yerr=[s for _, s in values], capsize=2, label=name)
    ax.set_xticks(range(len(groups)), groups)
    ax.set_ylabel(ylabel)
    means = [s[0] for stats in series.values() for s in stats if s is not None]
    if means:
        ax.set_ylim(max(0.0, min(means) - 10), min(100.0, max(means) + 5))
    ax.set_title(title)
    ax.legend(fontsize=7, ncols=2)
    fig.tight_layout()
    return figure_png(fig, dpi=100, tight=False)


def accuracy_curves(
    panels: dict[tuple[str, str], dict[str, list[tuple[float, float, float]]]],
    levels: dict[tuple[str, str], dict[str, tuple[float, float]]],
    xlabel: str,
    ylabel: str,
    title: str,
) -> bytes:
    """One panel per key of ``panels`` ((dataset, probe)), one line per series of (x, mean, std) points with the
    std as error bars, and ``levels`` (e.g. baselines) as dashed horizontal lines (PNG bytes)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = list(dict.fromkeys([*panels, *levels]))
    fig, axes = plt.subplots(1, len(keys), figsize=(5 * len(keys), 4), squeeze=False)
    for ax, key in zip(axes[0], keys, strict=True):
        for name, points in panels.get(key, {}).items():
            xs, means, stds = zip(*sorted(points), strict=True)
            ax.errorbar(xs, means, yerr=stds, marker="o", capsize=3, label=name)
        for name, (mean, _) in levels.get(key, {}).items():
            ax.axhline(mean, linestyle="--", color="grey", linewidth=1)
            ax.annotate(name, (0.01, mean), xycoords=("axes fraction", "data"), fontsize=7, va="bottom")
        ax.set_xscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.set_title(f"{key[0]} {key[1]}", fontsize=9)
        ax.legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    return figure_png(fig, dpi=100, tight=False)
