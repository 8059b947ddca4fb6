"""Collapse monitors on embeddings with known spread, and the warning a collapsing backbone gets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

from ssl_toolkit.data import DataOptions, Normalizer, load_data
from ssl_toolkit.engine.collapse import CollapseMonitor, collapse_message, embedding_health


def test_spread_embeddings_are_healthy() -> None:
    health = embedding_health(torch.randn(2000, 32, generator=torch.Generator().manual_seed(0)))
    assert health["embed_std"] == pytest.approx(1.0, abs=0.05)  # uniform on the sphere
    assert health["embed_rank"] > 28 and health["dead_units"] == 0
    assert collapse_message(health, 32) is None


def test_one_point_and_one_direction_are_collapse() -> None:
    same = embedding_health(torch.ones(100, 16))
    assert same["embed_std"] == pytest.approx(0.0, abs=1e-6) and same["embed_rank"] == 0.0
    assert "one point" in collapse_message(same, 16)
    line = torch.randn(100, 1) * torch.randn(1, 16)  # every embedding on one line through the origin
    one_direction = embedding_health(line + 0.0)
    assert one_direction["embed_rank"] < 1.5
    assert "one direction" in collapse_message(one_direction, 16)
    half_dead = torch.randn(50, 8)
    half_dead[:, :4] = 0
    assert embedding_health(half_dead)["dead_units"] == 0.5


class Constant(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.ones(len(x), 10)


def test_the_monitor_warns_once_and_restores_train_mode() -> None:
    data = load_data("mnist", DataOptions(subset=100))
    monitor = CollapseMonitor(data, Normalizer.for_data(data, torch.device("cpu")), torch.device("cpu"))
    task = nn.Sequential(Constant()).train()
    health, warning = monitor.measure(task, task[0])
    assert warning and health["collapse_warning"] == 1.0 and task.training
    health, warning = monitor.measure(task, task[0])
    assert warning is None and "collapse_warning" not in health


def test_every_logged_record_holds_the_monitors(ssl, tmp_path: Path) -> None:
    run = tmp_path / "run"
    assert ssl("pretrain", "--out", run, "data.subset=130", "train.batch_size=32", "train.log_every=2")[0] == 0
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert {r["kind"] for r in records} == {"step", "epoch"}
    assert all(0 <= r["embed_std"] and 0 <= r["embed_rank"] <= 128 and 0 <= r["dead_units"] <= 1 for r in records)
