"""``ssl bench SUITE.yaml``: tasks x datasets x seeds, each cell a pretrain run and its probes, then the tables.

A suite (YAML, read with ``safe_load``)::

    name: mnist
    seeds: [1, 2, 3]
    pretrain: {train.epochs: 1}            # config keys for every pretrain run (not the probes)
    datasets:                              # label -> config keys (data.name defaults to the label); its
      mnist: {}                            #   data.* keys reach the probes too, backbone.* the baselines
    tasks:                                 # label -> config keys (task.name defaults to the label)
      transpose: {}
      gan: {optim.name: adam, optim.lr: 0.0002}
    baselines: [random-init]               # rows probed without pretraining (optional)
    budgets: [5, 15, 60]                   # optional: every task cell once per budget (train.minutes), for the
                                           #   accuracy-vs-minutes curve (accuracy_vs_minutes.png)
    probes:                                # label -> probe keys (protocol defaults to the label)
      linear: {}
      knn: {probe.k: 20}
      linear-1pct: {protocol: linear, probe.label_fraction: 0.01}

Every cell's configs are resolved before the first one runs, so a typo fails at once. Cells live in
``OUT/<dataset>/<task>/[<budget>min/]seed<seed>/`` (the run folder, its probes under ``probes/<label>/``); a cell
that holds ``cell.json`` is finished and skipped, a pretrain run stopped midway resumes from its checkpoint, so an
interrupted bench continues where it stopped. The results (``results.json``, ``results.csv``, ``RESULTS.md``, a
bar chart) are rewritten from every finished cell after each cell.
"""

from __future__ import annotations

import argparse
import copy
import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ssl_toolkit import atomic, lock
from ssl_toolkit import config as cfg
from ssl_toolkit.build import resolve_config, resolve_probe_config
from ssl_toolkit.commands.bench_report import hardware, write_results
from ssl_toolkit.commands.pretrain import pretrain
from ssl_toolkit.commands.probe import probe
from ssl_toolkit.engine.metrics import MetricsLog
from ssl_toolkit.errors import UserError
from ssl_toolkit.registry import PROBES

SUITE_KEYS = {"name", "seeds", "pretrain", "datasets", "tasks", "baselines", "probes", "budgets"}
BASELINES = ("random-init",)


@dataclass
class Suite:
    name: str
    seeds: list[int]
    pretrain: dict[str, Any]
    datasets: dict[str, dict[str, Any]]
    tasks: dict[str, dict[str, Any]]
    baselines: list[str]
    probes: dict[str, dict[str, Any]]
    path: str = ""
    cells: list[Cell] = field(default_factory=list)
    budgets: list[float] = field(default_factory=list)  # minutes of pretraining (train.minutes); [] = the configs' own


@dataclass
class Cell:
    dataset: str
    task: str  # a task label, or a baseline
    seed: int
    config: dict[str, Any] | None  # the resolved pretrain config (None for a baseline)
    data_keys: list[tuple[str, Any]]  # data.* and backbone.* keys of the dataset entry
    minutes: float | None = None  # the suite's budget for this cell (train.minutes), if it gives budgets

    def folder(self, out: Path) -> Path:
        budget = () if self.minutes is None else (f"{self.minutes:g}min",)
        return out.joinpath(self.dataset, self.task, *budget, f"seed{self.seed}")

    def definition(self, suite: Suite) -> dict[str, Any]:
        """What the cell's results depend on: its pretrain config (a baseline: its data and backbone keys) and
        the suite's probes; written as ``definition.json`` when the cell starts, checked on every later run."""
        return {
            "config": self.config,
            "data_keys": [[k, v] for k, v in self.data_keys],
            "probes": suite.probes,
        }


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise UserError(f"{where}: expected a mapping of key: value, got {type(value).__name__}")
    return {str(k): v for k, v in value.items()}


