"""``ssl visualize``: look inside a pretrained backbone.

Writes into ``RUN/visualize/`` (or ``--out``):

- ``activation_max_units.png``, ``activation_max_classes.png``: inputs optimised (``activation_max``) to excite
  one backbone feature, or one class logit of a linear probe trained on the frozen features.
- ``neighbours.png``: test images and their nearest training images by cosine similarity of the features
  (faiss, exact inner product on L2-normalised features).
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ssl_toolkit import activation_max, atomic
from ssl_toolkit import config as cfg
from ssl_toolkit.errors import UserError
from ssl_toolkit.grids import figure_png, image_table, to_display

DEFAULT_EPS = (0.0, 0.01, 0.03, 0.1)
DEFAULT_UNIT_COUNT = 8
PICTURES = (
    "activation_max_units.png",
    "activation_max_classes.png",
    "neighbours.png",
    "tsne.png",
    "fgsm_examples.png",
)


# ----------------------------------------------------------------------------------------------------- sampling


def sample_indices(n: int, samples: int, seed: int) -> torch.Tensor:
    """``min(samples, n)`` indices into a split of ``n``, a seeded random choice (in drawn order)."""
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed))[: min(samples, n)]


def load_images(split: Any, idx: torch.Tensor, batch_size: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """Stored pixels (N, C, H, W) in their stored dtype and labels (N,) of ``split`` at ``idx``, in that order."""
    from ssl_toolkit.data import iterate, sequential_order

    part = split.select(idx)
    images, labels = [], []
    for x, meta in iterate(part, sequential_order(len(part), batch_size)):
        images.append(x)
        labels.append(meta["label"])
    return torch.cat(images), torch.cat(labels)


def pixel_bounds(images: torch.Tensor, pixel_scale: float) -> tuple[torch.Tensor, torch.Tensor, str]:
    """The valid pixel range per channel, in pixel units (stored / pixel_scale): the stored integer dtype's
    range ([0, 1] for 8- and 16-bit images), else the smallest and largest value of ``images`` (float rasters
    have no fixed range)."""
    chans = images.shape[1]
    if not images.dtype.is_floating_point:
        info = torch.iinfo(images.dtype)
        lo, hi = info.min / pixel_scale, info.max / pixel_scale
        return torch.full((chans,), lo), torch.full((chans,), hi), f"[{lo:g}, {hi:g}] (the stored {info.dtype} range)"
    flat = images.float().transpose(0, 1).reshape(chans, -1) / pixel_scale
    return flat.min(1).values, flat.max(1).values, "per channel min..max of the sampled test images (float pixels)"


def display_bounds(images: torch.Tensor, pixel_scale: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The pixel range mapped to black..white in the pictures: [0, 1] for 8-bit images; otherwise the 0.5th and
    99.5th percentile per channel of ``images`` (a 16-bit raster uses a small part of its range)."""
    chans = images.shape[1]
    if images.dtype == torch.uint8:
        return torch.zeros(chans), torch.ones(chans)
    flat = images.float().transpose(0, 1).reshape(chans, -1) / pixel_scale
    lo, hi = torch.quantile(flat, 0.005, dim=1), torch.quantile(flat, 0.995, dim=1)
    return lo, torch.maximum(hi, lo + 1e-8)


def shown_channels(chans: int) -> str:
    if chans == 1:
        return "the one channel, as grey"
    if chans == 3:
        return "all 3 channels as RGB"
    if chans > 3:
        return f"the first 3 of {chans} channels as RGB (the optimisation and attacks use all {chans})"
    return f"the first of {chans} channels, as grey (the optimisation and attacks use all {chans})"


# ------------------------------------------------------------------------------------------------------ figures


def tsne_png(points: np.ndarray, labels: np.ndarray, class_names: tuple[str, ...], title: str) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 6.5))
    present = np.unique(labels)
    cmap = plt.get_cmap("tab10" if len(class_names) <= 10 else "tab20")
    for c in present:
        sel = labels == c
        name = class_names[c] if c < len(class_names) else str(c)
        ax.scatter(points[sel, 0], points[sel, 1], s=6, color=cmap(int(c) % cmap.N), label=name, linewidths=0)
    if len(present) <= 20:
        ax.legend(fontsize=7, markerscale=2.5, loc="center left", bbox_to_anchor=(1.0, 0.5), title="class")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, fontsize=9)
    return figure_png(fig)


