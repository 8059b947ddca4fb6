"""Metrics as JSON lines: running means of what the steps report, and ``TrainLog``, which turns them into the
step and epoch records of ``metrics.jsonl`` with the backbone's collapse health."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from ssl_toolkit import atomic
from ssl_toolkit.engine import distributed
from ssl_toolkit.engine.collapse import CollapseMonitor
from ssl_toolkit.engine.distributed import World
from ssl_toolkit.errors import UserError


class RunningMeans:
    """Sums of per-step metrics, kept on the device until read (no sync per step), and their counts.

    Each metric is averaged over the steps that reported it (a GAN reports its generator loss only on the steps
    that take a generator step); ``count`` is the number of steps.
    """

    def __init__(self) -> None:
        self.sums: dict[str, torch.Tensor] = {}
        self.counts: dict[str, int] = {}
        self.count = 0

    def add(self, values: dict[str, torch.Tensor]) -> None:
        for k, v in values.items():
            self.sums[k] = self.sums.get(k, 0.0) + v.detach().float()
            self.counts[k] = self.counts.get(k, 0) + 1
        self.count += 1

    def means(self) -> dict[str, float]:
        return {k: v.item() / self.counts[k] for k, v in self.sums.items()} if self.count else {}

    def reset(self) -> None:
        self.sums, self.counts, self.count = {}, {}, 0

    def state(self) -> dict[str, Any]:
        """For checkpoints: float32 sums round-trip exactly through Python floats."""
        return {"count": self.count, "counts": dict(self.counts), "sums": {k: float(v) for k, v in self.sums.items()}}

    def load(self, state: dict[str, Any], device: torch.device) -> None:
        self.count = int(state["count"])
        self.sums = {k: torch.tensor(v, dtype=torch.float32, device=device) for k, v in state["sums"].items()}
        self.counts = {k: int(state.get("counts", {}).get(k, self.count)) for k in self.sums}


class MetricsLog:
    """Appends one JSON object per line to ``metrics.jsonl``.

    ``truncate`` drops lines logged after a checkpoint, so a resumed run does not log a record twice.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.count = 0  # records written, once ``truncate`` has counted those kept

    def truncate(self, step: int, records: int | None = None) -> int:
        """Keep the first ``records`` records (what a checkpoint saw written), or, for checkpoints that did not
        count them, the records up to ``step``; step 0 starts afresh. Returns how many are kept."""
        if not self.path.exists():
            return 0
        lines = self.read()
        kept = (
            lines[:records] if records is not None and step > 0 else [r for r in lines if 0 < r.get("step", 0) <= step]
        )
        atomic.write_text(self.path, "".join(json.dumps(r) + "\n" for r in kept))
        self.count = len(kept)
        return self.count

    def read(self) -> list[dict[str, Any]]:
        """The records; a torn last line (a power loss or a full disk mid-write) is dropped with a note, a
        damaged line before it is a UserError naming the file and line."""
        if not self.path.exists():
            return []
        lines = [line for line in self.path.read_text(errors="replace").splitlines() if line.strip()]
        records = []
        for i, line in enumerate(lines):
            try:
                records.append(json.loads(line))
            except ValueError:
                if i == len(lines) - 1:
                    print(f"note: {self.path}: dropped a torn last line", file=sys.stderr)
                    break
                raise UserError(f"{self.path} line {i + 1} is not a JSON record; the file is damaged") from None
        return records

    def write(self, record: dict[str, Any]) -> None:
        try:
            with self.path.open("a") as f:
                f.write(json.dumps(record) + "\n")
        except OSError as e:
            raise UserError(f"cannot write {self.path}: {e.strerror or e}") from None
        self.count += 1


