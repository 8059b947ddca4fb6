"""``ssl pretrain``: resolve the config once, build data -> backbone -> task, write the run folder around the
engine's loop (config, examples, then after training the exported backbone, the loss plot and, under torchrun,
every rank's weights digest)."""

from __future__ import annotations

import argparse
import contextlib
import shutil
from pathlib import Path
from typing import Any

import torch

from pretext.base import PretextTask
from ssl_toolkit import atomic, lock
from ssl_toolkit import config as cfg
from ssl_toolkit.build import build_backbone, build_task, needs_coords, open_data, resolve_config
from ssl_toolkit.data import DataSource, Normalizer, batches_per_epoch
from ssl_toolkit.device import resolve_device, seed_everything
from ssl_toolkit.engine import checkpoint, distributed, memory
from ssl_toolkit.engine.calibrate import seconds_per_step
from ssl_toolkit.engine.checkpoint import LAST
from ssl_toolkit.engine.loop import train
from ssl_toolkit.engine.metrics import MetricsLog
from ssl_toolkit.engine.settings import TrainSettings
from ssl_toolkit.errors import UserError
from ssl_toolkit.pictures.examples import draw_examples
from ssl_toolkit.pictures.plots import loss_curves
from ssl_toolkit.recipes import describe
from ssl_toolkit.runs import Run

# keys that may change when a run is resumed; anything else would make the checkpoint mean something else
RESUMABLE_KEYS = cfg.RUN_ONLY_KEYS | {"train.max_steps", "train.epochs"}


def add_run_arguments(p: argparse.ArgumentParser) -> None:
    """What a run is made of: task, config file, data, backbone (shared by pretrain and show)."""
    p.add_argument("--task", help="registered task name (see `ssl tasks`); default transpose")
    p.add_argument("--config", help="YAML config file (see configs/)")
    p.add_argument(
        "--data",
        help="mnist, eurosat-rgb, eurosat-ms, or a folder (GeoTIFFs; images ROOT/<class>/<image>; images listed in "
        "a locations.csv with path,lat,lon[,label]); default mnist",
    )
    p.add_argument("--backbone", help="mnist_net or any timm model name; default mnist_net")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "pretrain",
        help="pretrain a backbone on a pretext task",
        description="Pretrain a backbone. Trailing key=value pairs override any config key by its "
        "dotted path, e.g. optim.lr=0.01 task.p=0.5.",
    )
    add_run_arguments(p)
    p.add_argument("--epochs", type=int, help="epochs to train")
    p.add_argument("--max-steps", type=int, help="stop after this many optimizer steps in all")
    p.add_argument("--batch-size", type=int, help="images per batch")
    p.add_argument("--seed", type=int, help="seed for initialisation, data order and task randomness")
    p.add_argument("--out", help="run folder (default runs/<task>-<data>-seed<seed>)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out to its configured end")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides by dotted key")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> None:
    flags = [
        ("task.name", args.task, "--task"),
        ("data.name", args.data, "--data"),
        ("backbone.name", args.backbone, "--backbone"),
        ("train.epochs", args.epochs, "--epochs"),
        ("train.max_steps", args.max_steps, "--max-steps"),
        ("train.batch_size", args.batch_size, "--batch-size"),
        ("train.seed", args.seed, "--seed"),
    ]
    overrides = cfg.with_flags(flags, [cfg.parse_override(o) for o in args.overrides])
    if args.resume:
        config = resume_config(args, overrides)
    else:
        file_values = cfg.load_yaml(args.config) if args.config else {}
        config = resolve_config(file_values, overrides)
        if distributed.world_from_env().main:
            given = set(cfg.flatten(file_values)) | {k for k, _ in overrides}
            print(describe(cfg.flatten(config), given), flush=True)
    run_dir = Path(args.out) if args.out else default_run_dir(config)
    summary = pretrain(config, run_dir, resume=args.resume)
    if not distributed.world_from_env().main:  # under torchrun, rank 0 reports
        return
    if summary["skipped"]:
        listed = f" (bad files listed in {run_dir / 'skipped_files.csv'})" if "bad file" in summary["skipped"] else ""
        print(f"{summary['skipped']}{listed}")
    print(
        f"pretrained {config['task']['name']} on {config['data']['name']}: step {summary['step']}, "
        f"epoch {summary['epoch']} -> {Run(run_dir).backbone_file}"
    )


