"""``ssl show``: a few training examples of a task as the network sees them, with their labels (PNG)."""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from ssl_toolkit import config as cfg
from ssl_toolkit.build import build_task, needs_coords, open_data, resolve_config
from ssl_toolkit.commands.pretrain import add_run_arguments
from ssl_toolkit.data import Normalizer
from ssl_toolkit.device import seed_everything
from ssl_toolkit.errors import UserError
from ssl_toolkit.pictures.examples import draw_examples


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "show",
        help="draw a few training examples of a task with their labels (PNG)",
        description="Draw training examples of a task as the network sees them, with their labels.",
    )
    add_run_arguments(p)
    p.add_argument("--n", type=int, default=4, help="number of images to draw examples from")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="PNG file to write")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides, e.g. task.num_permutations=30")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> None:
    flags = [("task.name", args.task, "--task"), ("data.name", args.data, "--data")]
    flags.append(("backbone.name", args.backbone, "--backbone"))
    overrides = cfg.with_flags(flags, [cfg.parse_override(o) for o in args.overrides])
    config = resolve_config(cfg.load_yaml(args.config) if args.config else {}, overrides)
    if args.n < 1:
        raise UserError(f"--n must be at least 1, got {args.n}")
    seed_everything(args.seed)
    data = open_data(config["data"], needs_coords(config))
    task = build_task(config, data)
    cpu = torch.device("cpu")
    title = f"{config['task']['name']} on {config['data']['name']}"
    try:
        count = draw_examples(task, data, Normalizer.for_data(data, cpu), cpu, args.seed, Path(args.out), title, args.n)
    except ValueError as e:
        raise UserError(f"task '{config['task']['name']}' cannot use this data: {e}") from None
    print(f"{count} examples of {config['task']['name']} -> {args.out}")
