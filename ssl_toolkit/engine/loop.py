"""The training loop: short, alone, and indifferent to which task runs.

A run stopped at any step and resumed ends with bit-identical weights to an uninterrupted run (on CPU): data
order depends only on (seed, epoch), the learning rate only on the step, and checkpoints carry optimizer and RNG
states and the open metric windows (every rank's, in a distributed run). Under torchrun (see ``distributed``)
each rank trains on its shard of every global batch through DDP; rank 0 alone writes files.

What a run folder holds besides metrics and checkpoints (the resolved config, pictures, the exported backbone)
is written by the pretrain command, around this loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import torch

from pretext.base import EpochContext, NonFiniteLoss, PretextTask
from ssl_toolkit.data import DataSource, Normalizer, batches_per_epoch, epoch_order
from ssl_toolkit.data.loader import BatchReader, auto_workers
from ssl_toolkit.engine import distributed
from ssl_toolkit.engine.checkpoint import LAST, Checkpoints, TrainState
from ssl_toolkit.engine.collapse import CollapseMonitor
from ssl_toolkit.engine.distributed import World
from ssl_toolkit.engine.interrupts import Interrupted, Interrupts
from ssl_toolkit.engine.metrics import TrainLog
from ssl_toolkit.engine.online import OnlineProbe
from ssl_toolkit.engine.optim import build_optimizer, lr_schedule, set_lr
from ssl_toolkit.engine.settings import TrainSettings
from ssl_toolkit.engine.step import StepContext
from ssl_toolkit.errors import UserError


def train(
    task: PretextTask,
    data: DataSource,
    run_dir: Path,
    settings: TrainSettings,
    *,
    device: torch.device,
    world: World | None = None,
    resume: bool = False,
    show_progress: bool | None = None,
    config: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Pretrain ``task`` (which holds the backbone) on ``data.train`` as ``settings`` say; metrics and checkpoints
    go under ``run_dir``. ``resume``: continue from ``checkpoints/last.pt`` when it exists. ``config``: the run's
    resolved config, kept in every checkpoint."""
    world = world or World()
    plan = Plan.make(len(data.train), settings, world)
    model, optimizers = prepare(task, device, settings, world)
    ctx = StepContext(model, optimizers, device, settings.precision, settings.grad_clip, world)
    ctx.total_steps, ctx.seed = plan.planned, settings.seed
    normalize = Normalizer.for_data(data, device)
    monitor = CollapseMonitor(data, normalize, device) if world.main else None
    lr_at = plan.lr_at(settings.lr)
    log = TrainLog(run_dir / "metrics.jsonl", monitor, task.backbone, task, world, settings.log_every, lr_at)
    online = OnlineProbe(data, device) if settings.online_probe else None
    folder, keep = run_dir / "checkpoints", settings.keep_checkpoints
    checkpoints = Checkpoints(folder, task, optimizers, ctx.steps_taken, log, world, config, online, keep)
    state = checkpoints.restore(device) if resume else TrainState()
    log.start(state.step, plan.end, show_progress)
    pin = device.type == "cuda"
    workers = auto_workers(device, world.size) if settings.num_workers < 0 else settings.num_workers
    read = BatchReader(data.train, workers, pin, revisits=task.revisits, seed=settings.seed, device=device)
    pixel_stats = normalize.stats()
    epoch_context = partial(EpochContext, run_dir=run_dir, data=data, device=device, **pixel_stats)
    memory_format = torch.channels_last if settings.channels_last else torch.contiguous_format
    task.train()
    saved_at, first = -1, True
    with Interrupts(world, settings.checkpoint_minutes) as interrupts:
        while state.step < plan.end and state.epoch < settings.epochs:
            batches, shares = plan.epoch(state.epoch, settings.seed, world)
            for images, batch_meta in read(batches[state.batch :], state.epoch):
                if state.step >= plan.end:
                    break
                set_lr(optimizers.values(), plan.lr_factors[state.step])
                ctx.global_step, (ctx.share, *ctx.rows) = state.step, shares[state.batch]
                ctx.loss_scale = 1.0 if task.loss_over_ranks else ctx.share
                images, meta = normalize.batch(images, batch_meta, pin, memory_format)
                meta |= pixel_stats
                out = training_step(task, images, meta, ctx, first, online)
                state.step, state.batch, first = state.step + 1, state.batch + 1, False
                log.add(out, state.step, state.epoch)
                stop, timed = interrupts.poll()
                if stop or timed or (settings.checkpoint_every and state.step % settings.checkpoint_every == 0):
                    saved_at = interrupts.saved(checkpoints.save(state, LAST))
                if stop:
                    raise Interrupted(interrupts.signum, state.step)
            if state.batch >= plan.steps_per_epoch:
                epoch = epoch_context(state.epoch + 1)
                log.end_epoch(state.step, state.epoch, partial(epoch_end, task, epoch, settings.seed, online))
                state.epoch, state.batch = state.epoch + 1, 0
                saved = checkpoints.save(state, f"epoch_{state.epoch:04d}.pt", LAST)  # last.pt last: see checkpoint
                saved_at = interrupts.saved(saved)
    # a run stopped mid-epoch still ends with that epoch's pictures
    epoch = epoch_context(state.epoch + 1)
    log.finish(
        state.step,
        state.epoch,
        plan.end,
        partial(epoch_end, task, epoch, settings.seed, online) if state.batch else None,
    )
    if saved_at != state.step:
        checkpoints.save(state, LAST)
    return {"step": state.step, "epoch": state.epoch, "end": plan.end, "planned": plan.planned}


