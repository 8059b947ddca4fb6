"""The training loop: short, alone, and indifferent to which task runs.

Checkpointing, metrics, schedules and the step context are small helpers it calls. A run stopped at any step
and resumed ends with bit-identical weights to an uninterrupted run (on CPU): data order depends only on
(seed, epoch), the schedule only on the step, and checkpoints carry optimizer and RNG states.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from pretext.base import EpochContext, PretextTask
from ssl_toolkit import atomic
from ssl_toolkit.data import DataSource, Normalizer, batches_per_epoch, epoch_order, iterate
from ssl_toolkit.engine import checkpoint
from ssl_toolkit.engine.collapse import CollapseMonitor
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
) -> dict[str, Any]:
    """Pretrain ``task`` (which holds the backbone) on ``data.train``; write everything under ``run_dir``."""
    ckpt_dir = run_dir / "checkpoints"
    metrics = MetricsLog(run_dir / "metrics.jsonl")
    task.to(device)
    optimizers = {
        name: build_optimizer(optimizer, params, lr, weight_decay, momentum)
        for name, params in task.optimizer_groups().items()
    }
    for opt in optimizers.values():
        for group in opt.param_groups:
            group["initial_lr"] = group["lr"]
    steps_per_epoch = batches_per_epoch(len(data.train), batch_size)
    planned = epochs * steps_per_epoch
    end = min(planned, max_steps) if max_steps is not None else planned
    lr_factor = lr_schedule(schedule, 1.0, planned, steps_per_epoch, warmup_steps, gamma)

    step = epoch = batch = 0
    window, epoch_means = RunningMeans(), RunningMeans()  # the log window and the epoch in progress
    ctx = StepContext(task, optimizers, device, precision, grad_clip)
    last = ckpt_dir / "last.pt"
    if resume and last.exists():
        state = checkpoint.load(last)
        try:
            task.load_state_dict(state["model"])
            for name, opt in optimizers.items():
                opt.load_state_dict(state["optimizers"][name])
            step, epoch, batch = int(state["step"]), int(state["epoch"]), int(state["batch"])
            window.load(state["window"], device)
            epoch_means.load(state["epoch_means"], device)
            ctx.steps_taken = dict(state["steps_taken"])
            checkpoint.set_rng_state(state["rng"])
        except (RuntimeError, KeyError, ValueError, TypeError) as e:
            first_line = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise UserError(f"{last} does not match this task and backbone ({first_line})") from None
    metrics.truncate_after(step)

    def save_checkpoint(*names: str) -> None:
        state = {
            "model": task.state_dict(),
            "optimizers": {n: o.state_dict() for n, o in optimizers.items()},
            "step": step,
            "epoch": epoch,
            "batch": batch,
            "window": window.state(),
            "epoch_means": epoch_means.state(),
            "steps_taken": dict(ctx.steps_taken),
            "rng": checkpoint.rng_state(),
        }
        for name in names:
            checkpoint.save(ckpt_dir / name, state)

    measured_at: dict[int, dict[str, float]] = {}  # the epoch record reuses its last log step's measurement

    def health() -> dict[str, float]:
        if step not in measured_at:
            measured, warning = monitor.measure(task, task.backbone)
            if warning:
                bar.write(f"warning: at step {step}, {warning}", file=sys.stderr)
            measured_at.clear()
            measured_at[step] = measured
        return measured_at[step]

    def log_window(reset: bool = True) -> None:
        record = window.means()
        if not record:
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
        if reset:
            window.reset()

    normalize = Normalizer.for_data(data, device)
    pixel_stats = {"pixel_mean": normalize.mean, "pixel_std": normalize.std}
    pin = device.type == "cuda"
    monitor = CollapseMonitor(data, normalize, device)
    for name, content in task.run_files().items():
        atomic.write(run_dir / name, content)
    if not (run_dir / "plots" / "examples.png").exists():
        title = f"{type(task).__name__}: training examples"
        draw_examples(task, data, normalize, device, seed, run_dir / "plots" / "examples.png", title)
    task.train()
    t_start, saved_at, first = time.time(), -1, True
    # disable=None: a bar on a terminal, none in logs (CI)
    bar = tqdm(
        total=end,
        initial=step,
        desc="pretrain",
        unit="step",
        disable=None if show_progress is None else not show_progress,
    )
    while step < end and epoch < epochs:
        order = epoch_order(len(data.train), batch_size, seed, epoch)[batch:]
        for images, batch_meta in iterate(data.train, order, num_workers, pin):
            if step >= end:
                break
            factor = lr_factor[step]
            for opt in optimizers.values():
                for group in opt.param_groups:
                    group["lr"] = group["initial_lr"] * factor
            images = normalize(images.to(device, non_blocking=pin))
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
            measured = epoch_end(
                task, EpochContext(epoch + 1, run_dir, data, normalize.mean, normalize.std, device), seed
            )
            record = {"kind": "epoch", "step": step, "epoch": epoch, **epoch_means.means(), **health(), **measured}
            metrics.write(record)
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
    save_backbone(run_dir / "backbone.safetensors", task.backbone, {"step": str(step)})
    plot_losses(metrics.read(), run_dir / "plots" / "loss.png", title=f"{run_dir.name}")
    return {"step": step, "epoch": epoch, "end": end, "planned": planned}


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
