"""Training throughput: each task's full step against the backbone's own forward+backward, and epoch scaling.

1. For each task, built exactly as ``ssl pretrain`` builds it (config -> task, ``fit_data`` on the data), images
   per second of the full training step (task inputs built on the device, forward, loss, backward, optimizer
   step, through the engine's ``StepContext``) against a plain step of the backbone alone (backbone + linear
   head + cross-entropy, forward, backward, the same optimizer) at the same batch and input size; the ratio;
   peak memory (CUDA: ``max_memory_allocated``; CPU: the process's peak RSS, each row in a fresh process).
   Patch tasks feed the backbone other inputs than the image (context: two small patches; jigsaw: nine
   tiles, whose deep feature maps round up to more work than one image's), so a second ratio compares the
   step with the same plain step on the task's own inputs: what the task adds (input building, heads, loss).
   Rotation shows one rotation per image (``task.all_rotations=false``, the images per step of the other
   tasks); with all four it feeds the backbone 4x the images by design.
2. Epoch time of ``rotation`` at 1x, 2x and 4x the number of training tiles (whole ``pretrain`` runs of one
   epoch, each in a fresh process): the cost should grow linearly and memory stay flat.

Data: EuroSAT RGB tiles (64 px) from ``$SSL_DATA_ROOT`` / ``../shared/data``. Default sizes suit a CPU;
on a GPU use e.g. ``--batch 256 --precision bf16 --channels-last``:

    .venv/bin/python benchmarks/throughput.py [--batch 64] [--steps 6] [--scale 512]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from task_inputs import flatten_inputs  # the sibling benchmark's; this script's folder is on sys.path

TASKS = {  # task -> config overrides: the settings of the EuroSAT bench suite
    "rotation": {"task.all_rotations": False},
    "transpose": {},
    "context": {},
    "jigsaw": {"task.num_permutations": 100},
    "damaged_jigsaw": {"task.num_permutations": 100},
    "geolocation": {},
    "gan": {"optim.name": "adam", "optim.lr": 0.0002, "optim.momentum": 0.5},
    "vae": {"optim.name": "adam"},
}
BACKBONE_ONLY = "backbone only"


def peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def config_for(task: str, args: argparse.Namespace) -> dict:
    from ssl_toolkit.build import resolve_config

    overrides = {
        "task.name": task if task != BACKBONE_ONLY else "rotation",
        "data.name": "eurosat-rgb",
        "backbone.name": args.backbone,
        "train.batch_size": args.batch,
        "train.precision": args.precision,
        "train.channels_last": args.channels_last,
        "train.compile": args.compile,
        "optim.name": "adamw",
        "optim.lr": 0.001,
        "schedule.name": "constant",
        **TASKS.get(task, {}),
    }
    return resolve_config({}, list(overrides.items()))


def measure_row(task: str, args: argparse.Namespace) -> dict:
    """Images per second of ``task``'s training step (or of the backbone alone) on one batch of real tiles."""
    from torch import nn

    from ssl_toolkit.build import build_task, needs_coords, open_data
    from ssl_toolkit.data import Normalizer, iterate, sequential_order
    from ssl_toolkit.device import resolve_device, seed_everything
    from ssl_toolkit.engine.optim import build_optimizer
    from ssl_toolkit.engine.step import StepContext

    device = resolve_device(args.device)
    seed_everything(1)
    config = config_for(task, args)
    data_cfg = dict(config["data"], subset=max(args.batch, 512))
    data = open_data(data_cfg, need_coords=needs_coords(config))
    memory_format = torch.channels_last if args.channels_last else torch.contiguous_format
    normalize = Normalizer.for_data(data, device)
    images, meta = next(iterate(data.train, sequential_order(len(data.train), args.batch)[:1]))
    images = normalize(images.to(device)).contiguous(memory_format=memory_format)
    meta = {k: v.to(device) for k, v in meta.items()} | {"pixel_mean": normalize.mean, "pixel_std": normalize.std}
    optim = config["optim"]

    def plain_step(inputs: torch.Tensor):
        """Backbone + linear head + cross-entropy on ``inputs``, the same optimizer, through StepContext."""
        from ssl_toolkit.build import build_backbone

        backbone = build_backbone(config["backbone"], data)
        model = nn.Sequential(backbone, nn.Linear(backbone.num_features, 10)).to(device, memory_format=memory_format)
        params = list(model.parameters())
        opt = build_optimizer(optim["name"], params, optim["lr"], optim["weight_decay"], optim["momentum"])
        labels = torch.randint(0, 10, (len(inputs),), device=device)

        class Plain(nn.Module):
            def forward(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
                return {"loss": nn.functional.cross_entropy(model(x).float(), y)}

        forward = torch.compile(Plain()) if args.compile else Plain()
        ctx = StepContext(forward, {"main": opt}, device, args.precision)

        def step() -> None:
            ctx.step(ctx.forward(inputs, labels)["loss"])

        return step

    own_inputs = None
    if task == BACKBONE_ONLY:
        step = plain_step(images)
    else:
        module = build_task(config, data).to(device, memory_format=memory_format)
        optimizers = {
            name: build_optimizer(optim["name"], params, optim["lr"], optim["weight_decay"], optim["momentum"])
            for name, params in module.optimizer_groups().items()
        }
        ctx = StepContext(torch.compile(module) if args.compile else module, optimizers, device, args.precision)
        module.train()

        def step() -> None:
            module.training_step(images, meta, ctx)

        if hasattr(module, "build_inputs"):
            with torch.no_grad():
                own_inputs = flatten_inputs(module.build_inputs(images, meta))

    seconds = timed(step, args, device)
    record = {"task": task, "images_per_s": len(images) / seconds, "peak_mb": peak_memory_mb(device)}
    if own_inputs is not None:  # the plain step on what the task feeds its backbone, per source image
        record["own_inputs_images_per_s"] = len(images) / timed(plain_step(own_inputs), args, device)
    return record | {
        "device": str(device),
        "task_input_shape": list(own_inputs.shape) if own_inputs is not None else None,
    }


def timed(step, args: argparse.Namespace, device: torch.device) -> float:
    """Seconds per call of ``step`` after ``args.warmup`` calls, over ``args.steps`` calls."""
    for _ in range(args.warmup):
        step()
    sync(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    t0 = time.perf_counter()
    for _ in range(args.steps):
        step()
    sync(device)
    return (time.perf_counter() - t0) / args.steps


def measure_epoch(tiles: int, args: argparse.Namespace) -> dict:
    """One epoch of rotation on ``tiles`` EuroSAT tiles through ``pretrain``; seconds of training and peak memory."""
    from ssl_toolkit.commands.pretrain import pretrain

    config = config_for("rotation", args)
    config["data"]["subset"] = tiles
    config["train"]["device"] = args.device
    with tempfile.TemporaryDirectory() as out:
        summary = pretrain(config, Path(out) / "run", resume=False)
        records = [json.loads(line) for line in (Path(out) / "run" / "metrics.jsonl").read_text().splitlines()]
    device = torch.device("cuda" if torch.cuda.is_available() and args.device != "cpu" else "cpu")
    seconds = max(r["elapsed_s"] for r in records if "elapsed_s" in r)
    return {"tiles": tiles, "steps": summary["step"], "seconds": seconds, "peak_mb": peak_memory_mb(device)}


def in_fresh_process(kind: str, value: str, args: argparse.Namespace) -> dict:
    """Run one measurement in a new interpreter, so its peak memory is its own."""
    command = [sys.executable, __file__, f"--{kind}", value, *args.passthrough]
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "TQDM_DISABLE": "1"})
    if done.returncode != 0:
        raise SystemExit(f"{kind} {value} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--backbone", default="resnet18")
    parser.add_argument("--steps", type=int, default=6, help="timed steps per row")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--precision", default="fp32", choices=("fp32", "bf16"))
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--scale", type=int, default=512, help="tiles of the 1x epoch (0: skip part 2)")
    parser.add_argument("--tasks", default=",".join(TASKS), help="comma-separated tasks to measure")
    parser.add_argument("--row", help=argparse.SUPPRESS)
    parser.add_argument("--epoch", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.passthrough = [
        f"--batch={args.batch}",
        f"--backbone={args.backbone}",
        f"--steps={args.steps}",
        f"--warmup={args.warmup}",
        f"--device={args.device}",
        f"--precision={args.precision}",
        *(["--channels-last"] if args.channels_last else []),
        *(["--compile"] if args.compile else []),
    ]
    if args.row:
        print(json.dumps(measure_row(args.row, args)))
        return
    if args.epoch:
        print(json.dumps(measure_epoch(args.epoch, args)))
        return

    settings = f"{args.backbone}, 64 px, batch {args.batch}, {args.precision}"
    settings += ", channels_last" if args.channels_last else ""
    settings += ", torch.compile" if args.compile else ""
    base = in_fresh_process("row", BACKBONE_ONLY, args)
    print(f"1) full training step vs backbone forward+backward ({settings}, {base['device']})")
    print(f"{'task':<16}{'images/s':>10}{'vs backbone':>13}{'vs own inputs':>15}{'peak MB':>10}  backbone input")
    print(f"{BACKBONE_ONLY:<16}{base['images_per_s']:>10.1f}{'1.00x':>13}{'-':>15}{base['peak_mb']:>10.0f}")
    for task in args.tasks.split(","):
        row = in_fresh_process("row", task, args)
        ratio = row["images_per_s"] / base["images_per_s"]
        own = row.get("own_inputs_images_per_s")
        own_text = f"{row['images_per_s'] / own:.2f}x" if own else "-"
        shape = "x".join(map(str, row["task_input_shape"])) if row["task_input_shape"] else "(its own)"
        print(
            f"{task:<16}{row['images_per_s']:>10.1f}{ratio:>12.2f}x{own_text:>15}{row['peak_mb']:>10.0f}  {shape}",
            flush=True,
        )
    if args.scale:
        print(f"\n2) one epoch of rotation at 1x, 2x, 4x tiles ({settings})")
        print(f"{'tiles':>8}{'steps':>7}{'seconds':>10}{'s per step':>12}{'vs 1x per tile':>16}{'peak MB':>10}")
        first = None
        for factor in (1, 2, 4):
            row = in_fresh_process("epoch", str(factor * args.scale), args)
            per_tile = row["seconds"] / row["tiles"]
            first = first or per_tile
            print(
                f"{row['tiles']:>8}{row['steps']:>7}{row['seconds']:>10.1f}{row['seconds'] / row['steps']:>12.3f}"
                f"{per_tile / first:>15.2f}x{row['peak_mb']:>10.0f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
