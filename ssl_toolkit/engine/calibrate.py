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
        stats = {"pixel_mean": normalize.mean, "pixel_std": normalize.std}
        batches = epoch_order(len(data.train), settings.batch_size, settings.seed, 0)[: WARMUP_STEPS + TIMED_STEPS]
        times = []
        for i, (images, meta) in enumerate(BatchReader(data.train)(batches)):
            ctx.global_step = i
            t0 = time.perf_counter()
            batch_meta = {k: v.to(device) for k, v in meta.items()} | stats
            training_step(trial, normalize(images.to(device)), batch_meta, ctx, first=i == 0)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            times.append(time.perf_counter() - t0)
    timed = sorted(times[WARMUP_STEPS:]) or sorted(times)
    return timed[len(timed) // 2]
