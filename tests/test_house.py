"""The house rules: data flows one way (plugins and data never import the engine, a command or the CLI), the
registry names no plugin, the loop stays short, and no config default is written in two places."""

from __future__ import annotations

import ast
import dataclasses
import inspect
import subprocess
import sys
from pathlib import Path

import pytest

from ssl_toolkit import config as cfg

ROOT = Path(__file__).parents[1]
# what sits above the plugins and the data in the flow
UPSTREAM = ("ssl_toolkit.engine", "ssl_toolkit.commands", "ssl_toolkit.cli", "ssl_toolkit.build", "ssl_toolkit.runs")
PLUGINS_AND_DATA = ("pretext", "probes", "ssl_toolkit.data")


def imported_names(path: Path) -> set[str]:
    """Every module a file imports, at the top or inside a function."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names |= {f"{node.module}.{a.name}" for a in node.names}
    return names


@pytest.mark.parametrize("package", PLUGINS_AND_DATA)
def test_plugins_and_data_never_import_the_engine_a_command_or_the_cli(package: str) -> None:
    folder = ROOT.joinpath(*package.split("."))
    for path in sorted(folder.rglob("*.py")):
        wrong = sorted(n for n in imported_names(path) if n.startswith(UPSTREAM))
        assert not wrong, f"{path.relative_to(ROOT)} imports {wrong}"
    # and once imported for real, with every submodule loaded, nothing upstream came along
    code = (
        "import importlib, pkgutil, sys\n"
        f"import {package} as p\n"
        "for m in pkgutil.walk_packages(p.__path__, p.__name__ + '.'):\n"
        "    importlib.import_module(m.name)\n"
        f"print(sorted(m for m in sys.modules if m.startswith({UPSTREAM!r})))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"


def test_the_registry_names_no_plugin_and_finds_them_through_entry_points() -> None:
    source = (ROOT / "ssl_toolkit" / "registry.py").read_text()
    assert not {"pretext", "probes", "ssl_toolkit.backbones"} & imported_names(ROOT / "ssl_toolkit" / "registry.py")
    assert '"pretext"' not in source and '"probes"' not in source
    code = (
        "import sys\nfrom ssl_toolkit.registry import TASKS, PROBES\n"
        "assert 'pretext' not in sys.modules and 'probes' not in sys.modules\n"
        "print(TASKS.names(), PROBES.names())\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "'rotation'" in done.stdout and "'linear'" in done.stdout


def test_the_loop_is_a_loop() -> None:
    from ssl_toolkit.engine.loop import train

    lines = inspect.getsource(train).splitlines()
    assert len(lines) <= 80, f"engine.loop.train has {len(lines)} lines"


def test_the_records_take_their_defaults_from_the_schema_and_cover_it() -> None:
    from ssl_toolkit.data import DataOptions
    from ssl_toolkit.engine.settings import TrainSettings

    covered = {}
    for record in (DataOptions, TrainSettings):
        for f in dataclasses.fields(record):
            key = f.metadata.get("key")
            assert key in cfg.SCHEMA, f"{record.__name__}.{f.name} is not a setting of a config key"
            assert f.default == cfg.SCHEMA[key].default, f"{record.__name__}.{f.name}"
            assert key not in covered, f"{key} is in {covered.get(key)} and {record.__name__}"
            covered[key] = record.__name__
    # every key is consumed by a record, except those the commands read themselves
    by_command = {"task.name", "data.name", "train.device"} | {k for k in cfg.SCHEMA if k.startswith("backbone.")}
    assert set(cfg.SCHEMA) - set(covered) == by_command


def test_parameters_that_mirror_a_config_key_default_to_the_schema() -> None:
    """Functions below the CLI whose parameter is a config key's value default to the schema's value (through
    ``config.default``), never to a number of their own."""
    from ssl_toolkit.engine.optim import build_optimizer, lr_schedule, torch_param_groups
    from ssl_toolkit.engine.step import StepContext

    mirrors = [
        (build_optimizer, "weight_decay", "optim.weight_decay"),
        (build_optimizer, "momentum", "optim.momentum"),
        (build_optimizer, "decay_norms_and_biases", "optim.decay_norms_and_biases"),
        (torch_param_groups, "decay_norms_and_biases", "optim.decay_norms_and_biases"),
        (lr_schedule, "warmup_steps", "schedule.warmup_steps"),
        (lr_schedule, "gamma", "schedule.gamma"),
        (StepContext, "precision", "train.precision"),
        (StepContext, "grad_clip", "optim.grad_clip"),
    ]
    for function, name, key in mirrors:
        default = inspect.signature(function).parameters[name].default
        assert default == cfg.SCHEMA[key].default, f"{function.__qualname__}({name}=...) vs {key}"
    for function in {f for f, _, _ in mirrors}:
        source = inspect.getsource(function.__init__ if inspect.isclass(function) else function)
        for _, name, key in (m for m in mirrors if m[0] is function):
            assert f'default("{key}")' in source, f"{function.__qualname__}: {name} should default to default({key!r})"
    from ssl_toolkit.engine.loop import train

    assert all(
        p.default is inspect.Parameter.empty or p.name in ("world", "resume", "show_progress", "config")
        for p in inspect.signature(train).parameters.values()
    )
