"""``ssl bench``: suites checked up front, an interrupted bench resumes without redoing finished cells, and the
table rendered from a fixed results file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import ssl_toolkit.commands.bench as bench_command
from ssl_toolkit.commands.bench import bench, load_suite
from ssl_toolkit.commands.bench_report import margins, render_csv, render_markdown
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
    assert [c["holdout"] for c in results["cells"]] == ["test"] * 3
    records = [json.loads(x) for x in (first / "metrics.jsonl").read_text().splitlines()]
    last_step = [r for r in records if r["kind"] == "step"][-1]  # two steps: the first epoch did not finish
    assert results["cells"][0]["pretext_accuracy"] == round(100 * last_step["acc"], 2)
    assert "pretext_accuracy" not in results["cells"][2]  # random-init was not pretrained
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
    assert render_csv(FIXED_RESULTS).splitlines()[1] == "d,a,1,lin,90.0,,10.0,,test,r"
    assert "on the test split" in table


def test_the_table_shows_the_pretext_accuracy_and_names_a_validation_split() -> None:
    cells = [
        {**FIXED_RESULTS[0], "holdout": "validation", "pretext_accuracy": 40.0},
        {**FIXED_RESULTS[1], "holdout": "validation", "pretext_accuracy": 50.0},
        {**FIXED_RESULTS[2], "holdout": "validation"},
    ]
    table = render_markdown(cells, "Bench: validation")
    rows = [line for line in table.splitlines() if line.startswith("|")]
    assert rows[0] == "| task | d lin | pretext acc | pretrain s/cell |"
    assert rows[2] == "| a | 91.00 ± 1.41 (n=2) | 45.0 | 15 |"  # the mean over seeds
    assert rows[3] == "| b | **95.50 (n=1)** | - | 5 |"
    assert "on the validation split (carved from the training split; the test split unseen)" in table
    assert render_csv(cells).splitlines()[1] == "d,a,1,lin,90.0,,10.0,40.0,validation,r"


def test_the_table_says_whether_the_best_task_beats_random_init_by_three_seed_std() -> None:
    def cell(task: str, seed: int, lin: float, knn: float) -> dict:
        probes = {"lin": {"accuracy": lin}, "knn": {"accuracy": knn}}
        return {"dataset": "d", "task": task, "seed": seed, "run": "r", "pretrain_seconds": 1.0, "probes": probes}

    records = [cell("random-init", 1, 80.0, 70.0), cell("random-init", 2, 82.0, 72.0)]
    records += [cell("a", 1, 90.0, 71.0), cell("a", 2, 92.0, 74.0), cell("b", 1, 85.0, 60.0), cell("b", 2, 85.0, 60.0)]
    lines = margins(records)
    # lin: a 91 against 81, spreads 1.41 and 1.41: 7.1 std; knn: a 72.5 against 71, spreads 2.12 and 1.41: 0.7 std
    assert lines[0] == (
        "- d lin: best a 91.00 against random-init 81.00 (+10.00) = 7.1 seed std (the larger of 1.41, 1.41; n=2): "
        "beats it"
    )
    assert lines[1].startswith("- d knn: best a 72.50 against random-init 71.00 (+1.50) = 0.7 seed std")
    assert lines[1].endswith("does not beat it by more than 3 std")
    one_seed = margins([r for r in records if r["seed"] == 1])
    assert one_seed[0].endswith("one seed, so no seed spread to compare the margin with")
    assert "Against random-init" in render_markdown(records, "t")


def test_a_suite_with_budgets_runs_each_task_per_budget_and_draws_accuracy_against_minutes(tmp_path: Path) -> None:
    suite = tmp_path / "budgets.yaml"
    suite.write_text(
        "name: budgets\nseeds: [1]\npretrain: {train.batch_size: 32, train.max_steps: 2}\n"
        "datasets: {mnist: {data.subset: 120, backbone.name: mnist_net}}\ntasks: {transpose: {}}\n"
        "baselines: [random-init]\nbudgets: [0.01, 0.02]\nprobes: {knn: {probe.k: 5}}\n"
    )
    out = tmp_path / "bench"
    assert bench(suite, out, "cpu", progress=lambda line: None)["cells"] == 3
    for minutes in ("0.01", "0.02"):
        record = json.loads((out / "mnist" / "transpose" / f"{minutes}min" / "seed1" / "cell.json").read_text())
        assert record["minutes"] == float(minutes) and record["epochs"] >= 1
    table = (out / "RESULTS.md").read_text()
    assert "| transpose (0.01 min) |" in table and "| transpose (0.02 min) |" in table
    assert (out / "accuracy_vs_minutes.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the epochs a budget was fitted to are the run's own, not a change of the suite: a second bench skips all
    assert bench(suite, out, "cpu", progress=lambda line: None)["skipped"] == 3
    suite.write_text(suite.read_text().replace("budgets: [0.01, 0.02]", "budgets: [fast]"))
    with pytest.raises(UserError, match="budgets must be a list of positive minutes"):
        load_suite(suite)


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
    if name == "mnist":  # the generative second wave
        assert {c.task for c in suite.cells} >= {
            "gan-pggan-progressive",
            "gan-style",
            "adagan",
            "pix2pix",
            "pix2pix-encoder-decoder",
            "cyclegan",
            "completion",
        }


PATCH_SCREEN = {f"{t}-{s}" for t in ("context", "jigsaw") for s in ("default", "medium-w0.5", "small-w0.5")}
LEARNERS = {"simclr", "moco", "gassl", "byol", "barlow_twins", "vicreg", "dino", "mae"}


@pytest.mark.parametrize(
    ("name", "tasks"),
    [
        ("eurosat-learners", LEARNERS | {"geolocation", "random-init"}),
        ("eurosat-gassl", {"moco", "gassl", "geolocation", "random-init"}),
        ("eurosat-budget", LEARNERS | {"rotation", "context", "jigsaw", "damaged_jigsaw", "geolocation"}),
        ("eurosat-top-3seeds", {"geolocation", "vicreg", "random-init"}),
        ("eurosat-patch-screen", PATCH_SCREEN),
    ],
)
def test_the_eurosat_learner_and_budget_suites_resolve(name: str, tasks: set[str]) -> None:
    suite = load_suite(Path(__file__).parents[2] / "configs" / "bench" / f"{name}.yaml")
    assert {c.task for c in suite.cells} >= tasks
    if name == "eurosat-budget":  # every task once per budget, seed and split; the baseline once per seed and split
        assert len(suite.cells) == 13 * 3 * 3 * 2 + 3 * 2
        assert {c.config["train"]["minutes"] for c in suite.cells if c.config} == {5.0, 15.0, 60.0}
    if name == "eurosat-patch-screen":  # recipes are chosen on a validation split, never on the test split
        assert {c.config["data"]["holdout"] for c in suite.cells} == {"validation"}


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