# ------------------------------------------------------------------------------------------------ the sections


@dataclass(frozen=True)
class Sample:
    """The sampled test images every section looks at: stored pixels (N, C, H, W), labels (N,), their indices in
    the test split, their features (N, F), the valid pixel range and the range drawn as black..white."""

    images: torch.Tensor
    labels: torch.Tensor
    idx: torch.Tensor
    features: torch.Tensor
    lo: torch.Tensor
    hi: torch.Tensor
    range_note: str
    show_lo: torch.Tensor
    show_hi: torch.Tensor

    def shown(self, stored: torch.Tensor, pixel_scale: float) -> np.ndarray:
        return to_display(stored.float().cpu() / pixel_scale, self.show_lo, self.show_hi)


def _rows(cells: list, columns: int = 8) -> list[list]:
    return [cells[i : i + columns] for i in range(0, len(cells), columns)]


def activation_section(
    backbone: nn.Module,
    head: nn.Linear,
    data: Any,
    normalize: Any,
    sample: Sample,
    units: list[int],
    classes: list[int],
    seed: int,
    steps: int,
    out_dir: Path,
) -> dict[str, Any]:
    """Maximise each unit and each class logit (one batch each); draw both tables."""
    device = sample.features.device
    mean, std = normalize.mean.flatten().cpu(), normalize.std.flatten().cpu()
    lo, hi = ((sample.lo - mean) / std).to(device), ((sample.hi - mean) / std).to(device)
    starts = normalize(sample.images.to(device))
    unit_idx, class_idx = torch.tensor(units, device=device), torch.tensor(classes, device=device)
    rows, crows = torch.arange(len(units), device=device), torch.arange(len(classes), device=device)
    with torch.no_grad():
        logits = head(sample.features)
    best_units, unit_records = activation_max.activation_targets(
        lambda x: backbone(x)[rows, unit_idx], sample.features[:, unit_idx], starts, lo, hi, seed, steps
    )
    best_classes, class_records = activation_max.activation_targets(
        lambda x: head(backbone(x))[crows, class_idx], logits[:, class_idx], starts, lo, hi, seed, steps
    )
    for record, u in zip(unit_records, units):
        record["unit"] = u
    for record, c in zip(class_records, classes):
        record["class"] = c
        record["name"] = data.class_names[c]
    for best, records, captions, name, what in (
        (best_units, unit_records, [f"unit {u}" for u in units], "units", "feature units (activation"),
        (best_classes, class_records, [data.class_names[c] for c in classes], "classes", "class logits (logit"),
    ):
        shown = to_display(best.cpu() * std.view(1, -1, 1, 1) + mean.view(1, -1, 1, 1))  # each image stretched
        cells = [
            (shown[i], f"{caption}\n{r['before']:.2g} -> {r['after']:.3g}", "black")
            for i, (caption, r) in enumerate(zip(captions, records))
        ]
        title = f"{backbone.name}{' + linear probe' if name == 'classes' else ''}: inputs maximising {what} "
        atomic.write_bytes(
            out_dir / f"activation_max_{name}.png", image_table(_rows(cells), title + "before -> after)")
        )
    return {
        "units": unit_records,
        "classes": class_records,
        "method": {
            "optimizer": "adam on the normalised input",
            "steps": steps,
            "lr": activation_max.LR,
            "l2": activation_max.L2,
            "blur": f"3x3 binomial every {activation_max.BLUR_EVERY} steps",
            "jitter_px": max(1, round(data.img_size / 16)),
            "objective": "target value / its std over the sampled test images, minus l2 * mean(x^2)",
            "pixel_range": sample.range_note,
            "kept": "the best image seen (measured without jitter); pictures stretch each image to black..white",
            "values": "units: backbone features; classes: the linear probe's logits",
        },
    }


