"""Stopping a run without losing it: Ctrl-C (SIGINT) or SIGTERM during training is remembered, the step in
progress finishes, a checkpoint is written, and the run stops with ``Interrupted``; ``--resume`` continues it
exactly. A second signal while that checkpoint is written stops at once (writes are atomic: the folder keeps
the previous checkpoint). Also the clock: a checkpoint every ``train.checkpoint_minutes`` of training.

Under torchrun every rank gets the signal; the ranks agree on when to act (one small all-reduce per step), so
all of them join the checkpoint's collective at the same step.
"""

from __future__ import annotations

import signal
import threading
import time

import torch
import torch.distributed as dist

from ssl_toolkit.engine.distributed import World


class Interrupted(KeyboardInterrupt):
    """The run stopped on a signal after writing a checkpoint at ``step``."""

    def __init__(self, signum: int, step: int) -> None:
        super().__init__(f"stopped by {signal.Signals(signum).name} at step {step}; a checkpoint was written")
        self.signum, self.step = signum, step


class Interrupts:
    """Context for one training loop: ``poll`` after each step says (stop now, checkpoint now)."""

    def __init__(self, world: World, checkpoint_minutes: float | None) -> None:
        self.world = world
        self.every = None if checkpoint_minutes is None else 60.0 * checkpoint_minutes
        self.signum = 0
        self._previous: dict[int, object] = {}

    def __enter__(self) -> Interrupts:
        self.last_save = time.monotonic()
        if threading.current_thread() is threading.main_thread():  # signal handlers live in the main thread
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._remember)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def _remember(self, signum: int, frame: object) -> None:
        self.signum = signum
        signal.signal(signum, self._previous.get(signum, signal.SIG_DFL))  # a second signal acts at once

    def poll(self) -> tuple[bool, bool]:
        """(a signal asked to stop, the checkpoint clock ran out), agreed by every rank."""
        timed = self.every is not None and time.monotonic() - self.last_save >= self.every
        flags = [self.signum, int(timed)]
        if self.world.distributed:
            device = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else None
            agreed = torch.tensor(flags, dtype=torch.int64, device=device)
            dist.all_reduce(agreed, op=dist.ReduceOp.MAX)
            flags = agreed.tolist()
            self.signum = self.signum or flags[0]
        return bool(flags[0]), bool(flags[1])

    def saved(self, step: int) -> int:
        """A checkpoint was written at ``step`` (returned): the clock starts again."""
        self.last_save = time.monotonic()
        return step
