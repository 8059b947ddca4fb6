"""``ssl bench``: suites checked up front, an interrupted bench resumes without redoing finished cells, and the
table rendered from a fixed results file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import ssl_toolkit.commands.bench as bench_command
from ssl_toolkit.commands.bench import bench, load_suite
from ssl_toolkit.commands.bench_report import render_csv, render_markdown
from ssl_toolkit.errors import UserError

TINY_SUITE = """
name: tiny
seeds: [1]
pretrain: {train.batch_size: 32, train.max_steps: 2}
datasets:
  mnist: {data.subset: 120, backbone.name: mnist_net}
tasks:
  transpose: {}
  rotation: {train.batch_size: 8}
baselines: [random-init]
probes:
  knn: {probe.k: 5}
  linear-10pct: {protocol: linear, probe.epochs: 2, probe.label_fraction: 0.5}
"""


def test_an_interrupted_bench_resumes_without_redoing_finished_cells(tmp_path: Path, monkeypatch) -> None:
    suite = tmp_path / "tiny.yaml"
    suite.write_text(TINY_SUITE)
    out = tmp_path / "bench"
    real_probe, real_pretrain = bench_command.probe, bench_command.pretrain
    calls = {"probe": 0, "pretrain": 0}

    def probe_interrupted_in_the_second_cell(**kwargs):
        calls["probe"] += 1
        if calls["probe"] == 3:  # cell 1 took two probes; the second cell is stopped at its first probe
            raise KeyboardInterrupt
        return real_probe(**kwargs)

    def counted_pretrain(*args, **kwargs):
        calls["pretrain"] += 1
        return real_pretrain(*args, **kwargs)

    monkeypatch.setattr(bench_command, "probe", probe_interrupted_in_the_second_cell)
    monkeypatch.setattr(bench_command, "pretrain", counted_pretrain)
    with pytest.raises(KeyboardInterrupt):
        bench(suite, out, "cpu", progress=lambda line: None)
    first = out / "mnist" / "transpose" / "seed1"
    second = out / "mnist" / "rotation" / "seed1"
    assert (first / "cell.json").exists() and not (second / "cell.json").exists()
    assert (second / "backbone.safetensors").exists()  # its pretraining had finished
    finished_at = (first / "cell.json").stat().st_mtime_ns
    assert calls == {"probe": 3, "pretrain": 2}

    monkeypatch.setattr(bench_command, "probe", real_probe)
    calls["pretrain"] = 0
    lines: list[str] = []
    summary = bench(suite, out, "cpu", progress=lines.append)
    assert summary == {"out": str(out), "cells": 3, "ran": 2, "skipped": 1}
    assert calls["pretrain"] == 0  # neither finished cell nor finished pretraining was redone
    assert (first / "cell.json").stat().st_mtime_ns == finished_at
    assert "finished before, skipped" in lines[0]
    results = json.loads((out / "results.json").read_text())
    assert [c["task"] for c in results["cells"]] == ["transpose", "rotation", "random-init"]
    assert all(set(c["probes"]) == {"knn", "linear-10pct"} for c in results["cells"])
    assert "| random-init |" in (out / "RESULTS.md").read_text()
    assert (out / "results.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len((out / "results.csv").read_text().splitlines()) == 1 + 3 * 2
    probe_record = json.loads((second / "probes" / "knn" / "probe.json").read_text())
    assert probe_record["test_size"] <= 120  # the dataset entry's data.subset reaches the probes (not 10,000)
    # how a run is carried out (loader workers) is no change, nor a key the toolkit gained after the run
    suite.write_text(TINY_SUITE.replace("train.max_steps: 2}", "train.max_steps: 2, data.num_workers: 0}"))
    saved = (first / "config.yaml").read_text()
    (first / "config.yaml").write_text("\n".join(x for x in saved.splitlines() if "compile" not in x) + "\n")
    assert bench(suite, out, "cpu", progress=lines.append)["skipped"] == 3
    suite.write_text(TINY_SUITE.replace("train.max_steps: 2", "train.max_steps: 3"))
    with pytest.raises(UserError, match="train.max_steps=2 but the suite now gives 3"):
        bench(suite, out, "cpu", progress=lines.append)


FIXED_RESULTS = [
    {
        "dataset": "d",
        "task": "a",
        "seed": 1,
        "run": "r",
        "pretrain_seconds": 10.0,
        "probes": {"lin": {"accuracy": 90.0}},
    },
    {
        "dataset": "d",
        "task": "a",
        "seed": 2,
        "run": "r",
        "pretrain_seconds": 20.0,
        "probes": {"lin": {"accuracy": 92.0}},
    },
    {
        "dataset": "d",
        "task": "b",
        "seed": 1,
        "run": "r",
        "pretrain_seconds": 5.0,
        "probes": {"lin": {"accuracy": 95.5}},
    },
    {
        "dataset": "e",
        "task": "b",
        "seed": 1,
        "run": "r",
        "pretrain_seconds": 5.0,
        "probes": {"knn": {"accuracy": 50.0}},
    },
]


def test_the_table_is_rendered_from_a_fixed_results_file(tmp_path: Path) -> None:
    path = tmp_path / "results.json"
    path.write_text(json.dumps({"cells": FIXED_RESULTS}))
    table = render_markdown(json.loads(path.read_text())["cells"], "Bench: fixed")
    rows = [line for line in table.splitlines() if line.startswith("|")]
    assert rows == [
        "| task | d lin | e knn | pretrain s/cell |",
        "|---|---|---|---|",
        "| a | 91.00 ± 1.41 (n=2) | - | 15 |",
        "| b | **95.50 (n=1)** | **50.00 (n=1)** | 5 |",
    ]
    assert table.startswith("# Bench: fixed")
    assert render_csv(FIXED_RESULTS).splitlines()[1] == "d,a,1,lin,90.0,,10.0,r"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "name: x\nseeds: [1]\ndatasets: {mnist: {}}\ntasks: {transpose: {}}\nprobes: {knn: {}}\nextra: 1",
            "unknown key 'extra'",
        ),
        ("datasets: {mnist: {}}\ntasks: {jigsw: {}}\nprobes: {knn: {}}", "unknown task 'jigsw'"),
        ("datasets: {mnist: {}}\ntasks: {transpose: {optim.lr: fast}}\nprobes: {knn: {}}", "optim.lr"),
        ("datasets: {mnist: {}}\ntasks: {transpose: {}}\nprobes: {knnn: {}}", "unknown protocol 'knnn'"),
        ("datasets: {mnist: {}}\ntasks: {transpose: {}}\nprobes: {knn: {probe.kk: 3}}", "probe.kk"),
        ("seeds: one\ndatasets: {mnist: {}}\ntasks: {transpose: {}}\nprobes: {knn: {}}", "seeds must be"),
    ],
)
def test_suite_mistakes_fail_before_any_cell_runs(tmp_path: Path, text: str, message: str) -> None:
    suite = tmp_path / "s.yaml"
    suite.write_text(text)
    with pytest.raises(UserError, match=message) as info:
        load_suite(suite)
    assert str(suite) in str(info.value)


@pytest.mark.parametrize("name", ["mnist", "eurosat"])
def test_the_shipped_suites_resolve(name: str) -> None:
    suite = load_suite(Path(__file__).parents[2] / "configs" / "bench" / f"{name}.yaml")
    assert suite.cells and {c.task for c in suite.cells} >= {"rotation", "jigsaw", "gan", "vae", "random-init"}


def test_a_changed_probe_or_baseline_is_refused_and_the_suite_record_kept(tmp_path: Path) -> None:
    """Changing a probe key (probe.k 5 -> 3) or a baseline's backbone would reuse stale results: refused, and
    the suite.yaml of the run that made the results stays."""
    suite = tmp_path / "s.yaml"
    base = """
name: small
seeds: [1]
datasets:
  mnist: {data.subset: 60, backbone.name: mnist_net}
baselines: [random-init]
probes:
  knn: {probe.k: 5}
"""
    suite.write_text(base)
    out = tmp_path / "bench"
    assert bench(suite, out, "cpu", progress=lambda line: None)["ran"] == 1
    recorded = (out / "suite.yaml").read_text()
    suite.write_text(base.replace("probe.k: 5", "probe.k: 3"))
    with pytest.raises(UserError, match=r"was run with probes .*'probe.k': 5.* now gives .*'probe.k': 3"):
        bench(suite, out, "cpu", progress=lambda line: None)
    assert (out / "suite.yaml").read_text() == recorded
    suite.write_text(base.replace("backbone.name: mnist_net", "backbone.name: resnet18"))
    with pytest.raises(UserError, match="was run with data keys"):
        bench(suite, out, "cpu", progress=lambda line: None)
    assert (out / "suite.yaml").read_text() == recorded
