"""``ssl probe``: load a run's backbone (or a random one), open labelled data, run a probe, write probe.json."""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import math
import shutil
import time
from pathlib import Path
from typing import Any

from probes.base import percent
from ssl_toolkit import atomic, lock
from ssl_toolkit import config as cfg
from ssl_toolkit.build import (
    build_probe,
    inherited_data,
    needs_coords,
    open_labelled_data,
    random_backbone,
    resolve_probe_config,
)
from ssl_toolkit.data.splitting import label_subset
from ssl_toolkit.device import resolve_device, seed_everything
from ssl_toolkit.errors import UserError
from ssl_toolkit.registry import PROBES
from ssl_toolkit.runs import Run


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "probe",
        help="measure a frozen backbone",
        description="Probe a pretrained run (--run) or a random-init backbone. Trailing key=value "
        "pairs set data.* keys and the probe's own settings (probe.<name>).",
    )
    p.add_argument("--run", help="run folder written by `ssl pretrain`")
    p.add_argument("--random-init", action="store_true", help="probe a randomly initialised backbone (baseline)")
    p.add_argument("--backbone", help="backbone name for --random-init")
    p.add_argument("--data", help="labelled dataset (default: the run's dataset, or mnist)")
    p.add_argument("--protocol", default="linear", choices=PROBES.names(), help="probe protocol (default linear)")
    p.add_argument("--epochs", type=int, help="probe training epochs (seed-fc default 1)")
    p.add_argument("--seed", type=int, default=1, help="seed for the probe's initialisation and data order")
    p.add_argument("--out", help="folder for probe.json (default RUN/probes/<protocol>-seed<seed>)")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="e.g. data.subset=1000 probe.lr=0.5")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> None:
    if (args.run is None) == (not args.random_init):
        raise UserError("give exactly one of --run RUN_DIR or --random-init --backbone NAME")
    if args.random_init and args.backbone is None:
        raise UserError("--random-init needs --backbone NAME (e.g. mnist_net or resnet18)")
    flags = [("probe.epochs", args.epochs, "--epochs"), ("data.name", args.data, "--data")]
    overrides = cfg.with_flags(flags, [cfg.parse_override(o) for o in args.overrides])
    record = probe(
        protocol=args.protocol,
        run_dir=Path(args.run) if args.run else None,
        backbone_name=args.backbone,
        seed=args.seed,
        out_dir=Path(args.out) if args.out else None,
        overrides=overrides,
    )
    print(
        f"{record['protocol']} probe accuracy: {record['accuracy']:.2f}% "
        f"({record['init']} {record['backbone']}, {record['test_size']} test images) -> {record['out']}"
    )


def low_shot_tag(fraction: float) -> str:
    """'' for all labels, '-1pct' / '-10pct' / '-0.5pct' for a share of them."""
    if fraction >= 1:
        return ""
    pct = 100 * fraction
    return f"-{pct:g}pct"


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
    """Measure a backbone; ``run_dir`` None means a randomly initialised ``backbone_name``. The probe owns its
    output folder while it runs; one that a user mistake stopped is left as it was (or not made)."""
    run = Run(run_dir) if run_dir is not None else None
    run_config = run.read_config() if run is not None else None
    probe_cfg = resolve_probe_config(protocol, run_config, overrides)
    prober, label_fraction = build_probe(protocol, probe_cfg["probe"])
    out_dir = out_dir if out_dir is not None else default_probe_dir(protocol, run, backbone_name, probe_cfg, seed)
    created = lock.first_missing(out_dir)
    with lock.exclusive(out_dir, "ssl probe"):
        try:
            check_same_probe(out_dir, probe_cfg)
            record = _probe(
                protocol, prober, label_fraction, run, run_config, backbone_name, probe_cfg, seed, device_name
            )
            write_json(out_dir / "probe.json", record)
        except UserError:
            if created is not None:
                shutil.rmtree(created, ignore_errors=True)
            raise
    record["out"] = str(out_dir / "probe.json")
    return record


