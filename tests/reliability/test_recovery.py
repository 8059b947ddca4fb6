"""Faults a run recovers from: a process killed at the worst moments, a torn metrics line, another thread count;
and what two identical runs must share to the byte."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

from ssl_toolkit.engine import checkpoint

# 64 MNIST images in batches of 16: 4 steps an epoch; a log record every 2 steps and a checkpoint at step 4
TINY = ["data.subset=64", "train.batch_size=16", "train.epochs=2", "train.log_every=2", "train.checkpoint_every=4"]


def folder_state(run: Path) -> dict[str, object]:
    """What a finished run folder holds: its records (less wall time), its files, its final weights."""
    lines = (run / "metrics.jsonl").read_text().splitlines()
    records = [{k: v for k, v in json.loads(line).items() if k != "elapsed_s"} for line in lines]
    files = sorted(str(p.relative_to(run)) for p in run.rglob("*") if p.is_file() and "plots" not in p.parts)
    return {"records": records, "files": files, "weights": (run / "backbone.safetensors").read_bytes()}


@pytest.fixture
def uninterrupted(ssl, tmp_path: Path) -> dict[str, object]:
    assert ssl("pretrain", "--task", "rotation", "--out", tmp_path / "whole", *TINY)[0] == 0
    return folder_state(tmp_path / "whole")


def kill_when_saving(monkeypatch, name: str, nth: int) -> None:
    """Stop the process (as a kill would: no clean-up of the run) when it is about to write checkpoint ``name``
    for the ``nth`` time."""
    real = checkpoint.save
    seen = {"count": 0}

    def save(path: Path, state: dict) -> None:
        seen["count"] += path.name == name
        if path.name == name and seen["count"] == nth:
            (path.parent / f".{name}.x1y2.tmp").write_bytes(b"half a checkpoint")  # what a kill mid-write leaves
            raise KeyboardInterrupt
        real(path, state)

    monkeypatch.setattr(checkpoint, "save", save)


@pytest.mark.parametrize(("name", "nth"), [("epoch_0001.pt", 1), ("last.pt", 2)])
def test_a_run_killed_at_its_epoch_checkpoint_resumes_to_the_folder_of_an_uninterrupted_run(
    ssl, tmp_path: Path, monkeypatch, uninterrupted: dict[str, object], name: str, nth: int
) -> None:
    """Killed while writing the epoch-end checkpoints (after the epoch's record, and after the checkpoint at the
    same step from train.checkpoint_every): resumed, the folder holds every record once, every periodic
    checkpoint and no temporary file, and the weights of a run that never stopped."""
    run = tmp_path / "run"
    kill_when_saving(monkeypatch, name, nth)
    assert ssl("pretrain", "--task", "rotation", "--out", run, *TINY)[0] == 130
    monkeypatch.undo()
    code, _, err = ssl("pretrain", "--resume", "--out", run)
    assert code == 0, err
    assert folder_state(run) == uninterrupted


def test_a_torn_last_metrics_line_is_dropped_on_resume(ssl, tmp_path: Path) -> None:
    run = tmp_path / "run"
    assert ssl("pretrain", "--task", "rotation", "--out", run, "--max-steps", 3, *TINY)[0] == 0
    with (run / "metrics.jsonl").open("a") as f:
        f.write('{"kind": "step", "step": 4, "lo')  # a power loss mid-line
    code, _, err = ssl("pretrain", "--resume", "--out", run)
    assert code == 0 and "dropped a torn last line" in err
    assert all(line.endswith("}") for line in (run / "metrics.jsonl").read_text().splitlines())


def test_resume_warns_when_the_thread_count_differs(ssl, tmp_path: Path) -> None:
    run = tmp_path / "run"
    assert ssl("pretrain", "--task", "rotation", "--out", run, "--max-steps", 3, *TINY)[0] == 0
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        code, _, err = ssl("pretrain", "--resume", "--out", run)
    finally:
        torch.set_num_threads(before)
    assert code == 0 and f"written with {before} torch threads, this process uses 1" in err


def test_two_identical_runs_write_byte_identical_weights(ssl, tmp_path: Path) -> None:
    for name in ("a", "b"):
        assert ssl("pretrain", "--out", tmp_path / name, "--max-steps", 2, "data.subset=64")[0] == 0
    a, b = ((tmp_path / n / "backbone.safetensors").read_bytes() for n in ("a", "b"))
    assert a == b


def test_atomic_writes_reach_the_disk_before_and_after_the_rename(tmp_path: Path, monkeypatch) -> None:
    from ssl_toolkit import atomic

    synced: list[str] = []
    real = os.fsync

    def fsync(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    atomic.write_text(tmp_path / "f.txt", "x")
    assert len(synced) == 2 and synced[0].startswith(str(tmp_path / ".f.txt.")) and synced[1] == str(tmp_path)
