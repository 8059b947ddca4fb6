"""Checkpoints that resume a run exactly, written atomically and loaded without executing code.

A checkpoint holds the task's weights (backbone and heads), every optimizer's state, where the run stands
(``TrainState``: global step, epoch, next batch), the optimizer steps taken per group, and for every rank its
random number generators' states and open metric windows. The format is unchanged since the first release
(``FORMAT``); checkpoints written before distributed training hold one rank's entries at the top level.
"""

from __future__ import annotations

import random
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
        raise UserError(f"checkpoint {path} cannot be read ({type(e).__name__}: {str(e).splitlines()[0]})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise UserError(f"checkpoint {path} is not an ssl-toolkit checkpoint (expected format {FORMAT})")
    return state


class Checkpoints:
    """The run's ``checkpoints/`` folder for one training loop: ``save`` gathers every rank's part (RNG states
    and the metric windows of ``log``) and rank 0 writes; ``restore`` puts a saved run back in place."""

    def __init__(
        self,
        folder: Path,
        task: torch.nn.Module,
        optimizers: dict[str, torch.optim.Optimizer],
        steps_taken: dict[str, int],
        log: Any,  # metrics.TrainLog: ``state()`` and ``load(state, device)`` of its open windows
        world: World,
    ) -> None:
        self.folder, self.task, self.optimizers = folder, task, optimizers
        self.steps_taken, self.log, self.world = steps_taken, log, world

    def save(self, state: TrainState, *names: str) -> int:
        """Write ``names`` (e.g. ``last.pt``, ``epoch_0001.pt``); every rank must call it. Returns the step."""
        ranks = distributed.gather({**self.log.state(), "rng": rng_state()}, self.world)
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
            }
            for name in names:
                save(self.folder / name, record)
        return state.step

    def restore(self, device: torch.device) -> TrainState:
        """The state of ``last.pt`` with weights, optimizers, step counts, RNG and metric windows restored; a
        fresh ``TrainState`` when there is no checkpoint."""
        path = self.folder / LAST
        if not path.exists():
            return TrainState()
        saved = load(path)
        try:
            self.task.load_state_dict(saved["model"])
            for name, opt in self.optimizers.items():
                opt.load_state_dict(saved["optimizers"][name])
            state = TrainState(int(saved["step"]), int(saved["epoch"]), int(saved["batch"]))
            ranks = saved.get("ranks", [saved])  # checkpoints before DDP: one rank's entries at the top level
            if len(ranks) != self.world.size:
                raise UserError(
                    f"{path} was written by {len(ranks)} process(es); resume it with as many "
                    f"(torchrun --nproc-per-node {len(ranks)}), not {self.world.size}"
                )
            mine = ranks[self.world.rank]
            self.log.load(mine, device)
            self.steps_taken.update(saved["steps_taken"])
            set_rng_state(mine["rng"])
        except (RuntimeError, KeyError, ValueError, TypeError) as e:
            first_line = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise UserError(f"{path} does not match this task and backbone ({first_line})") from None
        return state