def _labelled(value: Any, where: str) -> dict[str, dict[str, Any]]:
    """``{label: {key: value}}`` from a mapping, or from a list of labels."""
    if isinstance(value, list):
        value = {str(v): {} for v in value}
    entries = _mapping(value, where)
    if not entries:
        raise UserError(f"{where}: needs at least one entry")
    return {label: _mapping(keys, f"{where}.{label}") for label, keys in entries.items()}


def load_suite(path: Path) -> Suite:
    """Read and check a suite file; every cell's pretrain config is resolved here."""
    raw = cfg.load_yaml(path)
    if not isinstance(raw, dict):
        raise UserError(f"{path}: expected a mapping with {', '.join(sorted(SUITE_KEYS))}")
    unknown = sorted(set(raw) - SUITE_KEYS)
    if unknown:
        raise UserError(f"{path}: unknown key '{unknown[0]}'; a suite has {', '.join(sorted(SUITE_KEYS))}")
    seeds = raw.get("seeds", [1])
    if not isinstance(seeds, list) or not seeds or not all(isinstance(s, int) for s in seeds):
        raise UserError(f"{path}: seeds must be a list of integers, got {seeds!r}")
    baselines = raw.get("baselines") or []
    if not isinstance(baselines, list) or any(b not in BASELINES for b in baselines):
        raise UserError(f"{path}: baselines must be a list from {', '.join(BASELINES)}, got {baselines!r}")
    budgets = raw.get("budgets") or []
    if not isinstance(budgets, list) or not all(
        isinstance(b, (int, float)) and not isinstance(b, bool) and b > 0 for b in budgets
    ):
        raise UserError(f"{path}: budgets must be a list of positive minutes, got {budgets!r}")
    suite = Suite(
        name=str(raw.get("name") or path.stem),
        seeds=seeds,
        pretrain=_mapping(raw.get("pretrain"), f"{path}: pretrain"),
        datasets=_labelled(raw.get("datasets"), f"{path}: datasets"),
        tasks=_labelled(raw.get("tasks") or {}, f"{path}: tasks") if raw.get("tasks") or not baselines else {},
        baselines=baselines,
        probes=_labelled(raw.get("probes"), f"{path}: probes"),
        path=str(path),
        budgets=[float(b) for b in budgets],
    )
    for label, keys in suite.probes.items():
        protocol = keys.get("protocol", label)
        if protocol not in PROBES.names():
            raise UserError(f"{path}: probe '{label}' has unknown protocol '{protocol}' ({', '.join(PROBES.names())})")
        try:
            resolve_probe_config(protocol, None, [(k, v) for k, v in keys.items() if k != "protocol"])
        except UserError as e:
            raise UserError(f"{path}: probe '{label}': {e}") from None
    for kind, labels in (("dataset", suite.datasets), ("task", suite.tasks), ("probe", suite.probes)):
        for label in labels:
            if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.+-]*", label) or ".." in label:
                raise UserError(
                    f"{path}: {kind} label {label!r} names a folder under --out: use letters, digits and _ . + - "
                    f"(for a path give e.g. 'mydata: {{data.name: /path}}')"
                )
    for dataset, data_keys in suite.datasets.items():
        data_keys = {"data.name": dataset, **data_keys}
        shared = [(k, v) for k, v in data_keys.items() if k.startswith(("data.", "backbone."))]
        for seed in suite.seeds:
            for task, task_keys in suite.tasks.items():
                for minutes in suite.budgets or [None]:
                    keys = {**suite.pretrain, **data_keys, "task.name": task, **task_keys, "train.seed": seed}
                    if minutes is not None:
                        keys["train.minutes"] = minutes
                    try:
                        config = resolve_config({}, list(keys.items()))
                    except UserError as e:
                        raise UserError(f"{path}: task '{task}' on '{dataset}': {e}") from None
                    suite.cells.append(Cell(dataset, task, seed, config, shared, minutes))
            suite.cells.extend(Cell(dataset, b, seed, None, shared) for b in suite.baselines)
    return suite


