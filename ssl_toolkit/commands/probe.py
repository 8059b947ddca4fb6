"""``ssl probe``: load a run's backbone (or a random one), open labelled data, run a probe, write probe.json."""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path
from typing import Any

from ssl_toolkit import atomic
from ssl_toolkit import config as cfg
from ssl_toolkit.build import (
    build_probe,
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
    overrides = [cfg.parse_override(o) for o in args.overrides]
    if args.data is not None:
        overrides.insert(0, ("data.name", args.data))
    if args.epochs is not None:
        overrides.insert(0, ("probe.epochs", args.epochs))
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
    """Measure a backbone; ``run_dir`` None means a randomly initialised ``backbone_name``."""
    run = Run(run_dir) if run_dir is not None else None
    run_config = run.read_config() if run is not None else None
    probe_cfg = resolve_probe_config(protocol, run_config, overrides)
    prober, label_fraction = build_probe(protocol, probe_cfg["probe"])
    device = resolve_device(device_name)
    seed_everything(seed)
    data_cfg = probe_cfg["data"]
    run_stats = run.stats_for(data_cfg) if run is not None else None
    data = open_labelled_data(data_cfg, run_config is not None and needs_coords(run_config), run_stats)
    full_train = len(data.train)
    if label_fraction < 1:
        data = dataclasses.replace(data, train=data.train.select(label_subset(data.train.labels, label_fraction, seed)))
    backbone = run.load_backbone(data, backbone_name) if run is not None else random_backbone(backbone_name, data)
    backbone = backbone.to(device)
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