def resume_config(args: argparse.Namespace, overrides: list[tuple[str, Any]]) -> dict[str, Any]:
    """The run's own config.yaml with the overrides a resume may make (``RESUMABLE_KEYS``)."""
    if args.out is None:
        raise UserError("--resume needs --out RUN_DIR, the run folder to continue")
    if args.config is not None:
        raise UserError("--resume continues the run with its own config.yaml; drop --config")
    saved = Run(args.out).config_file
    if not saved.is_file():
        raise UserError(f"--resume: {args.out} holds no run (no config.yaml)")
    saved_config = resolve_config(cfg.load_yaml(saved), [])
    for key in ("task.name", "backbone.name", "data.name"):
        old = cfg.flatten(saved_config)[key]
        new = dict(overrides).get(key, old)
        if new != old:
            raise UserError(
                f"cannot change {key} when resuming: {args.out} is a run of {key.split('.')[0]} {old!r}, not "
                f"{new!r}; start a new run with another --out"
            )
    config = resolve_config(cfg.load_yaml(saved), overrides)
    old_flat, new_flat = cfg.flatten(saved_config), cfg.flatten(config)
    for key, _ in overrides:
        if key not in RESUMABLE_KEYS and old_flat.get(key) != new_flat.get(key):
            raise UserError(
                f"cannot change {key} when resuming (the run used {old_flat.get(key)!r}); resuming may change "
                f"only {', '.join(sorted(RESUMABLE_KEYS))}; start a new run with another --out"
            )
    if not any(k == "train.max_steps" for k, _ in overrides):
        config["train"]["max_steps"] = None  # a cap applies to the invocation that set it
    return config


def default_run_dir(config: dict[str, Any]) -> Path:
    data = Path(config["data"]["name"]).name or "data"
    return Path("runs") / f"{config['task']['name']}-{data}-seed{config['train']['seed']}"


def pretrain(config: dict[str, Any], run_dir: Path, resume: bool) -> dict[str, Any]:
    """Run (or resume) a pretraining run described by a resolved config; returns the engine's summary.

    The run owns its folder while it runs (``lock``; rank 0 holds it). A fresh run that stops on a user mistake
    before its first checkpoint leaves no folder behind; a refused resume leaves the folder as it was."""
    run = Run(run_dir)
    if run.path.exists() and not run.path.is_dir():
        raise UserError(f"--out {run.path} is a file; a run needs a folder")
    world = distributed.world_from_env()
    created = lock.first_missing(run.path)
    with lock.exclusive(run.path, "ssl pretrain") if world.main else contextlib.nullcontext():
        try:
            if run.has_checkpoint() and not resume:
                raise UserError(
                    f"{run.path} already holds a run; pass --resume to continue it, or choose another --out"
                )
            if resume:
                check_resumable(run, config)
            device = distributed.start(world, resolve_device(config["train"]["device"]))
            try:
                summary = _pretrain(config, run, resume, world, device)
            except BaseException:
                distributed.stop(error=True)
                raise
            distributed.stop()
            return summary
        except UserError:
            if world.main and created is not None and not run.has_checkpoint():
                shutil.rmtree(created, ignore_errors=True)
            raise


def check_resumable(run: Run, config: dict[str, Any]) -> None:
    """A run resumes from a readable ``last.pt`` made with the config its config.yaml holds now (less the keys
    a resume may change); checked before anything is written. Leftover temporary files of a killed write go."""
    path = run.checkpoints / LAST
    if not path.exists():
        raise UserError(
            f"--resume: {run.path} holds no checkpoint to resume from ({path}); start it anew without --resume"
        )
    saved = checkpoint.load(path).get("config")
    if saved is not None:  # checkpoints made before they kept the config cannot be checked
        changed = cfg.changed_keys(saved, config, RESUMABLE_KEYS)
        if changed:
            old, new = cfg.flatten(saved), cfg.flatten(config)
            shown = ", ".join(f"{k} {old.get(k)!r} -> {new.get(k)!r}" for k in changed[:3])
            raise UserError(
                f"{run.config_file} differs from the config {path.name} was made with ({shown}); put it back, "
                "or start a new run with another --out"
            )
    run.remove_temporaries()


def _pretrain(
    config: dict[str, Any], run: Run, resume: bool, world: distributed.World, device: torch.device
) -> dict[str, Any]:
    settings = TrainSettings.from_config(config)
    seed_everything(settings.seed)
    data = open_data(config["data"], needs_coords(config), run.stats_for(config["data"]) if resume else None)
    if data.split_note and world.main:
        print(data.split_note, flush=True)
    check_memory(config, data, settings, world, device)
    task = build_task(config, data)  # the same initial weights on every rank
    if task.revisits is not None and world.main:
        print(task.revisits.note, flush=True)
    if settings.minutes is not None and not resume:
        settings = fit_to_minutes(config, settings, task, data, world, device)
    if world.rank:
        seed_everything(settings.seed + 1_000_003 * world.rank)  # each rank its own task randomness
    if world.main:
        run.write_files(config, data)
        write_task_files(task, data, run, settings, device)
    distributed.barrier(world)  # the run folder is written before any rank goes on
    summary = train(task, data, run.path, settings, device=device, world=world, resume=resume, config=config)
    if world.distributed:
        summary["weights_digests"] = check_ranks_agree(task, world, run)
    if world.main:
        draw_task_examples(task.eval(), data, run, settings, device)  # again: a generator's examples are trained now
        run.save_backbone(task.backbone, {"step": str(summary["step"])})
        loss_curves(MetricsLog(run.metrics_file).read(), run.plots / "loss.png", title=run.path.name)
    skipped = ""
    if data.skipped:
        skipped = f"skipped {len(data.skipped)} bad file(s), first {data.skipped[0][0]}: {data.skipped[0][1]}"
    if data.empty_windows:
        empty = f"left out {data.empty_windows} window(s) with less than {config['data']['min_valid_fraction']:.0%} "
        skipped = "; ".join(filter(None, [skipped, empty + "valid pixels (data.min_valid_fraction)"]))
    return {**summary, "skipped": skipped}


