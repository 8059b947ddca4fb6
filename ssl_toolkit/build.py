"""From a resolved config to what a command works with: the dataset, the backbone, the task, the probe.

The config is resolved once, at the edge; these functions turn its sections into objects and turn the
objects' ValueErrors into one-line UserErrors that name the key.
"""

from __future__ import annotations

import os
from typing import Any

from pretext import factory
from pretext.base import PretextTask
from ssl_toolkit import config as cfg
from ssl_toolkit.backbones import create_backbone
from ssl_toolkit.backbones.base import Backbone
from ssl_toolkit.data import DataOptions, DataSource, load_data
from ssl_toolkit.errors import UserError
from ssl_toolkit.registry import PROBES

Stats = tuple[tuple[float, ...], tuple[float, ...]]


# ------------------------------------------------------------------------------------------------ pretraining


def resolve_config(file_values: dict[str, Any], overrides: list[tuple[str, Any]]) -> dict[str, Any]:
    """The checked pretraining config: defaults <- the recipe for the task and data (``recipes``) <- file <-
    overrides, with the chosen task's keys. ``backbone.norm
    = auto`` becomes the norm the task asks for (``batch`` unless its ``backbone_norm`` says otherwise, e.g.
    ``layer`` for a WGAN-GP critic), so config.yaml records the net that was built."""
    from ssl_toolkit.recipes import recipe

    config = cfg.resolve(
        file_values, overrides, extra_schema=lambda flat: factory.task_keys(flat["task.name"]), recipe=recipe
    )
    if config["backbone"]["norm"] == "auto":
        config["backbone"]["norm"] = factory.backbone_norm(config["task"]["name"], config["task"])
    return config


def needs_coords(config: dict[str, Any]) -> bool:
    """Whether any of the configured tasks needs each tile's coordinates (e.g. geolocation)."""
    return factory.needs_coords(config["task"]["name"], config["task"])


def open_data(data_cfg: dict[str, Any], need_coords: bool = False, stats: Stats | None = None) -> DataSource:
    """The configured dataset (``data.*`` keys); ``stats`` replaces the computed normalisation statistics."""
    return load_data(data_cfg["name"], DataOptions.from_config(data_cfg), need_coords=need_coords, stats=stats)


def build_backbone(backbone_cfg: dict[str, Any], data: DataSource) -> Backbone:
    """The ``backbone`` section's net for ``data``'s channels and image size."""
    in_chans = backbone_cfg["in_chans"] or data.in_chans
    if in_chans != data.in_chans:
        raise UserError(f"backbone.in_chans is {in_chans} but data '{data.name}' has {data.in_chans} channels")
    try:
        norm = backbone_cfg.get("norm") or "batch"  # runs made before the key existed used batch norm
        return create_backbone(
            backbone_cfg["name"],
            in_chans,
            backbone_cfg["img_size"],
            data.img_size,
            "batch" if norm == "auto" else norm,
            backbone_cfg.get("stem") or "default",  # runs made before the keys existed used timm's stem and width
            backbone_cfg.get("width") or 1.0,
        )
    except (ValueError, TypeError) as e:
        raise UserError(f"backbone '{backbone_cfg['name']}': {e}") from None


def random_backbone(name: str, data: DataSource, stem: str = "default", width: float = 1.0) -> Backbone:
    """A randomly initialised backbone ``name`` (with ``stem`` and ``width``) for ``data``: the probes' baseline."""
    return build_backbone({"name": name, "in_chans": None, "img_size": None, "stem": stem, "width": width}, data)


def build_task(config: dict[str, Any], data: DataSource) -> PretextTask:
    """The configured task on a new backbone sized for ``data``, fitted to the data (``fit_data``)."""
    backbone = build_backbone(config["backbone"], data)
    try:
        task = factory.create_task(config["task"]["name"], backbone, config["task"])
        task.fit_data(data)
        return task
    except (ValueError, TypeError) as e:
        raise UserError(f"task '{config['task']['name']}': {e}") from None


def trained_task(run_folder: str | os.PathLike[str]) -> tuple[PretextTask, DataSource]:
    """The task of a finished ``ssl pretrain`` run with its last checkpoint's weights, in eval mode, and the run's
    data (benchmarks that look inside a trained task). Not a run folder, or no readable checkpoint: a UserError."""
    from ssl_toolkit.engine.checkpoint import load as load_checkpoint
    from ssl_toolkit.runs import Run

    run = Run(run_folder)
    config = run.read_config()
    data = open_data(config["data"])
    task = build_task(config, data)
    task.load_state_dict(load_checkpoint(run.checkpoints / "last.pt")["model"])  # weights only
    return task.eval(), data


