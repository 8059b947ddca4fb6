"""Checkpoints that resume a run exactly, written atomically and loaded without executing code.

A checkpoint holds the task's weights (backbone and heads), every optimizer's state, where the run stands
(``TrainState``: global step, epoch, next batch), the optimizer steps taken per group, and for every rank its
random number generators' states and open metric windows; also the run's resolved config (``config``, so a
resume can refuse a config.yaml edited since), how many records ``metrics.jsonl`` held (``records``) and the
torch thread count (bit-exact resume on CPU assumes the same). The format is unchanged since the first release
(``FORMAT``; the later entries are optional); checkpoints written before distributed training hold one rank's
entries at the top level.
"""

from __future__ import annotations

import os
import random
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ssl_toolkit import atomic
from ssl_toolkit.engine import distributed
from ssl_toolkit.engine.distributed import World
from ssl_toolkit.errors import UserError

FORMAT = "ssl-toolkit-checkpoint/1"
LAST = "last.pt"


@dataclass
class TrainState:
    """Where a run stands: training steps taken, epochs finished, and the next batch of the current epoch."""

    step: int = 0
    epoch: int = 0
    batch: int = 0


def rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save(path: Path, state: dict[str, Any]) -> None:
    with atomic.atomic_path(path) as tmp:
        torch.save({"format": FORMAT, **state}, tmp)


