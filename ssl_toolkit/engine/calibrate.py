"""How long one training step takes, measured on a copy of the task before a run starts: what ``train.minutes``
turns into a number of epochs, so a run's learning-rate schedule ends within the time it was given."""

from __future__ import annotations

import copy
import time

import torch

from pretext.base import PretextTask
from ssl_toolkit.data import DataSource, Normalizer, epoch_order
from ssl_toolkit.data.loader import BatchReader
from ssl_toolkit.engine.optim import build_optimizer
from ssl_toolkit.engine.settings import TrainSettings
from ssl_toolkit.engine.step import StepContext

WARMUP_STEPS, TIMED_STEPS = 2, 5


def seconds_per_step(task: PretextTask, data: DataSource, settings: TrainSettings, device: torch.device) -> float:
    """The median time of a full training step (optimizer steps and ``after_step`` included) of a copy of
    ``task`` on the first batches of the data, under a forked RNG: the run itself is untouched."""
    from ssl_toolkit.engine.loop import training_step

    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        trial = copy.deepcopy(task).to(device).train()
        optimizers = {
            g: build_optimizer(
                settings.optimizer,
                p,
                settings.lr,
                settings.weight_decay,
                settings.momentum,
                settings.decay_norms_and_biases,
            )
            for g, p in trial.optimizer_groups().items()
        }
        ctx = StepContext(trial, optimizers, device, settings.precision, settings.grad_clip)
        ctx.seed, ctx.total_steps = settings.seed, 1
        normalize = Normalizer.for_data(data, device)
        stats = normalize.stats()
        batches = epoch_order(len(data.train), settings.batch_size, settings.seed, 0)[: WARMUP_STEPS + TIMED_STEPS]
        times = []
        read = BatchReader(data.train, revisits=trial.revisits, seed=settings.seed)
        for i, (stored, meta) in enumerate(read(batches)):
            ctx.global_step = i
            t0 = time.perf_counter()
            images, batch_meta = normalize.batch(stored, meta)
            training_step(trial, images, batch_meta | stats, ctx, first=i == 0)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            times.append(time.perf_counter() - t0)
    timed = sorted(times[WARMUP_STEPS:]) or sorted(times)
    return timed[len(timed) // 2]