def fit_to_minutes(
    config: dict[str, Any],
    settings: TrainSettings,
    task: PretextTask,
    data: DataSource,
    world: distributed.World,
    device: torch.device,
) -> TrainSettings:
    """``train.minutes``: the whole number of epochs nearest to that much training at the speed of a few timed
    steps (at least one), written into the config, so the schedule ends near the budget and config.yaml says what
    was run. (Rounded, not cut: a budget of 1.9 epochs gets 2, not 1.)"""
    if world.distributed:
        raise UserError("train.minutes needs one process (the ranks would time their steps apart); set train.epochs")
    step = seconds_per_step(task, data, settings, device)
    per_epoch = batches_per_epoch(len(data.train), settings.batch_size)
    epochs = max(1, round(settings.minutes * 60 / (step * per_epoch)))
    config["train"]["epochs"] = epochs
    print(
        f"train.minutes={settings.minutes:g}: {step:.3f} s a step, {per_epoch} steps an epoch -> "
        f"train.epochs={epochs} (about {epochs * per_epoch * step / 60:.1f} minutes)",
        flush=True,
    )
    return TrainSettings.from_config(config)


def check_memory(
    config: dict[str, Any], data: DataSource, settings: TrainSettings, world: distributed.World, device: torch.device
) -> None:
    """Refuse, before anything is allocated, a run whose estimated memory (``engine.memory``) exceeds what is free."""
    per_process = max(1, settings.batch_size // world.size)
    need = memory.estimate(
        lambda: build_backbone(config["backbone"], data),
        data.in_chans,
        data.img_size,
        per_process,
        settings.optimizer,
        settings.momentum,
    )
    free = memory.free_bytes(device)
    if free is not None and need.total > free:
        where = "the GPU" if device.type == "cuda" else "this machine"
        raise UserError(
            f"this run needs about {memory.gib(need.total)} ({config['backbone']['name']} has "
            f"{need.weights / 1e6:,.0f} M weights: {memory.gib(need.training_bytes)} with gradients and "
            f"{settings.optimizer} state; a batch of {per_process} images of {data.img_size} px: "
            f"{memory.gib(need.activation_bytes)}) but {where} has {memory.gib(free)} free; lower "
            "train.batch_size, data.tile_size or data.image_size, or choose a smaller backbone.name"
        )


def write_task_files(
    task: PretextTask, data: DataSource, run: Run, settings: TrainSettings, device: torch.device
) -> None:
    """The task's own files (permutation sets, clusters) and, once per run, a picture of what it feeds the
    network. Drawn on the training device before the loop wraps the task (a synchronised batch norm would
    wait for ranks that draw nothing)."""
    memory_format = torch.channels_last if settings.channels_last else torch.contiguous_format
    task.to(device, memory_format=memory_format)
    for name, content in task.run_files().items():
        atomic.write(run.path / name, content)
    if not (run.plots / "examples.png").exists():
        draw_task_examples(task, data, run, settings, device)


def draw_task_examples(
    task: PretextTask, data: DataSource, run: Run, settings: TrainSettings, device: torch.device
) -> None:
    """``plots/examples.png``: what the task feeds the network, in the task's current mode (before training as
    built, as runs always drew it; after training in eval mode)."""
    normalize = Normalizer.for_data(data, device)
    title = f"{type(task).__name__}: training examples"
    try:
        draw_examples(task, data, normalize, device, settings.seed, run.plots / "examples.png", title)
    except ValueError as e:  # the task cannot use these images (their size or shape)
        raise UserError(f"task cannot use this data: {e}") from None


def check_ranks_agree(task: torch.nn.Module, world: distributed.World, run: Run) -> list[str]:
    """Every rank's weights digest; rank 0 writes them to ``distributed.json``. Differing digests are an error:
    DDP keeps replicas identical, so a difference means the ranks did not train the same model."""
    digests = distributed.gather(distributed.weights_digest(task), world)
    if world.main:
        run.write_distributed(world.size, digests)
    if len(set(digests)) != 1:
        raise RuntimeError(f"ranks ended with different weights (digests {digests}); see {run.path}/distributed.json")
    return digests