class TrainLog:
    """What one training loop logs. Every step's outputs go into a log window and the epoch in progress
    (``RunningMeans``, averaged over the ranks when they are written); every ``log_every`` steps and at each
    epoch end rank 0 writes a record with the backbone's collapse health (``CollapseMonitor``, measured once
    per step: the epoch record reuses its last log step's). Both windows are saved in checkpoints
    (``state``/``load``), so a resumed run writes exactly the records an uninterrupted one would. A progress
    bar shows on a terminal."""

    def __init__(
        self,
        path: Path,
        monitor: CollapseMonitor | None,
        backbone: torch.nn.Module,
        task: torch.nn.Module,
        world: World,
        log_every: int,
        lr_at: Callable[[int], float],
    ) -> None:
        self.metrics, self.monitor, self.world = MetricsLog(path), monitor, world
        self.backbone, self.task, self.log_every, self.lr_at = backbone, task, log_every, lr_at
        self.window, self.epoch_means = RunningMeans(), RunningMeans()  # the log window, the epoch in progress
        self._health: dict[int, dict[str, float]] = {}
        self.bar: Any = None
        self._resume_records: int | None = None
        self._last_record: dict[str, float] = {}
        self.lines: ProgressLines | None = None

    def start(self, step: int, end: int, show_progress: bool | None) -> None:
        """Drop records after ``step`` (a resumed run's checkpoint); open the progress bar at ``step`` of
        ``end`` (``show_progress`` None: on a terminal only)."""
        if self.world.main:
            self.metrics.path.parent.mkdir(parents=True, exist_ok=True)
            self.metrics.truncate(step, self._resume_records)
        disable = True if not self.world.main else None if show_progress is None else not show_progress
        self.bar = tqdm(total=end, initial=step, desc="pretrain", unit="step", disable=disable)
        self.t_start = time.time()
        # no terminal (a log file, CI): a plain line now and then instead of the bar
        self.lines = (
            ProgressLines(step, end) if self.world.main and show_progress is None and self.bar.disable else None
        )

    def add(self, out: dict[str, torch.Tensor], step: int, epoch: int) -> None:
        """A finished step's outputs (``step`` is the count of steps now taken)."""
        self.window.add(out)
        self.epoch_means.add(out)
        self.bar.update(1)
        if self.lines is not None:
            self.lines.step(step, self._last_record)
        if step % self.log_every == 0:
            self.write_window(step, epoch)

    def write_window(self, step: int, epoch: int, reset: bool = True) -> None:
        """The window's means as a step record (``reset`` False: the window stays open)."""
        record = distributed.mean_over_ranks(self.window.means(), self.world)
        if not record:
            return
        if reset:
            self.window.reset()
        if not self.world.main:
            return
        self.bar.set_postfix({k: f"{v:.3f}" for k, v in record.items()})
        self._last_record = record
        lr, elapsed = self.lr_at(step - 1), round(time.time() - self.t_start, 2)
        health = self.health(step)
        self.metrics.write(
            {"kind": "step", "step": step, "epoch": epoch, "lr": lr, **record, **health, "elapsed_s": elapsed}
        )

    def end_epoch(self, step: int, epoch: int, measure: Callable[[], dict[str, float]]) -> None:
        """The epoch's last steps as a step record, then the epoch record with what ``measure`` (the task's
        end-of-epoch hook, rank 0 only) returns."""
        self.write_window(step, epoch)
        means = distributed.mean_over_ranks(self.epoch_means.means(), self.world)
        if self.world.main:
            measured = measure()
            self.metrics.write(
                {"kind": "epoch", "step": step, "epoch": epoch, **means, **self.health(step), **measured}
            )
        self.epoch_means.reset()

    def finish(self, step: int, epoch: int, end: int, measure: Callable[[], dict[str, float]] | None = None) -> None:
        """Stopped by ``--max-steps`` mid-window: show the partial window, but keep it open (it is saved in the
        checkpoint), so a resumed run logs exactly the records an uninterrupted run would, plus this one.
        ``measure``: the task's end-of-epoch hook for a run that stops mid-epoch (its pictures, and its
        measurements as an ``end`` record), so every run ends with pictures of what it learned."""
        if step == end and self.window.count:
            self.write_window(step, epoch, reset=False)
        if measure is not None and self.world.main:
            measured = measure()
            if measured:
                self.metrics.write({"kind": "end", "step": step, "epoch": epoch, **measured})
        self.bar.close()

    def health(self, step: int) -> dict[str, float]:
        if step not in self._health:
            measured, warning = self.monitor.measure(self.task, self.backbone)
            if warning:
                self.bar.write(f"warning: at step {step}, {warning}", file=sys.stderr)
            self._health = {step: measured}
        return self._health[step]

    @property
    def records(self) -> int:
        """How many records ``metrics.jsonl`` holds now (rank 0; what a checkpoint saved now has seen)."""
        return self.metrics.count

    def state(self) -> dict[str, Any]:
        return {"window": self.window.state(), "epoch_means": self.epoch_means.state()}

    def load(self, state: dict[str, Any], device: torch.device, records: int | None = None) -> None:
        """Open windows from a checkpoint, and how many records it saw written (None: not counted)."""
        self.window.load(state["window"], device)
        self.epoch_means.load(state["epoch_means"], device)
        self._resume_records = records


class ProgressLines:
    """Progress for logs that are not a terminal: one line every ``SSL_PROGRESS_SECONDS`` (default 30) seconds,
    ``pretrain: step 120/338 (36%), 2.1 steps/s, 1m44s left, loss 1.234`` on stderr."""

    def __init__(self, start: int, end: int) -> None:
        self.start, self.end = start, end
        self.every = float(os.environ.get("SSL_PROGRESS_SECONDS", 30))
        self.t0 = self.last = time.monotonic()

    def step(self, step: int, record: dict[str, float]) -> None:
        now = time.monotonic()
        if now - self.last < self.every:
            return
        self.last = now
        rate = (step - self.start) / max(now - self.t0, 1e-9)
        left = (self.end - step) / rate if rate > 0 else 0.0
        shown = ", ".join(f"{k} {v:.3f}" for k, v in record.items() if k.endswith(("loss", "acc")))
        line = f"pretrain: step {step}/{self.end} ({100 * step / max(self.end, 1):.0f}%), {rate:.2f} steps/s, "
        line += f"{int(left // 60)}m{int(left % 60):02d}s left" + (f", {shown}" if shown else "")
        print(line, file=sys.stderr, flush=True)
