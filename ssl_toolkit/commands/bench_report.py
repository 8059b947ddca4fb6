"""A bench's results as files: ``results.json`` (every cell), ``results.csv`` (one row per cell and probe),
``RESULTS.md`` (tasks x (dataset, probe), mean ± std over seeds, the best mean of each column in bold, and
whether the best task beats the baseline by more than three seed standard deviations), ``results.png`` (the same
as grouped bars with the std as error bars) and, for a suite with ``budgets``, ``accuracy_vs_minutes.png``.
Rendering reads only cell records, so a results file can be rendered again without running anything."""

from __future__ import annotations

import csv
import io
import json
import os
import platform
import statistics
from pathlib import Path
from typing import Any

from ssl_toolkit import atomic
from ssl_toolkit.pictures.plots import accuracy_curves, grouped_bars


def hardware(device: str = "auto") -> dict[str, Any]:
    """What the bench ran on: CPU, core count, torch version, and the GPU when one is used."""
    import torch

    from ssl_toolkit.device import resolve_device

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    used = resolve_device(device)
    return {
        "cpu": cpu,
        "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "device": str(used),
        "gpu": torch.cuda.get_device_name(used) if used.type == "cuda" else None,
    }


def columns(records: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(dataset, probe) pairs in first-seen order."""
    seen: dict[tuple[str, str], None] = {}
    for r in records:
        for probe in r["probes"]:
            seen[(r["dataset"], probe)] = None
    return list(seen)


def row(record: dict[str, Any]) -> str:
    """A record's row in the tables: its task, with its budget when the suite gives budgets."""
    return f"{record['task']} ({record['minutes']:g} min)" if record.get("minutes") is not None else record["task"]


def summarise(records: list[dict[str, Any]]) -> dict[tuple[str, str, str], list[float]]:
    """(row, dataset, probe) -> accuracies over seeds."""
    table: dict[tuple[str, str, str], list[float]] = {}
    for r in sorted(records, key=lambda r: r["seed"]):
        for probe, result in r["probes"].items():
            table.setdefault((row(r), r["dataset"], probe), []).append(float(result["accuracy"]))
    return table


SIGMAS = 3  # a task "beats" the baseline when its mean is more than this many seed std above the baseline's


def margins(records: list[dict[str, Any]], baseline: str = "random-init") -> list[str]:
    """For each (dataset, probe): the best pretrained row against the baseline, in points and in seed standard
    deviations (the larger of the two rows' spreads), and whether the margin exceeds ``SIGMAS`` of them; a
    sentence saying why not where it cannot be told (one seed, no baseline)."""
    table = summarise(records)
    rows = list(dict.fromkeys(row(r) for r in records if r["task"] != baseline))
    lines = []
    for dataset, probe in columns(records):
        base = table.get((baseline, dataset, probe))
        scored = [(mean_std(table[(t, dataset, probe)]), t) for t in rows if (t, dataset, probe) in table]
        if not scored or base is None:
            continue
        ((mean, std), best), (base_mean, base_std) = max(scored), mean_std(base)
        n = min(len(table[(best, dataset, probe)]), len(base))
        head = f"- {dataset} {probe}: best {best} {mean:.2f} against {baseline} {base_mean:.2f}"
        head += f" ({mean - base_mean:+.2f})"
        spread = max(std, base_std)
        if n < 2:
            lines.append(f"{head}; one seed, so no seed spread to compare the margin with")
        elif spread == 0:
            lines.append(f"{head}; no spread over {n} seeds")
        else:
            sigmas = (mean - base_mean) / spread
            verdict = "beats it" if sigmas > SIGMAS else f"does not beat it by more than {SIGMAS} std"
            lines.append(f"{head} = {sigmas:.1f} seed std (the larger of {std:.2f}, {base_std:.2f}; n={n}): {verdict}")
    return lines


def mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.mean(values), statistics.stdev(values) if len(values) > 1 else 0.0


HELD_OUT = {  # a record's holdout (data.holdout), as the table's caption names it
    "test": "the test split",
    "validation": "the validation split (carved from the training split; the test split unseen)",
}


def render_markdown(records: list[dict[str, Any]], title: str, machine: dict[str, Any] | None = None) -> str:
    """The results table as Markdown: one row per task, one column per (dataset, probe)."""
    table = summarise(records)
    cols = columns(records)
    tasks = list(dict.fromkeys(row(r) for r in records))
    best = {}
    for dataset, probe in cols:
        means = [mean_std(table[(t, dataset, probe)])[0] for t in tasks if (t, dataset, probe) in table]
        best[(dataset, probe)] = max(means) if means else None
    lines = [f"# {title}", ""]
    if machine:
        gpu = f", GPU {machine['gpu']}" if machine.get("gpu") else ""
        lines += [
            f"Hardware: {machine['cpu']}, {machine['cores']} cores{gpu}; torch {machine['torch']}, "
            f"device {machine['device']}.",
            "",
        ]
    seeds = sorted({r["seed"] for r in records})
    held_out = sorted({r.get("holdout", "test") for r in records})
    pretext = any(r.get("pretext_accuracy") is not None for r in records)
    lines += [
        f"Top-1 accuracy (%) on {' and '.join(HELD_OUT.get(h, h) for h in held_out)}, mean ± std over seeds "
        f"{', '.join(map(str, seeds))} (n = seeds measured); best mean per column in bold."
        + (
            " Pretext acc: the pretext task's training accuracy (%) over the last epoch, mean over seeds."
            if pretext
            else ""
        ),
        "",
        "| task | "
        + " | ".join(f"{d} {p}" for d, p in cols)
        + (" | pretext acc" if pretext else "")
        + " | pretrain s/cell |",
        "|---|" + "---|" * len(cols) + ("---|" if pretext else "") + "---|",
    ]
    for task in tasks:
        cells = []
        for dataset, probe in cols:
            values = table.get((task, dataset, probe))
            if not values:
                cells.append("-")
                continue
            mean, std = mean_std(values)
            # one seed has no spread to show
            text = f"{mean:.2f} ± {std:.2f} (n={len(values)})" if len(values) > 1 else f"{mean:.2f} (n=1)"
            cells.append(
                f"**{text}**" if best[(dataset, probe)] is not None and mean == best[(dataset, probe)] else text
            )
        if pretext:
            accs = [r["pretext_accuracy"] for r in records if row(r) == task and r.get("pretext_accuracy") is not None]
            cells.append(f"{statistics.mean(accs):.1f}" if accs else "-")
        seconds = [r["pretrain_seconds"] for r in records if row(r) == task and r["pretrain_seconds"] > 0]
        cells.append(f"{statistics.mean(seconds):.0f}" if seconds else "-")
        lines.append(f"| {task} | " + " | ".join(cells) + " |")
    against = margins(records)
    if against:
        lines += ["", f"Against random-init (a margin counts when it exceeds {SIGMAS} seed standard deviations):", ""]
        lines += against
    return "\n".join(lines) + "\n"


def render_csv(records: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        [
            "dataset",
            "task",
            "seed",
            "probe",
            "accuracy",
            "probe_seconds",
            "pretrain_seconds",
            "pretext_accuracy",
            "holdout",
            "run",
        ]
    )
    for r in records:
        for probe, result in r["probes"].items():
            writer.writerow(
                [
                    r["dataset"],
                    r["task"],
                    r["seed"],
                    probe,
                    result["accuracy"],
                    result.get("wall_seconds"),
                    r["pretrain_seconds"],
                    r.get("pretext_accuracy"),
                    r.get("holdout", "test"),
                    r["run"],
                ]
            )
    return out.getvalue()


def bar_chart(records: list[dict[str, Any]], title: str) -> bytes:
    """Grouped bars: one group per (dataset, probe), one bar per task, std as error bars."""
    table = summarise(records)
    cols = columns(records)
    tasks = list(dict.fromkeys(row(r) for r in records))
    series = {
        task: [mean_std(table[(task, d, p)]) if (task, d, p) in table else None for d, p in cols] for task in tasks
    }
    return grouped_bars([f"{d}\n{p}" for d, p in cols], series, "top-1 accuracy (%)", title)


def minutes_chart(records: list[dict[str, Any]], title: str) -> bytes | None:
    """Accuracy against pretraining minutes: one panel per (dataset, probe), one line per task (mean, std as
    error bars), baselines as dashed lines; None when the records hold fewer than two budgets."""
    budgets = sorted({r["minutes"] for r in records if r.get("minutes") is not None})
    if len(budgets) < 2:
        return None
    curves: dict[tuple[str, str], dict[str, list[tuple[float, float, float]]]] = {}
    levels: dict[tuple[str, str], dict[str, tuple[float, float]]] = {}
    record_of = {(row(r), r["dataset"]): r for r in records}
    for (label, dataset, probe), values in summarise(records).items():
        record = record_of[(label, dataset)]
        mean, std = mean_std(values)
        if record.get("minutes") is None:
            levels.setdefault((dataset, probe), {})[label] = (mean, std)
        else:
            curves.setdefault((dataset, probe), {}).setdefault(record["task"], []).append(
                (record["minutes"], mean, std)
            )
    return accuracy_curves(curves, levels, "pretraining minutes", "top-1 accuracy (%)", title)


def write_results(suite: Any, records: list[dict[str, Any]], out: Path, machine: dict[str, Any]) -> None:
    """Every result file of a bench, from its finished cells."""
    title = f"Bench: {suite.name}"
    payload = {"suite": suite.name, "suite_file": suite.path, "hardware": machine, "cells": records}
    atomic.write_text(out / "results.json", json.dumps(payload, indent=2) + "\n")
    atomic.write_text(out / "results.csv", render_csv(records))
    atomic.write_text(out / "RESULTS.md", render_markdown(records, title, machine))
    if records:
        atomic.write_bytes(out / "results.png", bar_chart(records, title))
    curves = minutes_chart(records, title)
    if curves is not None:
        atomic.write_bytes(out / "accuracy_vs_minutes.png", curves)
