"""The ``ssl`` command: tasks, pretrain, probe, bench, visualize, show, data.

User mistakes (UserError) print one line, ``ssl: error: ...``, and exit with status 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ssl_toolkit import config as cfg
from ssl_toolkit import visualize
from ssl_toolkit.errors import UserError
from ssl_toolkit.registry import BACKBONES, PROBES, TASKS


def cmd_tasks(args: argparse.Namespace) -> None:
    print("tasks and learners:")
    for name in TASKS.names():
        print(f"  {name:<16} {TASKS.summary(name)}")
    print(f"  {'a+b':<16} several tasks on one backbone, e.g. rotation+jigsaw (loss weights: task.<name>.weight)")
    print("backbones:")
    for name in BACKBONES.names():
        print(f"  {name:<16} {BACKBONES.summary(name)}")
    print(f"  {'<timm name>':<16} any timm model, e.g. resnet18, with any number of input channels")
    print("probes:")
    for name in PROBES.names():
        print(f"  {name:<16} {PROBES.summary(name)}")


# keys that may change when a run is resumed; anything else would make the checkpoint mean something else
RESUMABLE_KEYS = cfg.RUN_ONLY_KEYS | {"train.max_steps", "train.epochs"}


def check_resume_overrides(saved: dict, new: dict, overrides: list[tuple[str, object]]) -> None:
    old_flat, new_flat = cfg.flatten(saved), cfg.flatten(new)
    for key, _ in overrides:
        if key not in RESUMABLE_KEYS and old_flat.get(key) != new_flat.get(key):
            raise UserError(
                f"cannot change {key} when resuming (the run used {old_flat.get(key)!r}); resuming may change "
                f"only {', '.join(sorted(RESUMABLE_KEYS))}; start a new run with another --out"
            )


def cmd_pretrain(args: argparse.Namespace) -> None:
    from ssl_toolkit.engine.distributed import world_from_env
    from ssl_toolkit.pretrain import default_run_dir, pretrain, resolve_config

    flags = [
        ("task.name", args.task),
        ("data.name", args.data),
        ("backbone.name", args.backbone),
        ("train.epochs", args.epochs),
        ("train.max_steps", args.max_steps),
        ("train.batch_size", args.batch_size),
        ("train.seed", args.seed),
    ]
    overrides = [(k, v) for k, v in flags if v is not None] + [cfg.parse_override(o) for o in args.overrides]
    if args.resume:
        if args.out is None:
            raise UserError("--resume needs --out RUN_DIR, the run folder to continue")
        if args.config is not None:
            raise UserError("--resume continues the run with its own config.yaml; drop --config")
        saved = Path(args.out) / "config.yaml"
        if not saved.is_file():
            raise UserError(f"--resume: {args.out} holds no run (no config.yaml)")
        saved_config = resolve_config(cfg.load_yaml(saved), [])
        config = resolve_config(cfg.load_yaml(saved), overrides)
        check_resume_overrides(saved_config, config, overrides)
        if not any(k == "train.max_steps" for k, _ in overrides):
            config["train"]["max_steps"] = None  # a cap applies to the invocation that set it
    else:
        config = resolve_config(cfg.load_yaml(args.config) if args.config else {}, overrides)
    run_dir = Path(args.out) if args.out else default_run_dir(config)
    summary = pretrain(config, run_dir, resume=args.resume)
    if not world_from_env().main:  # under torchrun, rank 0 reports
        return
    if summary["skipped"]:
        print(f"{summary['skipped']} (all listed in {run_dir / 'skipped_files.csv'})")
    print(
        f"pretrained {config['task']['name']} on {config['data']['name']}: step {summary['step']}, "
        f"epoch {summary['epoch']} -> {run_dir / 'backbone.safetensors'}"
    )


def cmd_probe(args: argparse.Namespace) -> None:
    from ssl_toolkit.probe import probe

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


def cmd_bench(args: argparse.Namespace) -> None:
    from ssl_toolkit.bench import bench

    summary = bench(Path(args.suite), Path(args.out) if args.out else None, args.device)
    print(
        f"bench: {summary['cells']} cells ({summary['ran']} run now, {summary['skipped']} finished before) "
        f"-> {summary['out']}/RESULTS.md"
    )


def cmd_show(args: argparse.Namespace) -> None:
    import torch

    from ssl_toolkit.data import Normalizer
    from ssl_toolkit.device import seed_everything
    from ssl_toolkit.pretrain import build_task, needs_coords, open_data, resolve_config
    from ssl_toolkit.show import draw_examples

    flags = [("task.name", args.task), ("data.name", args.data), ("backbone.name", args.backbone)]
    overrides = [(k, v) for k, v in flags if v is not None] + [cfg.parse_override(o) for o in args.overrides]
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


def _data_options(overrides: list[str]):
    """``data.<key>=value`` pairs -> DataOptions (checked against the config schema)."""
    from ssl_toolkit.pretrain import data_options

    given = dict(cfg.parse_override(o) for o in overrides)
    keys = {k: spec for k, spec in cfg.SCHEMA.items() if k.startswith("data.") and k != "data.name"}
    flat = cfg.apply(keys, {k: spec.default for k, spec in keys.items()}, given)
    return data_options(cfg.unflatten(flat)["data"])


def cmd_data_index(args: argparse.Namespace) -> None:
    from ssl_toolkit.data_commands import index_rows, summary, write_index

    rows, bad = index_rows(args.data, _data_options(args.overrides))
    out = Path(args.out) if args.out else Path("runs") / "data" / f"{Path(args.data).name or 'data'}-index.csv"
    write_index(rows, out)
    print(summary(rows, bad))
    print(f"index of {len(rows)} tiles -> {out}")


def cmd_data_map(args: argparse.Namespace) -> None:
    from ssl_toolkit import atomic
    from ssl_toolkit.data_commands import index_rows, map_png, read_index, split_rows

    if args.clusters < 2:
        raise UserError(f"--clusters must be at least 2, got {args.clusters}")
    source = Path(args.data)
    options = _data_options(args.overrides)
    title = source.name or args.data
    if args.color == "split":
        rows = split_rows(args.data, options)
        title += f": {options.split} split"
    elif source.suffix.lower() == ".csv" and source.is_file():
        rows = read_index(source)
    else:
        rows, _ = index_rows(args.data, options)
    if args.color == "cluster":
        title += f": {args.clusters} k-means clusters"
    out = Path(args.out) if args.out else Path("runs") / "data" / f"{source.stem or 'data'}-map-{args.color}.png"
    colour = "label" if args.color == "split" else args.color
    atomic.write_bytes(out, map_png(rows, colour, args.clusters, args.seed, title))
    print(f"map of {len(rows)} tiles coloured by {args.color} -> {out}")


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


class _Parser(argparse.ArgumentParser):
    """argparse with the toolkit's one-line error format (and exit status 2)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        print(f"ssl: error: {self.prog.removeprefix('ssl ')}: {message} (see {self.prog} --help)", file=sys.stderr)
        sys.exit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="ssl", description="Self-supervised pretraining and probing.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("tasks", help="list registered tasks, learners, backbones and probes")
    p.set_defaults(func=cmd_tasks)

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
    p.set_defaults(func=cmd_pretrain)

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
    p.set_defaults(func=cmd_show)

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
    p.set_defaults(func=cmd_probe)

    p = sub.add_parser(
        "bench",
        help="tasks x datasets x seeds x probes -> RESULTS.md, results.csv/json, a bar chart",
        description="Run a benchmark suite (see configs/bench/): each cell is a pretrain run plus its probes. "
        "Finished cells are skipped, so an interrupted bench continues where it stopped.",
    )
    p.add_argument("suite", help="suite YAML, e.g. configs/bench/mnist.yaml")
    p.add_argument("--out", help="output folder (default runs/bench-<suite name>)")
    p.add_argument("--device", default="auto", help="auto (default), cpu, cuda or cuda:N")
    p.set_defaults(func=cmd_bench)

    visualize.add_parser(sub)

    p = sub.add_parser("data", help="index a dataset's tiles or map them (lat/lon)")
    data_sub = p.add_subparsers(dest="data_command", required=True, parser_class=_Parser)
    q = data_sub.add_parser(
        "index",
        help="scan tiles, write an index CSV, print a summary",
        description="Scan a dataset's tiles (every file is opened and read once) and write one CSV row per tile: "
        "path, window, CRS, bounds, lat, lon, label, band count. Bad files are listed, not fatal.",
    )
    q.add_argument("data", help="eurosat-rgb, eurosat-ms, mnist, or a folder (GeoTIFFs, images, locations.csv)")
    q.add_argument("--out", help="CSV to write (default runs/data/<name>-index.csv)")
    q.add_argument("overrides", nargs="*", metavar="key=value", help="data keys, e.g. data.tile_size=256")
    q.set_defaults(func=cmd_data_index)
    q = data_sub.add_parser(
        "map",
        help="plot tiles on a lon/lat scatter coloured by cluster or label (PNG)",
        description="Plot a dataset's tiles (or an index CSV from `ssl data index`) on a lon/lat scatter.",
    )
    q.add_argument("data", help="a dataset name or folder, or an index CSV")
    q.add_argument(
        "--color",
        choices=("cluster", "label", "split"),
        default="cluster",
        help="colour by k-means cluster (default), label, or train/test side (with data.split=geographic)",
    )
    q.add_argument("--clusters", type=int, default=100, help="k-means clusters on the sphere (default 100)")
    q.add_argument("--seed", type=int, default=0, help="k-means seed (default 0, as the geolocation task)")
    q.add_argument("--out", help="PNG to write (default runs/data/<name>-map-<color>.png)")
    q.add_argument("overrides", nargs="*", metavar="key=value", help="data keys, e.g. data.tile_size=256")
    q.set_defaults(func=cmd_data_map)
    return parser


def parse(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """parse_args, but ``key=value`` overrides may also follow options given after a positional argument
    (``ssl data map eurosat-rgb --color split data.split=geographic``), which argparse alone refuses."""
    args, extra = parser.parse_known_args(argv)
    stray = [a for a in extra if a.startswith("-") or "=" not in a or not hasattr(args, "overrides")]
    if stray:
        parser.error(f"unrecognized arguments: {' '.join(stray)}")
    if extra:
        args.overrides = [*args.overrides, *extra]
    return args


def main(argv: list[str] | None = None) -> int:
    try:
        args = parse(build_parser(), argv)
    except SystemExit as e:  # --help (0) or a malformed command line (2, already reported on one line)
        return int(e.code or 0)
    try:
        args.func(args)
    except UserError as e:
        print(f"ssl: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("ssl: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into a reader that stopped early (`ssl tasks | head`)
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so the exit flush does not fail again
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
