"""``ssl visualize``: look inside a pretrained backbone.

Writes into ``RUN/visualize/`` (or ``--out``):

- ``activation_max_units.png``, ``activation_max_classes.png``: inputs optimised (``activation_max``) to excite
  one backbone feature, or one class logit of a linear probe trained on the frozen features.
- ``neighbours.png``: test images and their nearest training images by cosine similarity of the features
  (faiss on L2-normalised features; exact below 200,000 training images, IVF with measured recall above).
- ``tsne.png``: a t-SNE map (van der Maaten & Hinton 2008) of test features, coloured by label.
- ``fgsm_examples.png``: the linear probe (backbone, standardisation, linear classifier) under FGSM.
- ``visualize.json``: every number measured, with the settings that produced it.

The backbone is frozen and in eval mode throughout. The linear classifier is ``LinearProbe.fit`` with the same
settings and seed as ``ssl probe --protocol linear`` (so its full-test accuracy is the one that reports); for
FGSM and the class targets the standardisation is folded into the classifier.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

from probes.base import percent
from probes.features import train_test_features
from ssl_toolkit import atomic
from ssl_toolkit import config as cfg
from ssl_toolkit.analysis import activation_max
from ssl_toolkit.analysis.activation_max import activation_maximisation
from ssl_toolkit.analysis.fgsm import fgsm_attack
from ssl_toolkit.analysis.neighbours import nearest_neighbours
from ssl_toolkit.analysis.sample import (
    Sample,
    display_bounds,
    load_images,
    pixel_bounds,
    sample_indices,
    shown_channels,
)
from ssl_toolkit.analysis.tsne import tsne_map
from ssl_toolkit.build import build_probe, needs_coords, open_labelled_data, resolve_probe_config
from ssl_toolkit.data import Normalizer
from ssl_toolkit.device import resolve_device, seed_everything
from ssl_toolkit.errors import UserError
from ssl_toolkit.runs import Run

DEFAULT_EPS = (0.0, 0.01, 0.03, 0.1)
DEFAULT_UNIT_COUNT = 8
PICTURES = (
    "activation_max_units.png",
    "activation_max_classes.png",
    "neighbours.png",
    "tsne.png",
    "fgsm_examples.png",
)


def _check_settings(eps: list[float], samples: int, queries: int, k: int, steps: int) -> None:
    if not eps:
        raise UserError("--eps: give at least one value, e.g. 0,0.01,0.03,0.1")
    for e in eps:
        if not (0 <= e <= 1):  # also refuses NaN
            raise UserError(f"--eps {e}: each eps must be in [0, 1] (units of the [0, 1] pixel range)")
    if samples < 5:
        raise UserError(f"--samples {samples}: need at least 5 test images (t-SNE, FGSM)")
    if queries < 1 or k < 1:
        raise UserError(f"--queries and --k must be at least 1, got {queries} and {k}")
    if steps < 1:
        raise UserError(f"--steps {steps}: need at least 1 step of gradient ascent")


def _check_targets(units: list[int] | None, classes: list[int] | None, backbone: Any, data: Any) -> None:
    nf, nc = backbone.num_features, data.num_classes
    if units is not None and not units:
        raise UserError("--units: give at least one unit, e.g. 0,5,7 (or leave --units out)")
    if classes is not None and not classes:
        raise UserError("--classes: give at least one class, e.g. 0,3 (or leave --classes out)")
    for u in units or []:
        if not 0 <= u < nf:
            raise UserError(f"--units {u}: backbone {backbone.name} has {nf} features (units 0..{nf - 1})")
    for c in classes or []:
        if not 0 <= c < nc:
            raise UserError(f"--classes {c}: data '{data.name}' has {nc} classes (0..{nc - 1})")
    if len(data.test) < 4:
        raise UserError(f"data '{data.name}' has {len(data.test)} test images; visualize needs at least 4")


def visualize(
    run_dir: Path,
    *,
    units: list[int] | None,
    classes: list[int] | None,
    eps: list[float],
    samples: int,
    seed: int,
    out_dir: Path | None,
    overrides: list[tuple[str, Any]],
    device_name: str = "auto",
    queries: int = 8,
    k: int = 7,
    steps: int = activation_max.STEPS,
) -> dict[str, Any]:
    """Activation maximisation, nearest neighbours, t-SNE and FGSM for the backbone of ``run_dir``.

    ``units`` None: the DEFAULT_UNIT_COUNT features of largest variance over the test set; ``classes`` None:
    all. ``overrides``: ``data.*`` keys and the linear probe's ``probe.*`` settings. Returns the record that is
    written to ``visualize.json`` (plus ``out``, the folder)."""
    t_start = time.time()
    eps = sorted({float(e) for e in eps})
    _check_settings(eps, samples, queries, k, steps)
    run = Run(run_dir)
    run_config = run.read_config()
    if not run.backbone_file.is_file():
        raise UserError(f"{run_dir} has no backbone.safetensors (was the run finished? `ssl pretrain --resume`)")
    probe_cfg = resolve_probe_config("linear", run_config, overrides)
    probe, label_fraction = build_probe("linear", probe_cfg["probe"])
    if label_fraction != 1:
        raise UserError("probe.label_fraction: visualize trains its linear classifier on all training labels")
    settings = {k: v for k, v in probe_cfg["probe"].items() if k != "label_fraction"}
    device = resolve_device(device_name)
    seed_everything(seed)  # as `ssl probe` does, so the classifier is the probe's
    run_stats = run.stats_for(probe_cfg["data"])
    data = open_labelled_data(probe_cfg["data"], needs_coords(run_config), run_stats)
    backbone = run.load_backbone(data).to(device).eval()
    backbone.requires_grad_(False)
    _check_targets(units, classes, backbone, data)
    out_dir = out_dir if out_dir is not None else run_dir / "visualize"
    normalize = Normalizer.for_data(data, device)
    wall: dict[str, float] = {}

    # features (cached, shared with `ssl probe`), the probe's classifier, the sampled test images
    t0 = time.time()
    data_cfg = probe_cfg["data"]
    x_train, y_train, x_test, y_test, cached = train_test_features(backbone, data, device, data_cfg, probe.cache)
    fitted = probe.fit(x_train, y_train, data.num_classes, device, seed)
    with torch.no_grad():
        test_pred = fitted.classifier(fitted.standardise(x_test)).argmax(1).cpu()
    head = fitted.folded()
    idx = sample_indices(len(data.test), samples, seed)
    images, labels = load_images(data.test, idx)
    lo, hi, range_note = pixel_bounds(images, data.pixel_scale)
    show_lo, show_hi = display_bounds(images, data.pixel_scale)
    features = x_test[idx].to(device)
    sample = Sample(images, labels, idx, features, lo, hi, range_note, show_lo, show_hi, data.display_channels)
    wall["features_and_probe"] = time.time() - t0

    units_given = units is not None
    if units is None:
        units = x_test.var(0).argsort(descending=True)[: min(DEFAULT_UNIT_COUNT, backbone.num_features)].tolist()
    classes = list(range(data.num_classes)) if classes is None else list(classes)
    t0 = time.time()
    activation = activation_maximisation(backbone, head, data, normalize, sample, units, classes, seed, steps, out_dir)
    wall["activation_max"] = time.time() - t0
    t0 = time.time()
    neighbours = nearest_neighbours(data, x_train, y_train, sample, k, queries, out_dir)
    wall["neighbours"] = time.time() - t0
    t0 = time.time()
    tsne = tsne_map(data, sample, seed, f"{backbone.name} features", out_dir)
    wall["tsne"] = time.time() - t0
    t0 = time.time()
    fgsm = fgsm_attack(nn.Sequential(backbone, head).eval(), data, normalize, sample, eps, out_dir)
    clean_on_sample = percent(100.0 * float((test_pred[idx] == labels).float().mean()))
    fgsm["clean_accuracy_from_features"] = clean_on_sample
    wall["fgsm"] = time.time() - t0

    record = {
        "run": str(run_dir),
        "backbone": backbone.name,
        "data": data_cfg["name"],
        "split": data.split,
        "normalization": "the run's normalization.json" if run_stats else "computed on this training split",
        "num_features": backbone.num_features,
        "num_classes": data.num_classes,
        "class_names": list(data.class_names),
        "train_size": len(data.train),
        "test_size": len(data.test),
        "channels": data.in_chans,
        "shown": shown_channels(data.in_chans),
        "settings": {
            "units": units,
            "units_chosen": "given" if units_given else f"the {len(units)} of largest variance over test features",
            "classes": classes,
            "eps": eps,
            "samples": samples,
            "queries": neighbours["queries"],
            "k": neighbours["k"],
            "steps": steps,
            "seed": seed,
            "data_overrides": {key: v for key, v in overrides if key.startswith("data.")},
        },
        "linear_probe": {
            "accuracy": percent(100.0 * float((test_pred == y_test).float().mean())),
            "accuracy_on_samples": clean_on_sample,
            "weight_decay": fitted.weight_decay,
            "validation_accuracy": fitted.validation_accuracy,
            "settings": settings,
            "features_cached": cached,
        },
        "activation_max": activation,
        "neighbours": neighbours,
        "tsne": tsne,
        "fgsm": fgsm,
        "files": [*PICTURES, "visualize.json"],
        "wall_seconds": {key: round(v, 2) for key, v in {**wall, "total": time.time() - t_start}.items()},
    }
    atomic.write_text(out_dir / "visualize.json", json.dumps(record, indent=2) + "\n")
    record["out"] = str(out_dir)
    return record


def _int_list(text: str) -> list[int]:
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, e.g. 0,5,7, got {text!r}") from None


def _float_list(text: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, e.g. 0,0.01,0.1, got {text!r}") from None


def main(args: argparse.Namespace) -> None:
    record = visualize(
        Path(args.run),
        units=args.units,
        classes=args.classes,
        eps=args.eps,
        samples=args.samples,
        seed=args.seed,
        out_dir=Path(args.out) if args.out else None,
        overrides=cfg.with_flags([("data.name", args.data, "--data")], [cfg.parse_override(o) for o in args.overrides]),
        queries=args.queries,
        k=args.k,
        steps=args.steps,
    )
    fgsm = {a["eps"]: a["accuracy"] for a in record["fgsm"]["accuracy"]}
    largest = max(fgsm)
    print(
        f"visualized {record['backbone']} of {record['run']}: linear probe {record['linear_probe']['accuracy']:.2f}%, "
        f"FGSM eps {largest:g} {fgsm[largest]:.2f}% (eps 0: {fgsm.get(0.0, float('nan')):.2f}%), "
        f"neighbour precision@{record['neighbours']['k']} {record['neighbours']['precision_at_k']:.3f} "
        f"-> {record['out']}"
    )


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "visualize",
        help="look inside a backbone: activation maximisation, neighbours, t-SNE, FGSM (PNGs and JSON)",
        description="Look inside a run's backbone: inputs that maximise feature units and probe classes, nearest "
        "training neighbours of test images, a t-SNE map of test features, and the linear probe's accuracy "
        "under FGSM. Writes PNGs and visualize.json to RUN/visualize (or --out). Trailing key=value pairs set "
        "data.* keys and the linear probe's probe.* settings.",
    )
    p.add_argument("--run", required=True, help="run folder written by `ssl pretrain`")
    p.add_argument("--data", help="labelled dataset (default: the run's dataset), as for `ssl probe`")
    p.add_argument(
        "--units",
        type=_int_list,
        help=f"feature units to maximise, e.g. 0,5,7 (default: the {DEFAULT_UNIT_COUNT} of largest test variance)",
    )
    p.add_argument("--classes", type=_int_list, help="class indices to maximise, e.g. 0,3 (default: all)")
    p.add_argument(
        "--eps",
        type=_float_list,
        default=list(DEFAULT_EPS),
        help="FGSM step sizes in units of the [0, 1] pixel range (default 0,0.01,0.03,0.1)",
    )
    p.add_argument("--samples", type=int, default=2000, help="test images for t-SNE and FGSM (default 2000)")
    p.add_argument("--queries", type=int, default=8, help="test images shown with their neighbours (default 8)")
    p.add_argument("--k", type=int, default=7, help="neighbours per query (default 7)")
    p.add_argument(
        "--steps",
        type=int,
        default=activation_max.STEPS,
        help=f"gradient ascent steps (default {activation_max.STEPS})",
    )
    p.add_argument("--seed", type=int, default=1, help="seed for the sample, the start images and the probe")
    p.add_argument("--out", help="output folder (default RUN/visualize)")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="e.g. data.subset=1000 probe.epochs=10")
    p.set_defaults(func=main)
