"""``ssl pretrain``: resolve the config once, build data -> backbone -> task, hand them to the engine."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import torch

from pretext.multi import MultiTask
from ssl_toolkit import atomic
from ssl_toolkit import config as cfg
from ssl_toolkit.backbones import create_backbone
from ssl_toolkit.data import DataOptions, DataSource, load_data
from ssl_toolkit.device import resolve_device, seed_everything
from ssl_toolkit.engine import distributed
from ssl_toolkit.engine.loop import train
from ssl_toolkit.errors import UserError
from ssl_toolkit.registry import TASKS


def task_names(name: str) -> list[str]:
    """'rotation+jigsaw' -> ['rotation', 'jigsaw'] (each checked against the registry)."""
    names = [n.strip() for n in name.split("+")]
    if len(set(names)) != len(names):
        raise UserError(f"task '{name}' names a task twice")
    for n in names:
        TASKS.get(n)
    return names


def task_schema(flat: dict[str, Any]) -> dict[str, cfg.Key]:
    """The chosen task's constructor parameters as ``task.<param>`` keys; for a combined task ``a+b``,
    ``task.a.<param>`` and ``task.a.weight`` (the loss weight, default 1) for each of its tasks."""
    names = task_names(flat["task.name"])
    if len(names) == 1:
        return cfg.params_schema(TASKS.get(names[0]), "task.")
    schema: dict[str, cfg.Key] = {}
    for n in names:
        schema.update(cfg.params_schema(TASKS.get(n), f"task.{n}."))
        schema[f"task.{n}.weight"] = cfg.Key(float, 1.0, minimum=0)
    return schema


def resolve_config(file_values: dict[str, Any], overrides: list[tuple[str, Any]]) -> dict[str, Any]:
    """The checked config; ``backbone.norm=auto`` becomes the norm the task asks for (``batch`` unless the task's
    ``backbone_norm`` says otherwise, e.g. ``layer`` for a WGAN-GP critic), so config.yaml records the built net."""
    config = cfg.resolve(file_values, overrides, extra_schema=task_schema)
    if config["backbone"]["norm"] == "auto":
        names = task_names(config["task"]["name"])
        params = [config["task"]] if len(names) == 1 else [config["task"][n] for n in names]
        wanted = {TASKS.get(n).backbone_norm(p) for n, p in zip(names, params)}
        config["backbone"]["norm"] = "layer" if "layer" in wanted else "batch"
    return config


def default_run_dir(config: dict[str, Any]) -> Path:
    data = Path(config["data"]["name"]).name or "data"
    return Path("runs") / f"{config['task']['name']}-{data}-seed{config['train']['seed']}"


def open_data(
    data_cfg: dict[str, Any],
    need_coords: bool = False,
    stats: tuple[tuple[float, ...], tuple[float, ...]] | None = None,
) -> DataSource:
    """The configured dataset (``data.*`` keys); ``stats`` replaces the computed normalisation statistics."""
    return load_data(data_cfg["name"], data_options(data_cfg), need_coords=need_coords, stats=stats)


def data_options(data_cfg: dict[str, Any]) -> DataOptions:
    """The ``data.*`` section (less the name and the loader's workers) as DataOptions."""
    return DataOptions(**{k: v for k, v in data_cfg.items() if k not in ("name", "num_workers")})


def needs_coords(config: dict[str, Any]) -> bool:
    """Whether any of the configured tasks needs each tile's coordinates (e.g. geolocation)."""
    return any(getattr(TASKS.get(n), "needs_coords", False) for n in task_names(config["task"]["name"]))


NORMALIZATION_FILE = "normalization.json"


# the data keys that decide what a channel is; a probe reuses a run's statistics only when they agree
CHANNEL_KEYS = ("name", "bands", "tile_size", "image_size")


def save_normalization(data: DataSource, data_cfg: dict[str, Any], path: Path) -> None:
    """The per-channel statistics the run normalised with, so probes normalise the same way."""
    record = {
        "data_config": {k: data_cfg[k] for k in CHANNEL_KEYS},
        "data": data.name,
        "split": data.split,
        "pixel_scale": data.pixel_scale,
        "mean": list(data.mean),
        "std": list(data.std),
        **data.stats_note,
    }
    atomic.write_text(path, json.dumps(record, indent=2) + "\n")


def load_normalization(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text())
        if "data_config" not in record:  # written before the data keys were recorded: compute afresh
            return None
        return {"data_config": dict(record["data_config"]), "mean": tuple(record["mean"]), "std": tuple(record["std"])}
    except (ValueError, KeyError, TypeError) as e:
        raise UserError(f"{path}: not a normalisation record ({e})") from None


def build_backbone(backbone_cfg: dict[str, Any], data: DataSource):
    in_chans = backbone_cfg["in_chans"] or data.in_chans
    if in_chans != data.in_chans:
        raise UserError(f"backbone.in_chans is {in_chans} but data '{data.name}' has {data.in_chans} channels")
    try:
        norm = backbone_cfg.get("norm") or "batch"  # runs made before the key existed used batch norm
        return create_backbone(
            backbone_cfg["name"], in_chans, backbone_cfg["img_size"], data.img_size, "batch" if norm == "auto" else norm
        )
    except (ValueError, TypeError) as e:
        raise UserError(f"backbone '{backbone_cfg['name']}': {e}") from None


def build_task(config: dict[str, Any], data: DataSource):
    """The configured task on a new backbone sized for ``data``."""
    backbone = build_backbone(config["backbone"], data)
    names = task_names(config["task"]["name"])
    try:
        if len(names) == 1:
            params = {k: v for k, v in config["task"].items() if k != "name"}
            task = TASKS.get(names[0])(backbone, **params)
        else:
            tasks, weights = {}, {}
            for n in names:
                params = dict(config["task"][n])
                weights[n] = params.pop("weight")
                tasks[n] = TASKS.get(n)(backbone, **params)
            task = MultiTask(backbone, tasks, weights)
        task.fit_data(data)
        return task
    except (ValueError, TypeError) as e:
        raise UserError(f"task '{config['task']['name']}': {e}") from None


def pretrain(config: dict[str, Any], run_dir: Path, resume: bool) -> dict[str, Any]:
    """Run (or resume) a pretraining run described by a resolved config; returns the engine's summary."""
    if run_dir.exists() and not run_dir.is_dir():
        raise UserError(f"--out {run_dir} is a file; a run needs a folder")
    has_checkpoint = (run_dir / "checkpoints" / "last.pt").exists()
    if has_checkpoint and not resume:
        raise UserError(f"{run_dir} already holds a run; pass --resume to continue it, or choose another --out")
    world = distributed.world_from_env()
    device = distributed.start(world, resolve_device(config["train"]["device"]))
    try:
        return _pretrain(config, run_dir, resume, world, device)
    finally:
        distributed.stop()


def _pretrain(
    config: dict[str, Any], run_dir: Path, resume: bool, world: distributed.World, device: torch.device
) -> dict[str, Any]:
    train_cfg, optim_cfg, sched_cfg = config["train"], config["optim"], config["schedule"]
    seed_everything(train_cfg["seed"])
    saved = load_normalization(run_dir / NORMALIZATION_FILE) if resume else None
    stats = (saved["mean"], saved["std"]) if saved else None
    data = open_data(config["data"], needs_coords(config), stats)
    task = build_task(config, data)  # the same initial weights on every rank
    if world.rank:
        seed_everything(train_cfg["seed"] + 1_000_003 * world.rank)  # each rank its own task randomness
    if world.main:
        write_run_files(config, data, run_dir)
    distributed.barrier(world)  # the run folder is written before any rank goes on
    summary = train(
        task,
        data,
        run_dir,
        device=device,
        optimizer=optim_cfg["name"],
        lr=optim_cfg["lr"],
        weight_decay=optim_cfg["weight_decay"],
        momentum=optim_cfg["momentum"],
        grad_clip=optim_cfg["grad_clip"],
        schedule=sched_cfg["name"],
        warmup_steps=sched_cfg["warmup_steps"],
        gamma=sched_cfg["gamma"],
        epochs=train_cfg["epochs"],
        max_steps=train_cfg["max_steps"],
        batch_size=train_cfg["batch_size"],
        seed=train_cfg["seed"],
        precision=train_cfg["precision"],
        log_every=train_cfg["log_every"],
        checkpoint_every=train_cfg["checkpoint_every"],
        num_workers=config["data"]["num_workers"],
        resume=resume,
        world=world,
        sync_batchnorm=train_cfg["sync_batchnorm"],
        channels_last=train_cfg["channels_last"],
        compile_model=train_cfg["compile"],
    )
    skipped = ""
    if data.skipped:
        skipped = f"skipped {len(data.skipped)} bad file(s), first {data.skipped[0][0]}: {data.skipped[0][1]}"
    return {**summary, "skipped": skipped}


def write_run_files(config: dict[str, Any], data: DataSource, run_dir: Path) -> None:
    """The resolved config, the normalisation statistics and the list of skipped files (rank 0 only)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    cfg.save(config, run_dir / "config.yaml")
    save_normalization(data, config["data"], run_dir / NORMALIZATION_FILE)
    if data.skipped:
        table = io.StringIO()
        writer = csv.writer(table, lineterminator="\n")
        writer.writerow(["path", "reason"])
        writer.writerows(data.skipped)
        atomic.write_text(run_dir / "skipped_files.csv", table.getvalue())
