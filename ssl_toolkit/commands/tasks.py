"""``ssl tasks``: the registered tasks and learners, backbones and probes, one line each."""

from __future__ import annotations

import argparse

from ssl_toolkit.registry import BACKBONES, PROBES, TASKS


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("tasks", help="list registered tasks, learners, backbones and probes")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> None:
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