def neighbours_section(
    data: Any, x_train: torch.Tensor, y_train: torch.Tensor, sample: Sample, k: int, queries: int, out_dir: Path
) -> dict[str, Any]:
    """The k nearest training images of each sampled test image (cosine, faiss); the first ``queries`` drawn."""
    from probes.knn import cosine_neighbours

    sims, nbrs = cosine_neighbours(x_train.numpy(), sample.features.cpu().numpy(), k)
    k = nbrs.shape[1]
    neighbour_labels, labels = y_train.numpy()[nbrs], sample.labels.numpy()
    same = neighbour_labels == labels[:, None]
    queries = min(queries, len(labels))
    neighbour_images, _ = load_images(data.train, torch.from_numpy(nbrs[:queries].reshape(-1)).long())
    shown_queries = sample.shown(sample.images[:queries], data.pixel_scale)
    shown_nbrs = sample.shown(neighbour_images, data.pixel_scale).reshape(queries, k, *shown_queries.shape[1:])
    names = data.class_names
    cells = [
        [(shown_queries[q], f"query\n{names[labels[q]]}", "black")]
        + [
            (
                shown_nbrs[q, j],
                f"{names[neighbour_labels[q, j]]}\ncos {sims[q, j]:.3f}",
                "green" if same[q, j] else "red",
            )
            for j in range(k)
        ]
        for q in range(queries)
    ]
    title = f"test queries and their {k} nearest training images (cosine; green: same label)"
    atomic.write_bytes(out_dir / "neighbours.png", image_table(cells, title))
    return {
        "k": k,
        "queries": queries,
        "query_test_indices": sample.idx[:queries].tolist(),
        "precision_at_k": round(float(same[:queries].mean()), 6),
        "precision_at_k_all_samples": round(float(same.mean()), 6),
        "samples": len(labels),
        "similarity": "cosine: faiss IndexFlatIP on L2-normalised features, train split searched",
    }


def tsne_section(data: Any, sample: Sample, seed: int, title: str, out_dir: Path) -> dict[str, Any]:
    from sklearn.manifold import TSNE
    from threadpoolctl import threadpool_limits

    n = len(sample.labels)
    perplexity = float(min(30.0, (n - 1) / 3))
    tsne = TSNE(n_components=2, perplexity=perplexity, init="pca", learning_rate="auto", random_state=seed)
    # one OpenMP thread: beside another busy process, sklearn's threaded Barnes-Hut gradient took 45 s instead
    # of 5 s for 1000 points on 2 cores
    with threadpool_limits(limits=1, user_api="openmp"):
        points = tsne.fit_transform(sample.features.cpu().numpy().astype(np.float64))
    title = f"t-SNE of {title}: {n} test images of {data.name} (perplexity {perplexity:g})"
    atomic.write_bytes(out_dir / "tsne.png", tsne_png(points, sample.labels.numpy(), data.class_names, title))
    return {"points": n, "perplexity": perplexity, "init": "pca", "seed": seed}


def fgsm_section(
    model: nn.Module, data: Any, normalize: Any, sample: Sample, eps: list[float], out_dir: Path, examples: int = 6
) -> dict[str, Any]:
    """The model's accuracy under FGSM at each eps; a few images at the largest eps (flipped ones first)."""
    from probes.fgsm import fgsm_predictions, gradient_sign, perturb

    device, scale, labels = sample.features.device, data.pixel_scale, sample.labels
    batches = [(sample.images[i : i + 128], labels[i : i + 128]) for i in range(0, len(labels), 128)]
    preds = fgsm_predictions(model, normalize, batches, eps, scale, sample.lo, sample.hi, device)
    largest = eps[-1]
    flipped = (preds[eps[0]] == labels) & (preds[largest] != labels)
    order = torch.cat([torch.nonzero(flipped).flatten(), torch.nonzero(~flipped).flatten()])[:examples]
    x = sample.images[order].to(device).float()
    adv = perturb(x, gradient_sign(model, normalize, x, labels[order].to(device)), largest, scale, sample.lo, sample.hi)
    shown_clean, shown_adv = sample.shown(x, scale), sample.shown(adv, scale)
    span = torch.full_like(sample.lo, max(largest, 1e-8))
    shown_diff = to_display((adv - x).cpu() / scale, -span, span)
    names = data.class_names
    cells = []
    for j, i in enumerate(order.tolist()):
        p0, p1, y = int(preds[eps[0]][i]), int(preds[largest][i]), int(labels[i])
        cells.append(
            [
                (shown_clean[j], f"label {names[y]}\nclean pred {names[p0]}", "black"),
                (shown_adv[j], f"eps {largest:g}\nadv pred {names[p1]}", "green" if p1 == y else "red"),
                (shown_diff[j], "perturbation\n(grey = 0)", "black"),
            ]
        )
    atomic.write_bytes(out_dir / "fgsm_examples.png", image_table(cells, f"FGSM on the linear probe, eps {largest:g}"))
    return {
        "accuracy": [{"eps": e, "accuracy": round(100.0 * float((preds[e] == labels).float().mean()), 4)} for e in eps],
        "images": len(labels),
        "eps_units": f"pixels: stored value / pixel_scale ({scale:g})",
        "pixel_range": sample.range_note,
        "attack": "one step, x + eps * sign(grad of cross-entropy wrt x), clipped to the pixel range, then "
        "normalised; not rounded to the stored dtype",
        "model": "backbone (eval) + standardisation folded into the linear probe's classifier",
    }