# ------------------------------------------------------------------------------------------------ probing

# a probe measures on the whole test set unless told otherwise, even when the run was pretrained on a subset
PROBE_INHERITED_DATA_KEYS = tuple(
    k for k in cfg.SCHEMA if k.startswith("data.") and k not in ("data.subset", "data.num_workers")
)
PROBE_DATA_KEYS = (*PROBE_INHERITED_DATA_KEYS, "data.subset", "data.num_workers")
# low-shot: the probe trains on this share of the training labels (per class, seeded by the probe's seed)
LABEL_FRACTION = cfg.Key(float, 1.0, minimum=1e-6)


def resolve_probe_config(
    protocol: str, run_config: dict[str, Any] | None, overrides: list[tuple[str, Any]]
) -> dict[str, Any]:
    """``data.*`` and ``probe.*`` (the probe's constructor). The run's data keys are inherited when the probe
    measures on the run's dataset; on another dataset (``--data``) they start from the defaults, since keys made
    for one dataset (its tiles, its bands) would not fit another."""
    schema = {k: cfg.SCHEMA[k] for k in PROBE_DATA_KEYS}
    for key in ("backbone.stem", "backbone.width"):  # of a random-init backbone (a run's come from its config)
        schema[key] = cfg.SCHEMA[key]
    schema.update(cfg.params_schema(PROBES.get(protocol), "probe.", skip=()))
    schema["probe.label_fraction"] = LABEL_FRACTION
    flat = {k: spec.default for k, spec in schema.items()}
    run_data = inherited_data(run_config)["name"] if run_config is not None else None
    same_data = run_data is not None and dict(overrides).get("data.name", run_data) == run_data
    if run_config is not None and same_data:
        run_flat = cfg.flatten(run_config)
        flat.update({k: run_flat[k] for k in PROBE_INHERITED_DATA_KEYS if k in run_flat})
        try:
            flat = cfg.apply(schema, flat, {k: flat[k] for k in PROBE_INHERITED_DATA_KEYS})
        except UserError as e:
            raise UserError(f"the run's config.yaml: {e}") from None
    return cfg.unflatten(cfg.apply(schema, flat, dict(overrides)))


def inherited_data(run_config: dict[str, Any]) -> dict[str, Any]:
    """The data keys a probe of this run inherits (``data.`` less the prefix), as the run's config has them."""
    flat = cfg.flatten(run_config)
    return {k.removeprefix("data."): flat.get(k, cfg.SCHEMA[k].default) for k in PROBE_INHERITED_DATA_KEYS}


def build_probe(protocol: str, settings: dict[str, Any]) -> tuple[Any, float]:
    """(the probe ``protocol`` with the ``probe`` section's settings, the label fraction it trains on)."""
    settings = dict(settings)
    label_fraction = settings.pop("label_fraction")
    if label_fraction > 1:
        raise UserError(f"probe.label_fraction must be in (0, 1], got {label_fraction}")
    try:
        return PROBES.get(protocol)(**settings), label_fraction
    except (ValueError, TypeError) as e:
        raise UserError(f"probe '{protocol}': {e}") from None


def open_labelled_data(data_cfg: dict[str, Any], need_coords: bool = False, stats: Stats | None = None) -> DataSource:
    """The labelled data a backbone is measured on. ``need_coords``: keep only the samples with coordinates, as
    a run whose task needed them did; its probe's split must be drawn from the same samples, or pretraining
    tiles could land in the probe's test set."""
    data = open_data(data_cfg, need_coords=need_coords, stats=stats)
    if data.num_classes == 0 or bool((data.train.labels < 0).any() or (data.test.labels < 0).any()):
        raise UserError(f"data '{data.name}' is not labelled throughout; a probe needs a class for every sample")
    for side, split in (("training", data.train), ("test", data.test)):
        classes = int(split.labels.unique().numel())
        if classes < 2:
            raise UserError(
                f"data '{data.name}': its {side} split holds {classes} class; a probe's accuracy means something "
                "only with at least 2 classes on both sides"
            )
    return data
