"""``ssl probe``: load a run's backbone (or a random one), open labelled data, run a probe, write probe.json."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any

from ssl_toolkit import atomic
from ssl_toolkit import config as cfg
from ssl_toolkit.backbones.base import Backbone
from ssl_toolkit.data import DataSource
from ssl_toolkit.data.splitting import label_subset
from ssl_toolkit.device import resolve_device, seed_everything
from ssl_toolkit.errors import UserError
from ssl_toolkit.pretrain import (
    CHANNEL_KEYS,
    NORMALIZATION_FILE,
    build_backbone,
    load_normalization,
    needs_coords,
    open_data,
)
from ssl_toolkit.registry import PROBES
from ssl_toolkit.weights import load_backbone_weights

# a probe measures on the whole test set unless told otherwise, even when the run was pretrained on a subset
INHERITED_DATA_KEYS = tuple(
    k for k in cfg.SCHEMA if k.startswith("data.") and k not in ("data.subset", "data.num_workers")
)
DATA_KEYS = (*INHERITED_DATA_KEYS, "data.subset", "data.num_workers")
# low-shot: the probe trains on this share of the training labels (per class, seeded by the probe's seed)
LABEL_FRACTION = cfg.Key(float, 1.0, minimum=1e-6)


def low_shot_tag(fraction: float) -> str:
    """'' for all labels, '-1pct' / '-10pct' / '-0.5pct' for a share of them."""
    if fraction >= 1:
        return ""
    pct = 100 * fraction
    return f"-{pct:g}pct"


def resolve_probe_config(
    protocol: str, run_config: dict[str, Any] | None, overrides: list[tuple[str, Any]]
) -> dict[str, Any]:
    """``data.*`` (from the run's config when there is one) and ``probe.*`` (the probe's constructor)."""
    schema = {k: cfg.SCHEMA[k] for k in DATA_KEYS}
    schema.update(cfg.params_schema(PROBES.get(protocol), "probe.", skip=()))
    schema["probe.label_fraction"] = LABEL_FRACTION
    flat = {k: spec.default for k, spec in schema.items()}
    if run_config is not None:
        run_flat = cfg.flatten(run_config)
        flat.update({k: run_flat[k] for k in INHERITED_DATA_KEYS if k in run_flat})
        try:
            flat = cfg.apply(schema, flat, {k: flat[k] for k in INHERITED_DATA_KEYS})
        except UserError as e:
            raise UserError(f"the run's config.yaml: {e}") from None
    return cfg.unflatten(cfg.apply(schema, flat, dict(overrides)))


def _run_stats(run_dir: Path | None, data_cfg: dict[str, Any]) -> tuple[tuple[float, ...], tuple[float, ...]] | None:
    """The normalisation the run trained with, when the probe reads the same channels of the same dataset."""
    if run_dir is None:
        return None
    saved = load_normalization(run_dir / NORMALIZATION_FILE)
    if saved is None or saved["data_config"] != {k: data_cfg[k] for k in CHANNEL_KEYS}:
        return None
    return saved["mean"], saved["std"]


def read_run_config(run_dir: Path) -> dict[str, Any]:
    if not (run_dir / "config.yaml").is_file():
        raise UserError(f"{run_dir} is not a run folder (no config.yaml); pass the --out folder of `ssl pretrain`")
    return cfg.load_yaml(run_dir / "config.yaml")


def open_labelled_data(
    run_dir: Path | None, run_config: dict[str, Any] | None, data_cfg: dict[str, Any]
) -> tuple[DataSource, tuple | None]:
    """The labelled data a run is measured on (and the run's normalisation statistics, when they apply)."""
    run_stats = _run_stats(run_dir, data_cfg)
    # the samples the run kept: a run whose task needs coordinates left out tiles without them, and the probe's
    # split must be drawn from the same samples, or pretraining tiles could land in the probe's test set
    coords = run_config is not None and needs_coords(run_config)
    data = open_data(data_cfg, need_coords=coords, stats=run_stats)
    if data.num_classes == 0 or bool((data.train.labels < 0).any() or (data.test.labels < 0).any()):
        raise UserError(f"data '{data.name}' is not labelled throughout; a probe needs a class for every sample")
    return data, run_stats


def load_backbone(
    run_dir: Path | None, run_config: dict[str, Any] | None, backbone_name: str | None, data: DataSource
) -> Backbone:
    """The run's backbone with its weights, or a randomly initialised ``backbone_name`` when there is no run."""
    if run_config is not None:
        backbone_cfg = run_config.get("backbone")
        if not isinstance(backbone_cfg, dict) or not isinstance(backbone_cfg.get("name"), str):
            raise UserError(f"{run_dir / 'config.yaml'}: expected a backbone section with a name")
        if backbone_name is not None and backbone_name != backbone_cfg.get("name"):
            raise UserError(f"--backbone {backbone_name} differs from the run's backbone {backbone_cfg.get('name')}")
    else:
        backbone_cfg = {"name": backbone_name}
    backbone = build_backbone({"in_chans": None, "img_size": None, **backbone_cfg}, data)
    if run_dir is not None:
        load_backbone_weights(run_dir / "backbone.safetensors", backbone)
    return backbone


def probe(
    *,
    protocol: str,
    run_dir: Path | None,
    backbone_name: str | None,
    seed: int,
    out_dir: Path | None,
    overrides: list[tuple[str, Any]],
    device_name: str = "auto",
) -> dict[str, Any]:
    """Measure a backbone; ``run_dir`` None means a randomly initialised ``backbone_name``."""
    run_config = read_run_config(run_dir) if run_dir is not None else None
    probe_cfg = resolve_probe_config(protocol, run_config, overrides)
    probe_settings = dict(probe_cfg["probe"])
    label_fraction = probe_settings.pop("label_fraction")
    if label_fraction > 1:
        raise UserError(f"probe.label_fraction must be in (0, 1], got {label_fraction}")
    try:
        prober = PROBES.get(protocol)(**probe_settings)
    except (ValueError, TypeError) as e:
        raise UserError(f"probe '{protocol}': {e}") from None
    device = resolve_device(device_name)
    seed_everything(seed)
    data, run_stats = open_labelled_data(run_dir, run_config, probe_cfg["data"])
    full_train = len(data.train)
    if label_fraction < 1:
        data = dataclasses.replace(data, train=data.train.select(label_subset(data.train.labels, label_fraction, seed)))
    backbone = load_backbone(run_dir, run_config, backbone_name, data).to(device)
    t0 = time.time()
    result = prober.run(backbone, data, device, seed, data_config=probe_cfg["data"])
    record = {
        "accuracy": round(result.pop("accuracy"), 4),
        "protocol": protocol,
        "backbone": backbone.name,
        "run": str(run_dir) if run_dir is not None else None,
        "init": "pretrained" if run_dir is not None else "random",
        "epochs": probe_cfg["probe"].get("epochs"),
        "seed": seed,
        "data": probe_cfg["data"]["name"],
        "split": data.split,
        "normalization": "the run's normalization.json" if run_stats else "computed on this training split",
        "label_fraction": label_fraction,
        "train_size": len(data.train),
        "train_pool": full_train,
        "test_size": len(data.test),
        "wall_seconds": round(time.time() - t0, 2),
        **result,
    }
    if out_dir is None:
        split_tag = low_shot_tag(label_fraction) + ("" if data.split == "random" else f"-{data.split}")
        if run_dir is not None:
            out_dir = run_dir / "probes" / f"{protocol}{split_tag}-seed{seed}"
        else:
            data_tag = Path(probe_cfg["data"]["name"]).name
            out_dir = Path("runs") / "random-init" / f"{backbone.name}-{data_tag}-{protocol}{split_tag}-seed{seed}"
    atomic.write_text(out_dir / "probe.json", json.dumps(record, indent=2) + "\n")
    record["out"] = str(out_dir / "probe.json")
    return record
