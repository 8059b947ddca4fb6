"""The training loop: short, alone, and indifferent to which task runs.

Checkpointing, metrics, schedules and the step context are small helpers it calls. A run stopped at any step
and resumed ends with bit-identical weights to an uninterrupted run (on CPU): data order depends only on
(seed, epoch), the schedule only on the step, and checkpoints carry optimizer and RNG states (every rank's, in
a distributed run).

Under torchrun (see ``distributed``) each rank trains on its shard of every global batch through DDP; rank 0
alone writes files, and at the end every rank's weights digest is compared and written to ``distributed.json``.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from pretext.base import EpochContext, PretextTask
from ssl_toolkit import atomic
from ssl_toolkit.data import DataSource, Normalizer, batches_per_epoch, epoch_order
from ssl_toolkit.data.loader import BatchReader, auto_workers
from ssl_toolkit.engine import checkpoint, distributed
from ssl_toolkit.engine.collapse import CollapseMonitor
from ssl_toolkit.engine.distributed import World
from ssl_toolkit.engine.metrics import MetricsLog, RunningMeans, plot_losses
from ssl_toolkit.engine.optim import build_optimizer, lr_schedule
from ssl_toolkit.engine.step import NonFiniteLoss, StepContext
from ssl_toolkit.errors import UserError
from ssl_toolkit.show import draw_examples
from ssl_toolkit.weights import save_backbone


def train(
    task: PretextTask,
    data: DataSource,
    run_dir: Path,
    *,
    device: torch.device,
    optimizer: str = "adadelta",
    lr: float = 1.0,
    weight_decay: float = 0.0,
    momentum: float = 0.9,
    grad_clip: float | None = None,
    schedule: str = "step",
    warmup_steps: int = 0,
    gamma: float = 0.7,
    epochs: int = 1,
    max_steps: int | None = None,
    batch_size: int = 64,
    seed: int = 1,
    precision: str = "fp32",
    log_every: int = 50,
    checkpoint_every: int | None = None,
    num_workers: int = 0,
    resume: bool = False,
    show_progress: bool | None = None,
    world: World | None = None,
    sync_batchnorm: bool = False,
    channels_last: bool = False,
    compile_model: bool = False,
) -> dict[str, Any]:
    """Pretrain ``task`` (which holds the backbone) on ``data.train``; write everything under ``run_dir``.

    ``batch_size`` is the global batch; in a distributed ``world`` each rank takes its shard of it.
    ``channels_last``: weights and input batches in NHWC memory order (faster convolutions on recent GPUs);
    ``compile_model``: the step's forward through ``torch.compile``."""
    world = world or World()
    if batch_size < 2 * world.size or len(data.train) < 2 * world.size:
        raise UserError(
            f"train.batch_size {batch_size} and {len(data.train)} training images: {world.size} processes need "
            f"at least {2 * world.size} of each (two samples per process)"
        )
    ckpt_dir = run_dir / "checkpoints"
    main = world.main
    metrics = MetricsLog(run_dir / "metrics.jsonl")
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    task.to(device, memory_format=memory_format)
    normalize = Normalizer.for_data(data, device)
    if main:  # before any wrapping: a synchronised batch norm would wait for ranks that draw nothing
        for name, content in task.run_files().items():
            atomic.write(run_dir / name, content)
        if not (run_dir / "plots" / "examples.png").exists():
            title = f"{type(task).__name__}: training examples"
            draw_examples(task, data, normalize, device, seed, run_dir / "plots" / "examples.png", title)
    model = distributed.wrap(task, world, device, sync_batchnorm)
    if compile_model:
        model = torch.compile(model)
    optimizers = {
        name: build_optimizer(optimizer, params, lr, weight_decay, momentum)
        for name, params in task.optimizer_groups().items()
    }
    for opt in optimizers.values():
        for group in opt.param_groups:
            group["initial_lr"] = group["lr"]
    min_last = 2 * world.size  # every rank gets at least two samples of the last batch
    steps_per_epoch = batches_per_epoch(len(data.train), batch_size, min_last)
    planned = epochs * steps_per_epoch
    end = min(planned, max_steps) if max_steps is not None else planned
    lr_factor = lr_schedule(schedule, 1.0, planned, steps_per_epoch, warmup_steps, gamma)

    step = epoch = batch = 0
    window, epoch_means = RunningMeans(), RunningMeans()  # the log window and the epoch in progress
    ctx = StepContext(model, optimizers, device, precision, grad_clip, world)
    last = ckpt_dir / "last.pt"
    if resume and last.exists():
        state = checkpoint.load(last)
        try:
            task.load_state_dict(state["model"])
            for name, opt in optimizers.items():
                opt.load_state_dict(state["optimizers"][name])
            step, epoch, batch = int(state["step"]), int(state["epoch"]), int(state["batch"])
            # one entry per rank: RNG states and open metric windows (checkpoints before DDP: at the top level)
            ranks = state.get("ranks", [state])
            if len(ranks) != world.size:
                raise UserError(
                    f"{last} was written by {len(ranks)} process(es); resume it with as many "
                    f"(torchrun --nproc-per-node {len(ranks)}), not {world.size}"
                )
            mine = ranks[world.rank]
            window.load(mine["window"], device)
            epoch_means.load(mine["epoch_means"], device)
            ctx.steps_taken = dict(state["steps_taken"])
            checkpoint.set_rng_state(mine["rng"])
        except (RuntimeError, KeyError, ValueError, TypeError) as e:
            first_line = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise UserError(f"{last} does not match this task and backbone ({first_line})") from None
    if main:
        metrics.truncate_after(step)

    def save_checkpoint(*names: str) -> None:
        mine = {"window": window.state(), "epoch_means": epoch_means.state(), "rng": checkpoint.rng_state()}
        ranks = distributed.gather(mine, world)  # every rank takes part; rank 0 writes
        if not main:
            return
        state = {
            "model": task.state_dict(),
            "optimizers": {n: o.state_dict() for n, o in optimizers.items()},
            "step": step,
            "epoch": epoch,
            "batch": batch,
            "steps_taken": dict(ctx.steps_taken),
            "world_size": world.size,
            "ranks": ranks,
        }
        for name in names:
            checkpoint.save(ckpt_dir / name, state)

    measured_at: dict[int, dict[str, float]] = {}  # the epoch record reuses its last log step's measurement

    def health() -> dict[str, float]:
        if not main:
            return {}
        if step not in measured_at:
            measured, warning = monitor.measure(task, task.backbone)
            if warning:
                bar.write(f"warning: at step {step}, {warning}", file=sys.stderr)
            measured_at.clear()
            measured_at[step] = measured
        return measured_at[step]

    def log_window(reset: bool = True) -> None:
        record = distributed.mean_over_ranks(window.means(), world)
        if not record:
            return
        if reset:
            window.reset()
        if not main:
            return
        bar.set_postfix({k: f"{v:.3f}" for k, v in record.items()})
        record.update(health())
        factor = lr_factor[step - 1]
        metrics.write(
            {
                "kind": "step",
                "step": step,
                "epoch": epoch,
                "lr": lr * factor,
                **record,
                "elapsed_s": round(time.time() - t_start, 2),
            }
        )

    pixel_stats = {"pixel_mean": normalize.mean, "pixel_std": normalize.std}
    pin = device.type == "cuda"
    workers = auto_workers(device, world.size) if num_workers < 0 else num_workers
    read = BatchReader(data.train, workers, pin)  # one loader, its workers kept across epochs
    monitor = CollapseMonitor(data, normalize, device) if main else None
    task.train()
    t_start, saved_at, first = time.time(), -1, True
    # disable=None: a bar on a terminal, none in logs (CI)
    bar = tqdm(
        total=end,
        initial=step,
        desc="pretrain",
        unit="step",
        disable=True if not main else None if show_progress is None else not show_progress,
    )
    while step < end and epoch < epochs:
        batches = epoch_order(len(data.train), batch_size, seed, epoch, min_last)
        order = [distributed.shard(b, world) for b in batches]
        # uneven shards: each rank's loss weighted by its share, so DDP's average is the mean over the batch
        shares = [len(part) * world.size / len(b) for part, b in zip(order, batches)]
        for images, batch_meta in read(order[batch:]):
            if step >= end:
                break
            ctx.loss_scale = shares[batch]
            factor = lr_factor[step]
            for opt in optimizers.values():
                for group in opt.param_groups:
                    group["lr"] = group["initial_lr"] * factor
            images = normalize(images.to(device, non_blocking=pin)).contiguous(memory_format=memory_format)
            meta = {k: v.to(device, non_blocking=pin) for k, v in batch_meta.items()} | pixel_stats
            try:
                out = task.training_step(images, meta, ctx)
            except NonFiniteLoss as e:
                raise UserError(
                    f"training diverged at step {step + 1}: {e}; lower optim.lr or set optim.grad_clip"
                ) from None
            except ValueError as e:
                if first:  # the first step checks that task and data fit together
                    raise UserError(f"task cannot use this data: {e}") from None
                raise
            if ctx.loss_scale != 1.0:  # weighted by the shard's share: the mean over ranks is the batch's mean
                out = {k: v * ctx.loss_scale for k, v in out.items()}
            step, batch, first = step + 1, batch + 1, False
            window.add(out)
            epoch_means.add(out)
            bar.update(1)
            if step % log_every == 0:
                log_window()
            if checkpoint_every and step % checkpoint_every == 0:
                save_checkpoint("last.pt")
                saved_at = step
        if batch >= steps_per_epoch:
            log_window()  # the epoch's last steps
            means = distributed.mean_over_ranks(epoch_means.means(), world)
            if main:
                measured = epoch_end(
                    task, EpochContext(epoch + 1, run_dir, data, normalize.mean, normalize.std, device), seed
                )
                metrics.write({"kind": "epoch", "step": step, "epoch": epoch, **means, **health(), **measured})
            epoch, batch = epoch + 1, 0
            epoch_means.reset()
            save_checkpoint("last.pt", f"epoch_{epoch:04d}.pt")
            saved_at = step
    if step == end and window.count:
        # stopped by --max-steps mid-window: show the partial window, but keep it open in the checkpoint so a
        # resumed run logs exactly the records an uninterrupted run would (plus this one)
        log_window(reset=False)
    bar.close()
    if saved_at != step:
        save_checkpoint("last.pt")
    summary = {"step": step, "epoch": epoch, "end": end, "planned": planned}
    if world.distributed:
        summary["weights_digests"] = check_ranks_agree(task, world, run_dir)
    if main:
        save_backbone(run_dir / "backbone.safetensors", task.backbone, {"step": str(step)})
        plot_losses(metrics.read(), run_dir / "plots" / "loss.png", title=f"{run_dir.name}")
    return summary


def check_ranks_agree(task: torch.nn.Module, world: World, run_dir: Path) -> list[str]:
    """Every rank's weights digest; rank 0 writes them to ``distributed.json``. Differing digests are an error:
    DDP keeps replicas identical, so a difference means the ranks did not train the same model."""
    digests = distributed.gather(distributed.weights_digest(task), world)
    if world.main:
        record = {"world_size": world.size, "weights_digests": digests, "ranks_agree": len(set(digests)) == 1}
        atomic.write_text(run_dir / "distributed.json", json.dumps(record, indent=2) + "\n")
    if len(set(digests)) != 1:
        raise RuntimeError(f"ranks ended with different weights (digests {digests}); see {run_dir}/distributed.json")
    return digests


def epoch_end(task: PretextTask, ctx: EpochContext, seed: int) -> dict[str, float]:
    """The task's end-of-epoch pictures and measurements, in eval mode, under a forked RNG seeded by (seed,
    epoch): a resumed run draws the same pictures and its training randomness is untouched."""
    devices = [ctx.device] if ctx.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices), torch.no_grad():
        torch.manual_seed(seed * 1_000_003 + ctx.epoch)
        task.eval()
        try:
            return task.epoch_end(ctx)
        finally:
            task.train()