def load(path: Path) -> dict[str, Any]:
    """Load with ``weights_only=True``; a missing, corrupt or foreign file is a UserError naming it."""
    if not path.is_file():
        raise UserError(f"checkpoint {path} does not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises several types for corrupt or unsafe files
        # torch's own message may suggest weights_only=False, which would execute code from the file: not ours
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        if "weights_only" in str(e) or "Weights only load failed" in reason:
            reason = "it holds objects a weights-only load refuses"
        raise UserError(f"checkpoint {path} cannot be read ({type(e).__name__}: {reason[:200]})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise UserError(f"checkpoint {path} is not an ssl-toolkit checkpoint (expected format {FORMAT})")
    return state


def link(source: Path, target: Path) -> None:
    """``target`` becomes another name of ``source`` (a hard link, put in place atomically); a file system
    without hard links gets a copy."""
    with atomic.atomic_path(target) as tmp:
        tmp.unlink()
        try:
            os.link(source, tmp)
        except OSError:
            shutil.copyfile(source, tmp)


class Checkpoints:
    """The run's ``checkpoints/`` folder for one training loop: ``save`` gathers every rank's part (RNG states
    and the metric windows of ``log``) and rank 0 writes; ``restore`` puts a saved run back in place.

    At an epoch end ``epoch_NNNN.pt`` is written before ``last.pt``: a run killed between the two resumes from
    the older ``last.pt``, redoes the epoch's end and writes both, so no periodic checkpoint is ever missing.
    With ``keep`` set, only the newest ``keep`` epoch files stay (each is a full copy of the state: a ResNet-18 GAN
    writes about 160 MB an epoch); ``last.pt`` is always kept."""

    def __init__(
        self,
        folder: Path,
        task: torch.nn.Module,
        optimizers: dict[str, torch.optim.Optimizer],
        steps_taken: dict[str, int],
        log: Any,  # metrics.TrainLog: ``state()``/``load(state, device)`` of its windows, ``records`` written
        world: World,
        config: dict[str, Any] | None = None,
        online: Any = None,  # engine.online.OnlineProbe: ``state()``/``load(state)`` of its head
        keep: int | None = None,  # the newest epoch files kept; None: all
    ) -> None:
        self.folder, self.task, self.optimizers = folder, task, optimizers
        self.steps_taken, self.log, self.world, self.config = steps_taken, log, world, config
        self.online, self.keep = online, keep

    def save(self, state: TrainState, *names: str) -> int:
        """Write ``names`` (e.g. ``last.pt``, ``epoch_0001.pt``); every rank must call it. Returns the step."""
        mine = {**self.log.state(), "rng": rng_state()}
        if self.online is not None and self.online.state() is not None:
            mine["online"] = self.online.state()
        ranks = distributed.gather(mine, self.world)
        if self.world.main:
            record = {
                "model": self.task.state_dict(),
                "optimizers": {n: o.state_dict() for n, o in self.optimizers.items()},
                "step": state.step,
                "epoch": state.epoch,
                "batch": state.batch,
                "steps_taken": dict(self.steps_taken),
                "world_size": self.world.size,
                "ranks": ranks,
                "records": self.log.records,
                "num_threads": torch.get_num_threads(),
            }
            if self.config is not None:
                record["config"] = self.config
            first, *others = names
            save(self.folder / first, record)
            for name in others:  # the same state under another name: one file on disk, not another copy
                link(self.folder / first, self.folder / name)
            self.prune()
        return state.step

    def prune(self) -> None:
        """Delete all but the newest ``keep`` epoch files (their names sort by epoch)."""
        if self.keep is not None:
            for old in sorted(self.folder.glob("epoch_*.pt"))[: -self.keep]:
                old.unlink(missing_ok=True)

    def restore(self, device: torch.device) -> TrainState:
        """The state of ``last.pt`` with weights, optimizers, step counts, RNG and metric windows restored; a
        fresh ``TrainState`` when there is no checkpoint."""
        path = self.folder / LAST
        if not path.exists():
            return TrainState()
        saved = load(path)
        threads = saved.get("num_threads")
        if self.world.main and threads is not None and threads != torch.get_num_threads():
            print(
                f"warning: {path} was written with {threads} torch threads, this process uses "
                f"{torch.get_num_threads()}; on CPU a resumed run equals an uninterrupted one bit for bit only "
                "with the same count (OMP_NUM_THREADS)",
                file=sys.stderr,
            )
        try:
            check_shapes(path, self.task.state_dict(), saved["model"])
            self.task.load_state_dict(saved["model"])
            for name, opt in self.optimizers.items():
                opt.load_state_dict(saved["optimizers"][name])
            state = TrainState(int(saved["step"]), int(saved["epoch"]), int(saved["batch"]))
            epoch_file = self.folder / f"epoch_{state.epoch:04d}.pt"
            if self.world.main and state.batch == 0 and state.epoch > 0 and not epoch_file.exists():
                # last.pt is that epoch's end (a run killed before writing the epoch's own file): the same record
                atomic.write_bytes(epoch_file, path.read_bytes())
            ranks = saved.get("ranks", [saved])  # checkpoints before DDP: one rank's entries at the top level
            if len(ranks) != self.world.size:
                raise UserError(
                    f"{path} was written by {len(ranks)} process(es); resume it with as many "
                    f"(torchrun --nproc-per-node {len(ranks)}), not {self.world.size}"
                )
            mine = ranks[self.world.rank]
            self.log.load(mine, device, saved.get("records"))
            if self.online is not None:
                self.online.load(mine.get("online"))
            self.steps_taken.update(saved["steps_taken"])
            set_rng_state(mine["rng"])
        except (RuntimeError, KeyError, ValueError, TypeError) as e:
            first_line = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise UserError(f"{path} does not match this task and backbone ({first_line})") from None
        return state


def check_shapes(path: Path, expected: dict[str, torch.Tensor], saved: dict[str, Any]) -> None:
    """A UserError naming the first names and shapes that differ between the task's weights and a checkpoint's."""
    missing = [k for k in expected if k not in saved]
    unexpected = [k for k in saved if k not in expected]
    shapes = [
        f"{k}: {tuple(saved[k].shape)} in the file, {tuple(v.shape)} here"
        for k, v in expected.items()
        if k in saved and hasattr(saved[k], "shape") and tuple(saved[k].shape) != tuple(v.shape)
    ]
    if missing or unexpected or shapes:
        parts = [f"shapes differ: {'; '.join(shapes[:3])}"] if shapes else []
        parts += [f"missing {', '.join(missing[:3])}"] if missing else []
        parts += [f"unexpected {', '.join(unexpected[:3])}"] if unexpected else []
        raise UserError(f"{path} does not match this task and backbone ({'; '.join(parts)})")