@dataclass(frozen=True)
class Plan:
    """The run's steps: per epoch, planned in all, where this invocation stops (``train.max_steps``), the
    learning-rate factor of every step, and the smallest last batch (two samples for every rank)."""

    steps_per_epoch: int
    planned: int
    end: int
    lr_factors: list[float]
    min_last: int
    batch_size: int
    samples: int

    @classmethod
    def make(cls, samples: int, settings: TrainSettings, world: World) -> Plan:
        if settings.batch_size < 2 * world.size or samples < 2 * world.size:
            raise UserError(
                f"train.batch_size {settings.batch_size} and {samples} training images: {world.size} processes "
                f"need at least {2 * world.size} of each (two samples per process)"
            )
        min_last = 2 * world.size
        per_epoch = batches_per_epoch(samples, settings.batch_size, min_last)
        planned = settings.epochs * per_epoch
        end = min(planned, settings.max_steps) if settings.max_steps is not None else planned
        factors = lr_schedule(settings.schedule, 1.0, planned, per_epoch, settings.warmup_steps, settings.gamma)
        return cls(per_epoch, planned, end, factors, min_last, settings.batch_size, samples)

    def lr_at(self, base_lr: float):
        return lambda step: base_lr * self.lr_factors[step]

    def epoch(self, epoch: int, seed: int, world: World) -> tuple[list[torch.Tensor], list[tuple[float, int, int]]]:
        """This rank's index batches of ``epoch`` and for each (its loss weight, its first row in the global batch,
        the global batch's size): uneven shards are weighted by their share, so DDP's average over ranks is the
        mean over the global batch."""
        batches = epoch_order(self.samples, self.batch_size, seed, epoch, self.min_last)
        parts = [distributed.shard(b, world) for b in batches]
        offsets = [sum(len(p) for p in b.tensor_split(world.size)[: world.rank]) for b in batches]
        return parts, [
            (len(part) * world.size / len(b), offset, len(b)) for part, b, offset in zip(parts, batches, offsets)
        ]


def prepare(
    task: PretextTask, device: torch.device, settings: TrainSettings, world: World
) -> tuple[torch.nn.Module, dict[str, torch.optim.Optimizer]]:
    """The model the step context calls (the task, DDP-wrapped and compiled as asked) and one optimizer per
    parameter group the task declares."""
    memory_format = torch.channels_last if settings.channels_last else torch.contiguous_format
    task.to(device, memory_format=memory_format)
    model = distributed.wrap(task, world, device, settings.sync_batchnorm)
    if settings.compile:
        model = torch.compile(model)
    optimizers = {
        name: build_optimizer(
            settings.optimizer,
            params,
            settings.lr,
            settings.weight_decay,
            settings.momentum,
            settings.decay_norms_and_biases,
        )
        for name, params in task.optimizer_groups().items()
    }
    set_lr(optimizers.values(), 1.0)  # records each group's initial_lr, which the schedule scales
    return model, optimizers


def training_step(
    task: PretextTask,
    images: torch.Tensor,
    meta: dict[str, torch.Tensor],
    ctx: StepContext,
    first: bool,
    online: OnlineProbe | None = None,
) -> dict[str, torch.Tensor]:
    """The task's step and its ``after_step`` hook, then the online probe's step on the features the task
    reports; the outputs weighted by this rank's share of the batch (so their mean over ranks is the batch's
    mean). A diverged loss is a one-line error; so is a task that cannot use the data, found at the first step."""
    try:
        out = task.training_step(images, meta, ctx)
    except NonFiniteLoss as e:
        raise UserError(
            f"training diverged at step {ctx.global_step + 1}: {e}; lower optim.lr or set optim.grad_clip"
        ) from None
    except ValueError as e:
        if first:
            raise UserError(f"task cannot use this data: {e}") from None
        raise
    with torch.no_grad():
        task.after_step(ctx)
    features = out.pop("online_features", None)
    if online is not None:
        out.update(online.step(features, meta.get("label")))
    if ctx.loss_scale != 1.0:
        out = {k: v * ctx.loss_scale for k, v in out.items()}
    return out


def epoch_end(task: PretextTask, ctx: EpochContext, seed: int, online: OnlineProbe | None = None) -> dict[str, float]:
    """The task's end-of-epoch pictures and measurements and the online kNN accuracy, in eval mode, under a
    forked RNG seeded by (seed, epoch): a resumed run draws the same pictures and its training randomness is
    untouched."""
    devices = [ctx.device] if ctx.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices), torch.no_grad():
        torch.manual_seed(seed * 1_000_003 + ctx.epoch)
        task.eval()
        try:
            return {**task.epoch_end(ctx), **(online.knn_accuracy(task.backbone) if online is not None else {})}
        finally:
            task.train()
