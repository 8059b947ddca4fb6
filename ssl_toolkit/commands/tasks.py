"""``ssl tasks``: the registered tasks and learners, backbones and probes, one line each."""

from __future__ import annotations

import argparse

from pretext import factory
from ssl_toolkit import config as cfg
from ssl_toolkit.registry import BACKBONES, PROBES, TASKS


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("tasks", help="list registered tasks, learners, backbones and probes")
    p.add_argument("--task", help="show one task's parameters (its task.* keys) with their defaults")
    p.add_argument("--probe", help="show one probe's parameters (its probe.* keys) with their defaults")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> None:
    if args.task or args.probe:
        show_parameters(args.task, args.probe)
        return
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


def show_parameters(task: str | None, probe: str | None) -> None:
    """A task's (or probe's) docstring summary and its keys: type, default, allowed values."""
    if task is not None:
        keys, what = factory.task_keys(task), f"task {task}"
        summary = TASKS.summary(task) if "+" not in task else "several tasks on one backbone"
        recipe = TASKS.get(factory.task_names(task)[0]).optimizer_recipe
    else:
        keys, what = cfg.params_schema(PROBES.get(probe), "probe.", skip=()), f"probe {probe}"
        summary, recipe = PROBES.summary(probe), None
    print(f"{what}: {summary}")
    for key, spec in keys.items():
        kind = spec.type.__name__ + (" or null" if spec.optional else "")
        allowed = f", one of {', '.join(spec.choices)}" if spec.choices else ""
        print(f"  {key:<32} {kind:<14} default {spec.default!r}{allowed}")
    if recipe:
        shown = ", ".join(f"{k}={v}" for k, v in recipe.items())
        print(f"  optimizer recipe (for keys a run leaves unset, outside the seed experiment): {shown}")