def default_probe_dir(
    protocol: str, run: Run | None, backbone_name: str | None, probe_cfg: dict[str, Any], seed: int
) -> Path:
    """``RUN/probes/<protocol>[-<pct>pct][-<split>][-<data>-<hash>]-seed<S>`` (a random-init backbone:
    ``runs/random-init/<backbone>-<data>-...``). The data part names another dataset than the run's, or data
    keys other than the run's (or, at random init, the defaults'), so probes on other data never share a folder."""
    data = probe_cfg["data"]
    split = data["split"]
    tag = low_shot_tag(probe_cfg["probe"]["label_fraction"]) + ("" if split == "random" else f"-{split}")
    reference = inherited_data(run.read_config()) if run is not None else {}
    keys = {k: v for k, v in data.items() if k not in ("subset", "num_workers", "split")}
    defaults = {k.removeprefix("data."): cfg.SCHEMA[k].default for k in cfg.SCHEMA if k.startswith("data.")}
    differ = {k: v for k, v in keys.items() if v != reference.get(k, defaults.get(k)) and k != "name"}
    data_tag = Path(data["name"]).name
    if differ:
        digest = hashlib.sha1(json.dumps(differ, sort_keys=True, default=str).encode()).hexdigest()[:6]
        tag += f"-{data_tag}-{digest}" if run is not None else f"-{digest}"
    elif run is not None and data["name"] != reference.get("name"):
        tag += f"-{data_tag}"
    if run is not None:
        return run.path / "probes" / f"{protocol}{tag}-seed{seed}"
    stem, width = probe_cfg["backbone"]["stem"], probe_cfg["backbone"]["width"]
    net = backbone_name + ("" if stem == "default" else f"-{stem}-stem") + ("" if width == 1.0 else f"-w{width:g}")
    return Path("runs") / "random-init" / f"{net}-{data_tag}-{protocol}{tag}-seed{seed}"


def check_same_probe(out_dir: Path, probe_cfg: dict[str, Any]) -> None:
    """A folder that holds a probe made with other data or settings is not overwritten."""
    path = out_dir / "probe.json"
    if not path.is_file():
        return
    try:
        before = json.loads(path.read_text())
    except ValueError:
        return  # a damaged record: replaced
    now = {"data_config": probe_cfg["data"], "probe_config": probe_cfg["probe"]}
    for part, value in now.items():
        old = before.get(part)
        if old is not None and json.loads(json.dumps(old)) != json.loads(json.dumps(value)):
            changed = sorted(k for k in set(old) | set(value) if old.get(k) != value.get(k))
            raise UserError(
                f"{path} holds a probe made with other {part.split('_')[0]} settings ({', '.join(changed[:3])}); "
                "pass --out for this one"
            )


def _probe(
    protocol: str,
    prober: Any,
    label_fraction: float,
    run: Run | None,
    run_config: dict[str, Any] | None,
    backbone_name: str | None,
    probe_cfg: dict[str, Any],
    seed: int,
    device_name: str,
) -> dict[str, Any]:
    device = resolve_device(device_name)
    seed_everything(seed)
    data_cfg = probe_cfg["data"]
    run_stats = run.stats_for(data_cfg) if run is not None else None
    data = open_labelled_data(data_cfg, run_config is not None and needs_coords(run_config), run_stats)
    full_train = len(data.train)
    if label_fraction < 1:
        data = dataclasses.replace(data, train=data.train.select(label_subset(data.train.labels, label_fraction, seed)))
    stem, width = probe_cfg["backbone"]["stem"], probe_cfg["backbone"]["width"]
    if run is not None and (stem != "default" or width != 1.0):
        raise UserError("backbone.stem and backbone.width are for --random-init; a run's probe builds its own backbone")
    if run is not None:
        backbone = run.load_backbone(data, backbone_name)
    else:
        backbone = random_backbone(backbone_name, data, stem, width)
    backbone = backbone.to(device)
    t0 = time.time()
    result = prober.run(backbone, data, device, seed, data_config=data_cfg)
    return {
        "accuracy": percent(result.pop("accuracy")),
        "protocol": protocol,
        "backbone": backbone.name,
        "run": str(run.path) if run is not None else None,
        "init": "pretrained" if run is not None else "random",
        "epochs": probe_cfg["probe"].get("epochs"),
        "seed": seed,
        "data": data_cfg["name"],
        "split": data.split,
        "normalization": "the run's normalization.json" if run_stats else "computed on this training split",
        "label_fraction": label_fraction,
        "train_size": len(data.train),
        "train_pool": full_train,
        "test_size": len(data.test),
        "wall_seconds": round(time.time() - t0, 2),
        **result,
        "data_config": data_cfg,
        "probe_config": probe_cfg["probe"],
    }


def write_json(path: Path, record: dict[str, Any]) -> None:
    """``record`` as strict JSON (a NaN or infinity is a UserError, never an invalid file)."""
    try:
        text = json.dumps(record, indent=2, allow_nan=False)
    except ValueError:
        bad = [k for k, v in record.items() if isinstance(v, float) and not math.isfinite(v)]
        raise UserError(f"{path}: the probe measured non-finite values ({', '.join(bad) or 'nested'})") from None
    atomic.write_text(path, text + "\n")