def check_unchanged(cell: Cell, suite: Suite, out: Path) -> None:
    """A cell run before must have been run with what the suite gives it now: its pretrain config, and (recorded
    in ``definition.json``) its probes' keys and a baseline's data and backbone keys."""
    folder = cell.folder(out)
    recorded = folder / "definition.json"
    if recorded.exists():
        try:
            before = json.loads(recorded.read_text())
        except ValueError:
            raise UserError(f"{recorded} is damaged; remove the cell folder {folder} to run it again") from None
        now = json.loads(json.dumps(cell.definition(suite)))  # as it reads back from JSON
        for part in ("data_keys", "probes"):
            if before.get(part) != now[part]:
                raise UserError(
                    f"{folder} was run with {part.replace('_', ' ')} {before.get(part)!r} but the suite now gives "
                    f"{now[part]!r}; use another --out for a changed suite"
                )
    if cell.config is None or not (folder / "config.yaml").exists():
        return
    saved = cfg.flatten(cfg.load_yaml(folder / "config.yaml"))
    wanted = cfg.flatten(cell.config)
    # keys that only say how a run is carried out do not count, nor keys added to the toolkit after the run
    # was made, when the suite leaves them at their default
    ignore = set(cfg.RUN_ONLY_KEYS)
    if cell.config["train"].get("minutes") is not None:
        ignore.add("train.epochs")  # fitted to train.minutes when the run started, and written into its config
    changed = cfg.changed_keys(cfg.unflatten(saved), cell.config, ignore)
    if changed:
        raise UserError(
            f"{folder} was run with {changed[0]}={saved.get(changed[0])!r} but the suite now gives "
            f"{wanted[changed[0]]!r}; use another --out for a changed suite"
        )


def run_cell(cell: Cell, suite: Suite, out: Path, device: str) -> dict[str, Any]:
    """Pretrain (or resume) and probe one cell; returns its record (also written as ``cell.json``)."""
    folder = cell.folder(out)
    t0 = time.time()
    pretrain_s = 0.0
    if not (folder / "definition.json").exists():
        atomic.write_text(folder / "definition.json", json.dumps(cell.definition(suite), indent=2) + "\n")
    if cell.config is not None and not (folder / "backbone.safetensors").exists():
        resume = (folder / "checkpoints" / "last.pt").exists()
        # a resumed cell goes on with the config it started with (its epochs fitted to train.minutes, say), which
        # check_unchanged found to be the suite's
        config = resolve_config(cfg.load_yaml(folder / "config.yaml"), []) if resume else copy.deepcopy(cell.config)
        config["train"]["device"] = device
        pretrain(config, folder, resume=resume)
        pretrain_s = time.time() - t0
    backbone = cell.config["backbone"]["name"] if cell.config else dict(cell.data_keys).get("backbone.name")
    if cell.config is None and backbone is None:
        raise UserError(f"{suite.path}: baseline '{cell.task}' on '{cell.dataset}' needs backbone.name in the dataset")
    probes: dict[str, dict[str, Any]] = {}
    for label, keys in suite.probes.items():
        target = folder / "probes" / label
        if not (target / "probe.json").exists():
            wanted = (
                ("data.", "backbone.stem", "backbone.width") if cell.config is None else ("data.",)
            )  # a baseline's net
            data_keys = [(k, v) for k, v in cell.data_keys if k.startswith(wanted)]
            overrides = data_keys + [(k, v) for k, v in keys.items() if k != "protocol"]
            probe(
                protocol=keys.get("protocol", label),
                run_dir=folder if cell.config is not None else None,
                backbone_name=None if cell.config is not None else backbone,
                seed=cell.seed,
                out_dir=target,
                overrides=overrides,
                device_name=device,
            )
        probes[label] = json.loads((target / "probe.json").read_text())
    pretext = last_epoch_accuracy(folder / "metrics.jsonl") if cell.config is not None else None
    holdout = cell.config["data"]["holdout"] if cell.config else dict(cell.data_keys).get("data.holdout", "test")
    record = {
        "dataset": cell.dataset,
        "task": cell.task,
        "seed": cell.seed,
        "run": str(folder),
        "holdout": holdout,
        **({"pretext_accuracy": pretext} if pretext is not None else {}),
        **({"minutes": cell.minutes} if cell.minutes is not None else {}),
        **({"epochs": cfg.load_yaml(folder / "config.yaml")["train"]["epochs"]} if cell.config is not None else {}),
        "pretrain_seconds": round(pretrain_s, 2),
        "cell_seconds": round(time.time() - t0, 2),
        "probes": {
            label: {"accuracy": p["accuracy"], "wall_seconds": p.get("wall_seconds")} for label, p in probes.items()
        },
    }
    atomic.write_text(folder / "cell.json", json.dumps(record, indent=2) + "\n")
    return record


