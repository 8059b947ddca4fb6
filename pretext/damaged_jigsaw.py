"""Damaged jigsaw (Kim, Cho, Yoo & Kweon, WACV 2018): solve, inpaint and colorize one damaged 3x3 puzzle.

One tile of the shuffled puzzle is removed (zeroed) and the others are decolorized (gray of equal CIE
lightness). Three heads share the backbone's tile embeddings: the permutation (cross-entropy), the missing
tile's pixels at a reduced resolution (inpainting, mean squared error) and the a*, b* chrominance of each
remaining tile at a reduced resolution (colorization, mean squared error on a*/b* scaled by 1/110).
On data without 3 colour channels (MNIST, multispectral) colorization is switched off, with a message.
"""

from __future__ import annotations

import sys

import torch
import torch.nn.functional as F
from torch import nn

from pretext.base import classify
from pretext.color import gray_level, rgb_to_lab
from pretext.jigsaw import GRID, PuzzleTask
from pretext.patches import normalize_tiles, tile_mosaic
from ssl_toolkit.backbones.base import Backbone
from ssl_toolkit.registry import TASKS

AB_SCALE = 110.0


@TASKS.register("damaged_jigsaw")
class DamagedJigsaw(PuzzleTask):
    """3x3 jigsaw with a missing tile and gray tiles: permutation + inpainting + colorization (Kim et al. 2018)."""

    def __init__(
        self,
        backbone: Backbone,
        num_permutations: int = 100,
        permutation_seed: int = 0,
        tile_fraction: float = 0.85,
        hidden: int = 512,
        weight_jigsaw: float = 1.0,
        weight_inpaint: float = 1.0,
        weight_color: float = 1.0,
        inpaint_size: int = 8,
        color_size: int = 4,
        align: int = 1,
    ) -> None:
        """inpaint_size / color_size: side of the predicted missing tile / a*b* map (targets are average-pooled);
        align: cells rounded down to a multiple of this many px (as in ``jigsaw``)."""
        super().__init__(backbone, num_permutations, permutation_seed, tile_fraction, hidden, align=align)
        c, f = backbone.in_chans, backbone.num_features
        self.weights = {"jigsaw": weight_jigsaw, "inpaint": weight_inpaint, "color": weight_color}
        self.inpaint_size, self.color_size = inpaint_size, color_size
        self.colorize = c == 3 and weight_color > 0
        if c != 3 and weight_color > 0:
            print(
                f"damaged_jigsaw: the data has {c} channel(s), not RGB; colorization is switched off", file=sys.stderr
            )
        self.inpaint_head = nn.Sequential(
            nn.Linear(GRID * GRID * f, hidden), nn.ReLU(), nn.Linear(hidden, c * inpaint_size * inpaint_size)
        )
        self.color_head = nn.Linear(f, 2 * color_size * color_size) if self.colorize else None

    def build_inputs(self, images: torch.Tensor, meta: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """images (B, C, S, S), normalised -> dict of
        tiles (B, 9, C, t, t) network input; labels (B,); missing (B,) position of the removed tile;
        inpaint_target (B, C, k, k); color_target (B, 9, 2, m, m) (only when colorizing)."""
        _, shuffled, labels = self.puzzle(images)
        b, n, c, t, _ = shuffled.shape
        dev = images.device
        missing = torch.randint(0, n, (b,), device=dev)
        rows = torch.arange(b, device=dev)
        out = {"labels": labels, "missing": missing}
        out["inpaint_target"] = F.adaptive_avg_pool2d(shuffled[rows, missing], self.inpaint_size)
        if c == 3:
            mean = meta.get("pixel_mean", torch.zeros(1, c, 1, 1, device=dev)).view(1, 1, c, 1, 1)
            std = meta.get("pixel_std", torch.ones(1, c, 1, 1, device=dev)).view(1, 1, c, 1, 1)
            rgb = (shuffled * std + mean).clamp(0, 1)
            # per-tile normalisation removes any affine map, so the gray level needs no dataset normalisation
            gray = gray_level(rgb)
            if self.colorize:
                # chrominance of the tile at the reduced resolution (Lab of the average-pooled colour)
                small = F.adaptive_avg_pool2d(rgb.flatten(0, 1), self.color_size)
                ab = rgb_to_lab(small)[:, 1:] / AB_SCALE
                out["color_target"] = ab.reshape(b, n, 2, self.color_size, self.color_size)
        else:
            gray = shuffled
        tiles = normalize_tiles(gray).expand(b, n, c, t, t).contiguous()
        tiles[rows, missing] = 0.0
        out["tiles"] = tiles
        return out

    def forward(self, images: torch.Tensor, meta: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        x = self.build_inputs(images, meta)
        tiles, labels, missing = x["tiles"], x["labels"], x["missing"]
        b, n = tiles.shape[:2]
        feats = self.embed_tiles(tiles)
        flat = feats.flatten(1)
        solved = classify(self.head(flat), labels)
        losses = {"jigsaw": solved["loss"]}
        pred_tile = self.inpaint_head(flat).float().view_as(x["inpaint_target"])
        losses["inpaint"] = F.mse_loss(pred_tile, x["inpaint_target"])
        if self.color_head is not None:
            present = torch.ones(b, n, dtype=torch.bool, device=tiles.device)
            present[torch.arange(b, device=tiles.device), missing] = False
            pred_ab = self.color_head(feats[present]).float().view(-1, 2, self.color_size, self.color_size)
            losses["color"] = F.mse_loss(pred_ab, x["color_target"][present])
        loss = sum(self.weights[k] * v for k, v in losses.items())
        out = {"loss": loss, "acc": solved["acc"]}
        out.update({f"{k}_loss": v.detach() for k, v in losses.items()})
        return out

    def examples(self, images: torch.Tensor, meta: dict[str, torch.Tensor]) -> tuple[list[torch.Tensor], list[str]]:
        """Per image: the damaged puzzle as the net sees it (gray tiles, one blank), and the missing tile."""
        x = self.build_inputs(images, meta)
        panels, captions = [], []
        for tiles, label, miss, target in zip(
            x["tiles"], x["labels"].tolist(), x["missing"].tolist(), x["inpaint_target"]
        ):
            tiles = tiles.clone()
            tiles[miss] = float("nan")
            panels += [tile_mosaic(tiles), target.cpu()]
            captions += [f"perm #{label}, tile {miss} missing", "inpainting target"]
        return panels, captions
