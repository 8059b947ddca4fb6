"""Run configuration: defaults, YAML files, dotted ``key=value`` overrides, validation.

The config is resolved once, at the edge (the CLI), into a nested dict of checked values; code below the CLI
receives typed keyword arguments, never the config object. Task parameters (``task.<name>``) are validated
against the task class's constructor signature: the signature is the schema.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ssl_toolkit import atomic
from ssl_toolkit.errors import UserError, did_you_mean


@dataclass(frozen=True)
class Key:
    """One config key: its type, default, whether None is allowed, and the allowed values if fixed."""

    type: type
    default: Any
    optional: bool = False
    choices: tuple[str, ...] | None = None
    minimum: float | None = None


SCHEMA: dict[str, Key] = {
    "task.name": Key(str, "transpose"),
    "backbone.name": Key(str, "mnist_net"),
    "backbone.in_chans": Key(int, None, optional=True),
    "backbone.img_size": Key(int, None, optional=True),
    "backbone.norm": Key(str, "auto", choices=("auto", "batch", "layer")),
    "backbone.stem": Key(str, "default", choices=("default", "medium", "small")),  # ResNets: see timm_backbone
    "backbone.width": Key(float, 1.0, minimum=0.125),  # ResNets: channels x this (0.5: a quarter of the compute)
    "data.name": Key(str, "mnist"),
    "data.subset": Key(int, None, optional=True, minimum=1),
    "data.num_workers": Key(int, -1, minimum=-1),  # -1: sized from the machine (loader.auto_workers)
    "data.test_fraction": Key(float, 0.2),
    "data.image_size": Key(int, None, optional=True, minimum=1),
    "data.split": Key(str, "random", choices=("random", "geographic")),
    # validation: the test side is a stratified 20% carved from the training split (seeded) and the real test
    # split is left alone: for choosing a recipe without looking at the test split
    "data.holdout": Key(str, "test", choices=("test", "validation")),
    "data.regions": Key(int, 50, minimum=2),
    "data.bands": Key(list, None, optional=True),
    "data.tile_size": Key(int, None, optional=True, minimum=1),
    "data.tile_stride": Key(int, None, optional=True, minimum=1),
    "data.stats_tiles": Key(int, 1024, minimum=1),
    "data.max_tiles": Key(int, 1_000_000, optional=True, minimum=1),  # GeoTIFF windows in all (null: no limit)
    "data.min_valid_fraction": Key(float, 0.5, minimum=0),  # GeoTIFF windows with fewer valid pixels are left out
    "data.on_bad_file": Key(str, "error", choices=("error", "skip")),
    "data.overview": Key(int, 0, minimum=0),  # GeoTIFFs: 0 full resolution, N the N-th overview (2^N coarser)
    "data.assets": Key(list, None, optional=True),  # STAC: band assets by key or common name, in channel order
    "data.label_property": Key(str, None, optional=True),  # STAC: the item property that holds the class
    "optim.name": Key(str, "adadelta", choices=("adadelta", "sgd", "adam", "adamw", "lars")),
    "optim.lr": Key(float, 1.0, minimum=0),
    "optim.weight_decay": Key(float, 0.0, minimum=0),
    "optim.momentum": Key(float, 0.9, minimum=0),
    "optim.grad_clip": Key(float, None, optional=True, minimum=1e-12),
    "optim.decay_norms_and_biases": Key(bool, True),  # false: no weight decay (nor LARS adaptation) on 1-d weights
    "schedule.name": Key(str, "step", choices=("constant", "step", "cosine")),
    "schedule.warmup_steps": Key(int, 0, minimum=0),
    "schedule.gamma": Key(float, 0.7, minimum=1e-12),
    "train.epochs": Key(int, 1, minimum=1),
    "train.max_steps": Key(int, None, optional=True, minimum=1),
    # about this many minutes of training: train.epochs is set from a few timed steps (and recorded)
    "train.minutes": Key(float, None, optional=True, minimum=0.01),
    "train.batch_size": Key(int, 64, minimum=1),
    "train.seed": Key(int, 1),
    "train.precision": Key(str, "fp32", choices=("fp32", "bf16")),
    "train.device": Key(str, "auto"),
    "train.log_every": Key(int, 50, minimum=1),
    "train.checkpoint_every": Key(int, None, optional=True, minimum=1),
    "train.checkpoint_minutes": Key(float, 10.0, optional=True, minimum=0.01),  # and on Ctrl-C/SIGTERM
    "train.keep_checkpoints": Key(int, None, optional=True, minimum=1),  # newest epoch_NNNN.pt kept; unset: all
    "train.online_probe": Key(bool, True),  # online linear head and per-epoch kNN on labelled data
    "train.sync_batchnorm": Key(bool, False),
    "train.channels_last": Key(bool, False),
    "train.compile": Key(bool, False),
}

# keys that change how a run is carried out or logged, not what it computes
RUN_ONLY_KEYS = frozenset(
    {
        "train.device",
        "train.log_every",
        "train.checkpoint_every",
        "train.checkpoint_minutes",
        "train.keep_checkpoints",
        "data.num_workers",
    }
)


def default(key: str) -> Any:
    """The default of config key ``key``: for a parameter of code below the CLI that mirrors a key."""
    return SCHEMA[key].default


def setting(key: str) -> Any:
    """A dataclass field for config key ``key``, its default taken from ``SCHEMA``: the records that code below
    the CLI receives (``DataOptions``, ``TrainSettings``) write no default of their own."""
    return dataclasses.field(default=SCHEMA[key].default, metadata={"key": key})


def record(cls: type, config: dict[str, Any]) -> Any:
    """A record of ``setting`` fields filled from a resolved (nested) config."""
    flat = flatten(config)
    return cls(**{f.name: flat[f.metadata["key"]] for f in dataclasses.fields(cls) if "key" in f.metadata})


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML config file (safe loader); a missing or malformed file is a UserError."""
    p = Path(path)
    if p.is_dir():
        raise UserError(f"config file {p} is a folder; expected a YAML file (see configs/)")
    if not p.is_file():
        raise UserError(f"config file {p} does not exist")
    try:
        data = yaml.safe_load(p.read_text())
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise UserError(f"config file {p}{where}: not valid YAML ({getattr(e, 'problem', e)})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UserError(f"config file {p}: expected a mapping of keys, got {type(data).__name__}")
    return data


def flatten(nested: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{'a': {'b': 1}} -> {'a.b': 1}."""
    flat: dict[str, Any] = {}
    for k, v in nested.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            flat.update(flatten(v, key + "."))
        else:
            flat[key] = v
    return flat


def unflatten(flat: dict[str, Any]) -> dict[str, Any]:
    nested: dict[str, Any] = {}
    for key, value in flat.items():
        node = nested
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return nested


def parse_override(text: str) -> tuple[str, Any]:
    """'optim.lr=0.01' -> ('optim.lr', 0.01); the value is read as YAML (numbers, true/false, null)."""
    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise UserError(f"override '{text}': expected key=value, e.g. optim.lr=0.01")
    try:
        value = yaml.safe_load(raw) if raw != "" else ""
    except yaml.YAMLError:
        value = raw
    return key.strip(), value


def with_flags(flags: list[tuple[str, Any, str]], overrides: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    """Command-line flags (key, value or None when not given, the flag's name) before the ``key=value``
    overrides; a key given both ways with different values is a UserError naming both."""
    given = [(key, value) for key, value, _ in flags if value is not None]
    for key, value, flag in flags:
        for other, v in overrides:
            if value is not None and other == key and v != value:
                raise UserError(f"{flag} {value} and {key}={v} disagree; give one of them")
    return given + list(overrides)


def _check_value(key: str, value: Any, spec: Key) -> Any:
    if value is None:
        if spec.optional:
            return None
        raise UserError(f"config key {key}: expected {spec.type.__name__}, got null")
    want = spec.type
    if want is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if want in (int, float) and isinstance(value, str):
        try:
            value = want(value)
        except ValueError:
            pass
    if not isinstance(value, want) or (want is int and isinstance(value, bool)):
        raise UserError(f"config key {key}: expected {want.__name__}, got {value!r} ({type(value).__name__})")
    if want is float and not math.isfinite(value):
        raise UserError(f"config key {key}: expected a finite number, got {value!r}")
    if spec.choices is not None and value not in spec.choices:
        raise UserError(f"config key {key}: expected one of {', '.join(spec.choices)}, got {value!r}")
    if spec.minimum is not None and value < spec.minimum:
        raise UserError(f"config key {key}: expected a value >= {spec.minimum:g}, got {value!r}")
    return value


def _annotation_to_key(annotation: Any, default: Any) -> Key:
    optional = False
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        optional = len(args) < len(typing.get_args(annotation))
        annotation = args[0] if len(args) == 1 else str
    if typing.get_origin(annotation) is typing.Literal:
        return Key(str, default, optional, tuple(typing.get_args(annotation)))
    if annotation not in (int, float, bool, str):
        annotation = str
    return Key(annotation, default, optional)


def params_schema(factory: Any, prefix: str, skip: tuple[str, ...] = ("backbone",)) -> dict[str, Key]:
    """Config keys for a constructor's keyword parameters, typed from its annotations. A parameter whose type is
    a dataclass (a group of settings, e.g. a learner's views) gives one key per field, ``<prefix><name>.<field>``,
    with the field defaults of the parameter's default instance."""
    target = factory.__init__ if inspect.isclass(factory) else factory
    hints = typing.get_type_hints(target)
    schema: dict[str, Key] = {}
    for name, param in inspect.signature(target).parameters.items():
        if name in ("self", *skip) or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        default = None if param.default is inspect.Parameter.empty else param.default
        hint = hints.get(name, str)
        if dataclasses.is_dataclass(hint):
            group = typing.get_type_hints(hint)
            for f in dataclasses.fields(hint):
                value = getattr(default, f.name) if default is not None else f.default
                schema[f"{prefix}{name}.{f.name}"] = _annotation_to_key(group.get(f.name, str), value)
            continue
        schema[f"{prefix}{name}"] = _annotation_to_key(hint, default)
    return schema


def build_params(factory: Any, params: dict[str, Any]) -> dict[str, Any]:
    """Resolved parameters (nested dicts for dataclass-typed ones) -> constructor keyword arguments."""
    target = factory.__init__ if inspect.isclass(factory) else factory
    hints = typing.get_type_hints(target)
    out = dict(params)
    for name, value in params.items():
        hint = hints.get(name)
        if hint is not None and dataclasses.is_dataclass(hint) and isinstance(value, dict):
            out[name] = hint(**value)
    return out


def apply(schema: dict[str, Key], flat: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    """Check each given key against ``schema`` and set it in ``flat`` (a copy is returned)."""
    out = dict(flat)
    for key, value in given.items():
        if key not in schema:
            raise UserError(f"unknown config key '{key}'{did_you_mean(key, schema)}")
        out[key] = _check_value(key, value, schema[key])
    return out


def resolve(
    file_values: dict[str, Any] | None = None,
    overrides: list[tuple[str, Any]] | None = None,
    extra_schema: typing.Callable[[dict[str, Any]], dict[str, Key]] | None = None,
    recipe: typing.Callable[[dict[str, Any], set[str]], dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Defaults <- recipe <- config file <- overrides, validated; returns the nested, fully resolved config.

    ``extra_schema`` receives the flat config resolved so far (so it can see ``task.name``) and returns the
    keys that depend on it, e.g. the chosen task's parameters. ``recipe`` receives the flat config with every
    given value applied and the set of given keys, and returns values for keys the user left unset (defaults
    that depend on the task and the data); they are checked like given values.
    """
    flat = {k: spec.default for k, spec in SCHEMA.items()}
    given = dict(flatten(file_values or {}))
    given.update(dict(overrides or []))
    for key in ("task.name", "backbone.name", "data.name"):
        if key in given:
            flat[key] = _check_value(key, given[key], SCHEMA[key])
    schema = dict(SCHEMA)
    if extra_schema is not None:
        extra = extra_schema(flat)
        schema.update(extra)
        flat.update({k: spec.default for k, spec in extra.items()})
    if recipe is not None:
        chosen = recipe(apply(schema, flat, given), set(given))
        flat = apply(schema, flat, {k: v for k, v in chosen.items() if k not in given})
    return unflatten(apply(schema, flat, given))


def changed_keys(
    old: dict[str, Any], new: dict[str, Any], ignore: frozenset[str] | set[str] = frozenset()
) -> list[str]:
    """The keys whose value differs between two (nested) configs, sorted; ``ignore`` does not count, nor a key
    added to the toolkit after ``old`` was made when ``new`` leaves it at its default."""
    before, after = flatten(old), flatten(new)
    added = {k for k in after if k not in before and k in SCHEMA and after[k] == SCHEMA[k].default}
    keys = (set(before) | set(after)) - set(ignore) - added
    return sorted(k for k in keys if before.get(k) != after.get(k))


def save(config: dict[str, Any], path: str | Path) -> None:
    atomic.write_text(path, yaml.safe_dump(config, sort_keys=False))
