"""Activation maximisation (Erhan et al. 2009; Simonyan et al. 2014; the regularisers of Yosinski et al. 2015):
inputs optimised by gradient ascent to excite chosen targets (backbone features, probe logits).

Adam on the normalised image, L2 decay, a random jitter each step, a periodic blur, pixels kept in their valid
range; the image kept is the best one seen.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ssl_toolkit import atomic
from ssl_toolkit.analysis.sample import Sample, rows_of
from ssl_toolkit.pictures.grids import image_table, to_display

# steps of Adam on the normalised input; the objective is the target's value in standard deviations over the
# test features, minus L2 times the image's mean squared normalised value
STEPS = 150
LR = 0.05
L2 = 0.05
BLUR_EVERY = 16  # on 28 px MNIST, every 4 steps halved the activations reached; no blur left pixel noise
START_STD = 0.1  # the random start: the data's mean image plus this much noise (normalised units)


def _blur(x: torch.Tensor) -> torch.Tensor:
    """A 3x3 binomial blur of every channel (edges replicated)."""
    k = torch.tensor([1.0, 2.0, 1.0], device=x.device, dtype=x.dtype)
    kernel = (k[:, None] * k[None, :] / 16).expand(x.shape[1], 1, 3, 3)
    return F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), kernel, groups=x.shape[1])


def maximise(
    objective: Callable[[torch.Tensor], torch.Tensor],
    start: torch.Tensor,
    lo: torch.Tensor,
    hi: torch.Tensor,
    scale: torch.Tensor,
    *,
    steps: int = STEPS,
    lr: float = LR,
    l2: float = L2,
    blur_every: int = BLUR_EVERY,
    seed: int = 0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Gradient ascent on normalised inputs ``start`` (B, C, H, W), image i maximising ``objective(x)[i]``.

    ``objective`` maps (B, C, H, W) to (B,) target values; ``scale`` (B,) divides them (so one L2 weight suits
    every target); ``lo``/``hi`` (C,) bound the normalised pixels. Each step sees the image shifted by a random
    jitter of up to 1/16 of its side; every ``blur_every`` steps the image is blurred. The image kept is the best
    one seen (measured unshifted). Returns (best images, value at the start, value of the best images)."""
    lo, hi = lo.view(1, -1, 1, 1).to(start), hi.view(1, -1, 1, 1).to(start)
    jitter = max(1, round(start.shape[-1] / 16))
    g = torch.Generator().manual_seed(seed)
    x = torch.minimum(torch.maximum(start.detach().clone(), lo), hi).requires_grad_(True)
    with torch.no_grad():
        before = objective(x)
    best, best_value = x.detach().clone(), before.clone()
    opt = torch.optim.Adam([x], lr=lr)
    for step in range(steps):
        dy, dx = (int(v) for v in torch.randint(-jitter, jitter + 1, (2,), generator=g))
        value = objective(torch.roll(x, shifts=(dy, dx), dims=(2, 3)))
        loss = -(value / scale).sum() + l2 * x.pow(2).mean(dim=(1, 2, 3)).sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        with torch.no_grad():
            if blur_every and (step + 1) % blur_every == 0:
                x.copy_(_blur(x))
            x.copy_(torch.minimum(torch.maximum(x, lo), hi))
            value = objective(x)
            better = value > best_value
            best[better], best_value[better] = x[better], value[better]
    return best, before, best_value


def dead_starts(objective: Callable[[torch.Tensor], torch.Tensor], start: torch.Tensor) -> torch.Tensor:
    """(B,) True where the objective has no gradient at the start (a ReLU unit that is off there)."""
    x = start.detach().clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(objective(x).sum(), x)
    return grad.flatten(1).abs().amax(1) == 0


def activation_targets(
    objective: Callable[[torch.Tensor], torch.Tensor],
    subset_values: torch.Tensor,
    subset_images: torch.Tensor,
    lo: torch.Tensor,
    hi: torch.Tensor,
    seed: int,
    steps: int,
) -> tuple[torch.Tensor, list[dict[str, Any]]]:
    """Maximise each of B targets; ``subset_values`` (N, B) are the targets' values on the sampled test images
    ``subset_images`` (N, C, H, W, normalised). Starts from the data's mean image plus a little seeded noise; a
    target with no gradient there starts from the test image that excites it most (plus the same noise)."""
    count = subset_values.shape[1]
    g = torch.Generator().manual_seed(seed)
    noise = START_STD * torch.randn(count, *subset_images.shape[1:], generator=g)
    noise = noise.to(subset_images.device)
    start = noise.clone()
    dead = dead_starts(objective, start)
    top = subset_values.argmax(0)
    start[dead] = subset_images[top[dead]] + noise[dead]
    scale = subset_values.std(0).clamp_min(1e-6).to(start)
    best, before, after = maximise(objective, start, lo, hi, scale, steps=steps, seed=seed)
    records = [
        {
            "start": f"test image {int(top[i])} of the sample plus noise" if dead[i] else "mean image plus noise",
            "before": round(float(before[i]), 6),
            "after": round(float(after[i]), 6),
            "test_mean": round(float(subset_values[:, i].mean()), 6),
            "test_max": round(float(subset_values[:, i].max()), 6),
        }
        for i in range(count)
    ]
    return best, records


def activation_maximisation(
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
    best_units, unit_records = activation_targets(
        lambda x: backbone(x)[rows, unit_idx], sample.features[:, unit_idx], starts, lo, hi, seed, steps
    )
    best_classes, class_records = activation_targets(
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
            out_dir / f"activation_max_{name}.png", image_table(rows_of(cells), title + "before -> after)")
        )
    return {
        "units": unit_records,
        "classes": class_records,
        "method": {
            "optimizer": "adam on the normalised input",
            "steps": steps,
            "lr": LR,
            "l2": L2,
            "blur": f"3x3 binomial every {BLUR_EVERY} steps",
            "jitter_px": max(1, round(data.img_size / 16)),
            "objective": "target value / its std over the sampled test images, minus l2 * mean(x^2)",
            "pixel_range": sample.range_note,
            "kept": "the best image seen (measured without jitter); pictures stretch each image to black..white",
            "values": "units: backbone features; classes: the linear probe's logits",
        },
    }
