"""FGSM, the fast gradient sign method (Goodfellow et al. 2015): one step of size eps along the sign of the loss
gradient, x_adv = clip(x + eps * sign(grad_x CE(model(x), y)), lo, hi).

The step is taken in pixel space: stored values divided by the data's ``pixel_scale`` (so [0, 1] for 8-bit
images), the unit ``eps`` is given in; the model sees the adversarial pixels after the usual normalisation.
Work is done in stored units (pixels times ``pixel_scale``) so that eps = 0 gives back the stored values
exactly, and the clean prediction is the one every other probe computes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from probes.base import percent
from ssl_toolkit import atomic
from ssl_toolkit.analysis.sample import Sample
from ssl_toolkit.pictures.grids import image_table, to_display


def gradient_sign(
    model: nn.Module, normalize: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, y: torch.Tensor
) -> torch.Tensor:
    """sign of d CE(model(normalize(x)), y) / dx for stored-unit float images ``x`` (B, C, H, W), labels (B,).

    The loss is summed over the batch, so each image gets the gradient of its own loss (model in eval mode)."""
    x = x.detach().clone().requires_grad_(True)
    loss = F.cross_entropy(model(normalize(x)), y, reduction="sum")
    (grad,) = torch.autograd.grad(loss, x)
    return grad.sign()


def perturb(
    x: torch.Tensor, sign: torch.Tensor, eps: float, pixel_scale: float, lo: torch.Tensor, hi: torch.Tensor
) -> torch.Tensor:
    """x + eps * sign in pixel units, clipped per channel to [lo, hi] (pixel units, shape (C,)); stored units in
    and out."""
    low = (lo * pixel_scale).view(1, -1, 1, 1).to(x)
    high = (hi * pixel_scale).view(1, -1, 1, 1).to(x)
    return torch.minimum(torch.maximum(x + (eps * pixel_scale) * sign, low), high)


def fgsm_predictions(
    model: nn.Module,
    normalize: Callable[[torch.Tensor], torch.Tensor],
    batches: Sequence[tuple[torch.Tensor, torch.Tensor]] | object,
    eps: Sequence[float],
    pixel_scale: float,
    lo: torch.Tensor,
    hi: torch.Tensor,
    device: torch.device,
) -> dict[float, torch.Tensor]:
    """Predicted class (N,) under FGSM at each eps, for batches of (stored images, labels) on the CPU.

    The gradient is taken once per batch at the clean images (FGSM is a single step), then every eps is tried."""
    model.eval()
    predictions: dict[float, list[torch.Tensor]] = {e: [] for e in eps}
    for images, labels in batches:
        x = images.to(device).float()
        y = labels.to(device)
        sign = gradient_sign(model, normalize, x, y)
        with torch.no_grad():
            for e in eps:
                predictions[e].append(model(normalize(perturb(x, sign, e, pixel_scale, lo, hi))).argmax(1).cpu())
    return {e: torch.cat(p) for e, p in predictions.items()}


def fgsm_attack(
    model: nn.Module, data: Any, normalize: Any, sample: Sample, eps: list[float], out_dir: Path, examples: int = 6
) -> dict[str, Any]:
    """The model's accuracy under FGSM at each eps; a few images at the largest eps (flipped ones first)."""
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
        "accuracy": [{"eps": e, "accuracy": percent(100.0 * float((preds[e] == labels).float().mean()))} for e in eps],
        "images": len(labels),
        "eps_units": f"pixels: stored value / pixel_scale ({scale:g})",
        "pixel_range": sample.range_note,
        "attack": "one step, x + eps * sign(grad of cross-entropy wrt x), clipped to the pixel range, then "
        "normalised; not rounded to the stored dtype",
        "model": "backbone (eval) + standardisation folded into the linear probe's classifier",
    }