def last_epoch_accuracy(metrics: Path) -> float | None:
    """The pretext task's training accuracy (%) at the end of a run: over its last epoch (the last ``epoch``
    record; the last ``step`` record when train.max_steps stopped it inside the first epoch), or None for a learner
    that logs no accuracy. It says whether a puzzle was learned at the end of the budget."""
    records = MetricsLog(metrics).read()
    last = {
        r["kind"]: float(r["acc"]) for r in records if r.get("kind") in ("epoch", "step") and r.get("acc") is not None
    }
    acc = last.get("epoch", last.get("step"))
    return None if acc is None else round(100.0 * acc, 2)


def _print_now(line: str) -> None:
    print(line, flush=True)  # a bench's log is often a file: show each cell as it starts and ends


def bench(suite_path: Path, out: Path | None, device: str = "auto", progress=_print_now) -> dict[str, Any]:
    """Run every unfinished cell of a suite, then write the results; returns a summary."""
    suite = load_suite(suite_path)
    out = out or Path("runs") / f"bench-{suite.name}"
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file; a bench needs a folder")
    for cell in suite.cells:
        check_unchanged(cell, suite, out)
    with lock.exclusive(out, "ssl bench"):
        atomic.write_text(out / "suite.yaml", Path(suite_path).read_text())  # only once the suite is accepted
        return _run_cells(suite, out, device, progress)


def _run_cells(suite: Suite, out: Path, device: str, progress) -> dict[str, Any]:
    machine = hardware(device)
    done = skipped = 0
    for i, cell in enumerate(suite.cells, 1):
        budget = f" ({cell.minutes:g} min)" if cell.minutes is not None else ""
        where = f"[{i}/{len(suite.cells)}] {cell.task}{budget} on {cell.dataset}, seed {cell.seed}"
        if (cell.folder(out) / "cell.json").exists():
            skipped += 1
            progress(f"{where}: finished before, skipped")
            continue
        progress(f"{where}: running")
        record = run_cell(cell, suite, out, device)
        done += 1
        progress(f"{where}: done in {record['cell_seconds']:.0f} s")
        write_results(suite, _finished(suite, out), out, machine)
    records = _finished(suite, out)
    write_results(suite, records, out, machine)
    return {"out": str(out), "cells": len(suite.cells), "ran": done, "skipped": skipped}


def _finished(suite: Suite, out: Path) -> list[dict[str, Any]]:
    records = []
    for cell in suite.cells:
        path = cell.folder(out) / "cell.json"
        if path.exists():
            records.append(json.loads(path.read_text()))
    return records


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "bench",
        help="tasks x datasets x seeds x probes -> RESULTS.md, results.csv/json, a bar chart",
        description="Run a benchmark suite (see configs/bench/): each cell is a pretrain run plus its probes. "
        "Finished cells are skipped, so an interrupted bench continues where it stopped.",
    )
    p.add_argument("suite", help="suite YAML, e.g. configs/bench/mnist.yaml")
    p.add_argument("--out", help="output folder (default runs/bench-<suite name>)")
    p.add_argument("--device", default="auto", help="auto (default), cpu, cuda or cuda:N")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> None:
    summary = bench(Path(args.suite), Path(args.out) if args.out else None, args.device)
    print(
        f"bench: {summary['cells']} cells ({summary['ran']} run now, {summary['skipped']} finished before) "
        f"-> {summary['out']}/RESULTS.md"
    )