# ------------------------------------------------------------------------------------------------ the command


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
    from probes.features import train_test_features
    from probes.linear import LinearProbe
    from ssl_toolkit.data import Normalizer
    from ssl_toolkit.device import resolve_device, seed_everything
    from ssl_toolkit.probe import load_backbone, open_labelled_data, read_run_config, resolve_probe_config

    t_start = time.time()
    eps = sorted({float(e) for e in eps})
    _check_settings(eps, samples, queries, k, steps)
    run_config = read_run_config(run_dir)
    if not (run_dir / "backbone.safetensors").is_file():
        raise UserError(f"{run_dir} has no backbone.safetensors (was the run finished? `ssl pretrain --resume`)")
    probe_cfg = resolve_probe_config("linear", run_config, overrides)
    settings = dict(probe_cfg["probe"])
    if settings.pop("label_fraction") != 1:
        raise UserError("probe.label_fraction: visualize trains its linear classifier on all training labels")
    try:
        probe = LinearProbe(**settings)
    except ValueError as e:
        raise UserError(f"probe settings: {e}") from None
    device = resolve_device(device_name)
    seed_everything(seed)  # as `ssl probe` does, so the classifier is the probe's
    data, run_stats = open_labelled_data(run_dir, run_config, probe_cfg["data"])
    backbone = load_backbone(run_dir, run_config, None, data).to(device).eval()
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
    sample = Sample(images, labels, idx, x_test[idx].to(device), lo, hi, range_note, show_lo, show_hi)
    wall["features_and_probe"] = time.time() - t0

    units_given = units is not None
    if units is None:
        units = x_test.var(0).argsort(descending=True)[: min(DEFAULT_UNIT_COUNT, backbone.num_features)].tolist()
    classes = list(range(data.num_classes)) if classes is None else list(classes)
    t0 = time.time()
    activation = activation_section(backbone, head, data, normalize, sample, units, classes, seed, steps, out_dir)
    wall["activation_max"] = time.time() - t0
    t0 = time.time()
    neighbours = neighbours_section(data, x_train, y_train, sample, k, queries, out_dir)
    wall["neighbours"] = time.time() - t0
    t0 = time.time()
    tsne = tsne_section(data, sample, seed, f"{backbone.name} features", out_dir)
    wall["tsne"] = time.time() - t0
    t0 = time.time()
    fgsm = fgsm_section(nn.Sequential(backbone, head).eval(), data, normalize, sample, eps, out_dir)
    clean_on_sample = round(100.0 * float((test_pred[idx] == labels).float().mean()), 4)
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
            "accuracy": round(100.0 * float((test_pred == y_test).float().mean()), 4),
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


def cmd_visualize(args: argparse.Namespace) -> None:
    record = visualize(
        Path(args.run),
        units=args.units,
        classes=args.classes,
        eps=args.eps,
        samples=args.samples,
        seed=args.seed,
        out_dir=Path(args.out) if args.out else None,
        overrides=[cfg.parse_override(o) for o in args.overrides],
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
    p.set_defaults(func=cmd_visualize)
