"""The front door to tasks: every task, one (``rotation``) or several on one backbone (``rotation+jigsaw``), is
described and created here by its name.

A single task's config keys are its constructor's parameters (``task.<param>``); a combined task has
``task.<name>.<param>`` and ``task.<name>.weight`` (its loss weight, default 1) for each of its tasks.
"""

from __future__ import annotations

from typing import Any

from pretext.base import PretextTask
from pretext.multi import MultiTask
from ssl_toolkit import config as cfg
from ssl_toolkit.backbones.base import Backbone
from ssl_toolkit.errors import UserError
from ssl_toolkit.registry import TASKS

WEIGHT = "weight"  # the loss-weight key of each task in a combined one


def task_names(name: str) -> list[str]:
    """'rotation+jigsaw' -> ['rotation', 'jigsaw'] (each checked against the registry)."""
    names = [n.strip() for n in name.split("+")]
    if len(set(names)) != len(names):
        raise UserError(f"task '{name}' names a task twice")
    for n in names:
        TASKS.get(n)
    return names


def task_keys(name: str) -> dict[str, cfg.Key]:
    """The config keys of task ``name`` under ``task.``."""
    names = task_names(name)
    if len(names) == 1:
        return cfg.params_schema(TASKS.get(names[0]), "task.")
    keys: dict[str, cfg.Key] = {}
    for n in names:
        keys.update(cfg.params_schema(TASKS.get(n), f"task.{n}."))
        keys[f"task.{n}.{WEIGHT}"] = cfg.Key(float, 1.0, minimum=0)
    return keys


def _parts(name: str, params: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(task name, its parameters) for each task of ``name``; ``params`` is the resolved ``task`` section."""
    names = task_names(name)
    if len(names) == 1:
        return [(names[0], {k: v for k, v in params.items() if k != "name"})]
    return [(n, dict(params[n])) for n in names]


def needs_coords(name: str, params: dict[str, Any]) -> bool:
    """Whether any of the tasks of ``name``, with the resolved ``task`` section ``params``, needs each sample's
    coordinates (geolocation; CycleGAN between regions)."""
    return any(TASKS.get(n).coords_needed(p) for n, p in _parts(name, params))


def backbone_norm(name: str, params: dict[str, Any]) -> str:
    """The backbone normalisation the tasks ask for (``backbone.norm=auto``): ``layer`` when any wants it
    (a WGAN-GP critic), else ``batch``."""
    wanted = {TASKS.get(n).backbone_norm(p) for n, p in _parts(name, params)}
    return "layer" if "layer" in wanted else "batch"


def create_task(name: str, backbone: Backbone, params: dict[str, Any]) -> PretextTask:
    """Task ``name`` on ``backbone`` with the resolved ``task`` section ``params``; ``a+b``: a ``MultiTask``
    whose losses are weighted by ``task.<name>.weight``."""
    parts = _parts(name, params)
    if len(parts) == 1:
        n, p = parts[0]
        return TASKS.get(n)(backbone, **cfg.build_params(TASKS.get(n), p))
    tasks, weights = {}, {}
    for n, p in parts:
        weights[n] = p.pop(WEIGHT, 1.0)
        tasks[n] = TASKS.get(n)(backbone, **cfg.build_params(TASKS.get(n), p))
    return MultiTask(backbone, tasks, weights)
