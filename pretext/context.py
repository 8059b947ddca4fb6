"""Context prediction (Doersch, Gupta & Efros, ICCV 2015): where is this patch relative to the centre one?

A centre patch and one of its 8 neighbours on a 3x3 layout; the label is the neighbour's position (8-way).
A gap between patches and a random jitter of each patch keep the net from matching edges or lines; colour
dropping (keep one channel, replace the others with faint noise) fights the chromatic-aberration shortcut.
Sizes are fractions of the image side, so a 28 px digit and a 64 px tile both work. On a small tile the 3x3
layout nearly fills the image, so each label cuts its neighbour at its own place; a JPEG's blocks then tell
where (``align``, and ``benchmarks/patch_shortcut.py`` to see whether a trained net reads them).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from pretext.base import PretextTask, classify
from pretext.patches import cut_windows, tile_mosaic
from ssl_toolkit.backbones.base import Backbone
from ssl_toolkit.registry import TASKS

# label -> (row offset, column offset) of the neighbour, row-major around the centre
OFFSETS = ((-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1))


def drop_colour(patches: torch.Tensor, noise_scale: float = 0.01) -> torch.Tensor:
    """(N, C, H, W): keep one random channel per patch, the others become noise at ``noise_scale`` x its std."""
    n, c = patches.shape[:2]
    keep = torch.randint(0, c, (n,), device=patches.device)
    kept = patches[torch.arange(n, device=patches.device), keep]  # (N, H, W)
    std = kept.flatten(1).std(dim=1).view(n, 1, 1, 1)
    noise = torch.randn_like(patches) * noise_scale * std
    mask = F.one_hot(keep, c).bool().view(n, c, 1, 1)
    return torch.where(mask, patches, noise)


@TASKS.register("context")
class ContextPrediction(PretextTask):
    """8-way relative position of a neighbour patch to a centre patch (Doersch et al. 2015)."""

    def __init__(
        self,
        backbone: Backbone,
        patch_fraction: float = 0.25,
        gap_fraction: float = 0.0625,
        jitter_fraction: float = 0.03,
        color_drop: bool = False,
        hidden: int = 256,
        align: int = 1,
    ) -> None:
        """Patch side = patch_fraction x image side; gap and maximum jitter likewise. The two patch embeddings
        are concatenated and an MLP (hidden units) classifies the position. align: the step from a patch to its
        neighbour (patch + gap) is rounded down to a multiple of this many px, the gap shrinking first, so a
        compression grid cannot tell where a patch was cut (16 px for JPEG; 1: off)."""
        super().__init__(backbone)
        for name, v in [
            ("patch_fraction", patch_fraction),
            ("gap_fraction", gap_fraction),
            ("jitter_fraction", jitter_fraction),
        ]:
            if not 0 <= v < 1:
                raise ValueError(f"{name} must be in [0, 1), got {v}")
        self.patch_fraction, self.gap_fraction, self.jitter_fraction = patch_fraction, gap_fraction, jitter_fraction
        if align < 1:
            raise ValueError(f"align must be at least 1 px, got {align}")
        self.align = align
        self.color_drop = color_drop
        self.head = nn.Sequential(nn.Linear(2 * backbone.num_features, hidden), nn.ReLU(), nn.Linear(hidden, 8))
        self.register_buffer("offsets", torch.tensor(OFFSETS), persistent=False)

    def geometry(self, side: int) -> tuple[int, int, int]:
        """Patch side, gap and jitter in pixels for a square image of ``side`` px."""
        patch = max(2, round(side * self.patch_fraction))
        gap, jitter = round(side * self.gap_fraction), round(side * self.jitter_fraction)
        if self.align > 1:
            step = (patch + gap) // self.align * self.align
            if step == 0:
                raise ValueError(
                    f"context patches of {patch} px with gap {gap} on {side} px images are smaller than "
                    f"task.align={self.align} px"
                )
            patch, gap = (patch, step - patch) if step >= patch else (step, 0)
        if 3 * patch + 2 * gap + 2 * jitter > side:
            raise ValueError(
                f"images of {side}x{side} px are too small for context patches of {patch} px with gap {gap} and "
                f"jitter {jitter} (the 3x3 layout needs {3 * patch + 2 * gap + 2 * jitter} px)"
            )
        return patch, gap, jitter

    def build_inputs(self, images: torch.Tensor, meta: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """images (B, C, S, S) -> patches (B, 2, C, p, p) [centre, neighbour] and labels (B,) in 0..7."""
        b, c, h, w = images.shape
        if h != w:
            raise ValueError(f"context prediction needs square images, got {h}x{w}")
        patch, gap, jitter = self.geometry(h)
        dev = images.device
        step = patch + gap
        lo, hi = step + jitter, h - patch - step - jitter
        centre = torch.randint(lo, hi + 1, (b, 2), device=dev)
        labels = torch.randint(0, 8, (b,), device=dev)
        neighbour = centre + self.offsets[labels] * step
        shake = torch.randint(-jitter, jitter + 1, (b, 2, 2), device=dev)
        tops = torch.stack([centre[:, 0], neighbour[:, 0]], dim=1) + shake[..., 0]
        lefts = torch.stack([centre[:, 1], neighbour[:, 1]], dim=1) + shake[..., 1]
        patches = cut_windows(images, tops, lefts, patch)
        if self.color_drop and c > 1:
            patches = drop_colour(patches.flatten(0, 1)).view_as(patches)
        return patches, labels

    def forward(self, images: torch.Tensor, meta: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        patches, labels = self.build_inputs(images, meta)
        b = patches.shape[0]
        feats = self.backbone(patches.flatten(0, 1)).view(b, -1)
        return classify(self.head(feats), labels)

    def examples(self, images: torch.Tensor, meta: dict[str, torch.Tensor]) -> tuple[list[torch.Tensor], list[str]]:
        """Each example drawn on a 3x3 canvas: the centre patch in the middle, the neighbour where its label says."""
        patches, labels = self.build_inputs(images, meta)
        panels, captions = [], []
        for pair, label in zip(patches, labels.tolist()):
            layout = torch.full((9, *pair.shape[1:]), float("nan"))
            dy, dx = OFFSETS[label]
            layout[4], layout[4 + 3 * dy + dx] = pair[0].cpu(), pair[1].cpu()
            panels.append(tile_mosaic(layout))
            captions.append(f"label {label}: offset {OFFSETS[label]}")
        return panels, captions
