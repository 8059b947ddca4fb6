"""The training loop: short, alone, and indifferent to which task runs.

Checkpointing, metrics, schedules and the step context are small helpers it calls. A run stopped at any step
and resumed ends with bit-identical weights to an uninterrupted run (on CPU): data order depends only on
(seed, epoch), the schedule only on the step, and checkpoints carry optimizer and RNG states.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from pretext.base import PretextTask
from ssl_toolkit import atomic
from ssl_toolkit.data import DataSource, Normalizer, epoch_order, iterate
from ssl_toolkit.engine import checkpoint
from ssl_toolkit.engine.metrics import MetricsLog, plot_losses
from ssl_toolkit.engine.optim import build_optimizer, lr_schedule
from ssl_toolkit.engine.step import NonFiniteLoss, StepContext
from ssl_toolkit.errors import UserError
from ssl_toolkit.show import save_examples, task_examples
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
    steps_per_epoch = math.ceil(len(data.train) / batch_size)
    planned = epochs * steps_per_epoch
    end = min(planned, max_steps) if max_steps is not None else planned
    lr_factor = lr_schedule(schedule, 1.0, planned, steps_per_epoch, warmup_steps, gamma)

    step = epoch = batch = 0
    epoch_sums: dict[str, float] = {}
    sums: dict[str, torch.Tensor] = {}  # metrics of the log window in progress
    count = 0
    if resume and (ckpt_dir / "last.pt").exists():
        state = checkpoint.load(ckpt_dir / "last.pt")
        try:
            task.load_state_dict(state["model"])
            for name, opt in optimizers.items():
                opt.load_state_dict(state["optimizers"][name])
        except (RuntimeError, KeyError, ValueError) as e:
            raise UserError(
                f"{ckpt_dir / 'last.pt'} does not match this task and backbone ({str(e).splitlines()[0]})"
            ) from None
        step, epoch, batch, epoch_sums = state["step"], state["epoch"], state["batch"], state["epoch_sums"]
        count = state["window"]["count"]
        sums = {k: torch.tensor(v, device=device) for k, v in state["window"]["sums"].items()}
        checkpoint.set_rng_state(state["rng"])
        metrics.truncate_after(step)

    def save_checkpoint(*names: str) -> None:
        state = {
            "model": task.state_dict(),
            "optimizers": {n: o.state_dict() for n, o in optimizers.items()},
            "step": step,
            "epoch": epoch,
            "batch": batch,
            "epoch_sums": epoch_sums,
            "window": {"count": count, "sums": {k: v.item() for k, v in sums.items()}},
            "rng": checkpoint.rng_state(),
        }
        for name in names:
            checkpoint.save(ckpt_dir / name, state)

    ctx = StepContext(task, optimizers, device, precision, grad_clip)
    normalize = Normalizer(data.mean, data.std, device)
    pixel_stats = {"pixel_mean": normalize.mean, "pixel_std": normalize.std}
    pin = device.type == "cuda"
    for name, text in getattr(task, "run_files", dict)().items():
        atomic.write_text(run_dir / name, text)
    if not (run_dir / "plots" / "examples.png").exists():
        draw_examples(task, data, normalize, pixel_stats, device, seed, run_dir / "plots" / "examples.png")
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
        for images, labels in iterate(data.train, order, num_workers, pin):
            if step >= end:
                break
            factor = lr_factor[step]
            for opt in optimizers.values():
                for group in opt.param_groups:
                    group["lr"] = group["initial_lr"] * factor
            images = normalize(images.to(device, non_blocking=pin))
            meta = {"label": labels.to(device, non_blocking=pin), **pixel_stats}
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
            step, batch, count, first = step + 1, batch + 1, count + 1, False
            for k, v in out.items():
                sums[k] = sums.get(k, 0.0) + v.detach().float()
            bar.update(1)
            if step % log_every == 0 or step == planned:
                record = {k: v.item() / count for k, v in sums.items()}
                for k, v in record.items():
                    epoch_sums[k] = epoch_sums.get(k, 0.0) + v * count
                epoch_sums["_n"] = epoch_sums.get("_n", 0.0) + count
                bar.set_postfix({k: f"{v:.3f}" for k, v in record.items()})
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
                sums, count = {}, 0
            if checkpoint_every and step % checkpoint_every == 0:
                save_checkpoint("last.pt")
                saved_at = step
        if batch >= steps_per_epoch:
            n = epoch_sums.pop("_n", 0.0) or 1.0
            metrics.write({"kind": "epoch", "step": step, "epoch": epoch, **{k: v / n for k, v in epoch_sums.items()}})
            epoch, batch, epoch_sums = epoch + 1, 0, {}
            save_checkpoint("last.pt", f"epoch_{epoch:04d}.pt")
            saved_at = step
    bar.close()
    if saved_at != step:
        save_checkpoint("last.pt")
    save_backbone(run_dir / "backbone.safetensors", task.backbone, {"step": str(step)})
    plot_losses(metrics.read(), run_dir / "plots" / "loss.png", title=f"{run_dir.name}")
    return {"step": step, "epoch": epoch, "finished": step >= end and (step == planned or max_steps is not None)}


def draw_examples(
    task: PretextTask,
    data: DataSource,
    normalize: Normalizer,
    pixel_stats: dict[str, torch.Tensor],
    device: torch.device,
    seed: int,
    path: Path,
    n: int = 4,
) -> None:
    """A picture of a few task inputs with their labels; drawn under a forked RNG so training is unchanged."""
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        images, labels = next(iterate(data.train, epoch_order(len(data.train), n, seed, 0)[:1]))
        meta = {"label": labels.to(device), **pixel_stats}
        panels, captions = task_examples(task, normalize(images.to(device)), meta)
    save_examples(panels, captions, path, title=f"{type(task).__name__}: training examples")
