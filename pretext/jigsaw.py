"""Jigsaw puzzles (Noroozi & Favaro, ECCV 2016): which permutation shuffled these 9 tiles?

Each image gives a 3x3 grid of cells with a smaller tile at a random place inside each cell (the gap); the
tiles are shuffled by a permutation drawn from a fixed set with large Hamming distances and normalised one by
one. The shared backbone embeds every tile; an MLP on the 9 concatenated embeddings classifies the permutation.
"""

from __future__ import annotations

import torch
from torch import nn

from pretext.base import PretextTask, classify
from pretext.patches import cut_windows, grid_positions, normalize_tiles, tile_mosaic
from pretext.permutations import load_or_build
from ssl_toolkit.backbones.base import Backbone
from ssl_toolkit.registry import TASKS

GRID = 3


def shuffle_tiles(tiles: torch.Tensor, perms: torch.Tensor) -> torch.Tensor:
    """tiles (B, 9, ...) and perms (B, 9): position i of the result holds tile perms[b, i]."""
    return tiles[torch.arange(tiles.shape[0], device=tiles.device).unsqueeze(1), perms]


MAX_PERMUTATIONS = 2000


class PuzzleTask(PretextTask):
    """Shared parts of jigsaw-style tasks: the permutation set (a buffer, so checkpoints carry it), tiling, tile
    embedding by the shared backbone, and the permutation classifier on the 9 concatenated embeddings."""

    def __init__(
        self,
        backbone: Backbone,
        num_permutations: int,
        permutation_seed: int,
        tile_fraction: float,
        hidden: int,
        curriculum: float = 0.0,
        curriculum_start: int = 10,
        align: int = 1,
    ) -> None:
        super().__init__(backbone)
        if align < 1:
            raise ValueError(f"align must be at least 1 px, got {align}")
        self.align = align
        if not 0 <= curriculum <= 1:
            raise ValueError(
                f"curriculum must be in [0, 1] (the share of training that grows the set), got {curriculum}"
            )
        if not 2 <= curriculum_start:
            raise ValueError(f"curriculum_start must be at least 2 permutations, got {curriculum_start}")
        self.curriculum, self.curriculum_start = curriculum, min(curriculum_start, num_permutations)
        if not 0 < tile_fraction <= 1:
            raise ValueError(f"tile_fraction must be in (0, 1], got {tile_fraction}")
        if not 2 <= num_permutations <= MAX_PERMUTATIONS:
            raise ValueError(
                f"num_permutations must be in [2, {MAX_PERMUTATIONS}], got {num_permutations} (the greedy "
                "max-Hamming search takes time in proportion to N x 9!; published sets hold 100 to 1000)"
            )
        self.tile_fraction = tile_fraction
        perms = torch.from_numpy(load_or_build(num_permutations, permutation_seed))
        self.register_buffer("permutations", perms)
        self.head = nn.Sequential(
            nn.Linear(GRID * GRID * backbone.num_features, hidden), nn.ReLU(), nn.Linear(hidden, num_permutations)
        )

    def embed_tiles(self, tiles: torch.Tensor) -> torch.Tensor:
        """(B, 9, C, t, t) -> (B, 9, num_features): every tile through the one backbone."""
        return self.backbone(tiles.flatten(0, 1)).view(*tiles.shape[:2], -1)

    def puzzle(
        self, images: torch.Tensor, with_original: bool = False
    ) -> tuple[torch.Tensor | None, torch.Tensor, torch.Tensor]:
        """images (B, C, S, S) -> (original tiles or None, shuffled tiles, labels); tiles are (B, 9, C, t, t).

        The shuffle is applied to the tile positions before cutting, so the shuffled tiles are cut in one go.
        """
        top, left, tile = grid_positions(images, GRID, self.tile_fraction, align=self.align)
        labels = torch.randint(0, self.active_permutations(), (images.shape[0],), device=images.device)
        perms = self.permutations[labels]
        shuffled = cut_windows(images, shuffle_tiles(top, perms), shuffle_tiles(left, perms), tile)
        original = cut_windows(images, top, left, tile) if with_original else None
        return original, shuffled, labels

    def active_permutations(self) -> int:
        """How many of the set's permutations puzzles are drawn from now: all of them, or with a curriculum the
        first ``curriculum_start`` (the greedy max-Hamming set's first k are themselves far apart) growing
        linearly to all by ``curriculum`` of the run (training progress, ``context.fraction_done``)."""
        n = len(self.permutations)
        if self.curriculum == 0 or not self.training:
            return n
        grown = min(1.0, self.context.fraction_done / self.curriculum)
        return int(round(self.curriculum_start + grown * (n - self.curriculum_start)))

    def run_files(self) -> dict[str, str]:
        """Files the engine writes into the run folder: the permutation set, one permutation per line."""
        text = "\n".join(" ".join(str(int(v)) for v in p) for p in self.permutations.cpu())
        return {"permutations.txt": text + "\n"}


@TASKS.register("jigsaw")
class Jigsaw(PuzzleTask):
    """3x3 jigsaw: classify which of N max-Hamming permutations shuffled the tiles (Noroozi & Favaro 2016)."""

    def __init__(
        self,
        backbone: Backbone,
        num_permutations: int = 100,
        permutation_seed: int = 0,
        tile_fraction: float = 0.85,
        hidden: int = 512,
        curriculum: float = 0.0,
        curriculum_start: int = 10,
        align: int = 1,
    ) -> None:
        """tile_fraction: tile side / cell side (the rest of the cell is the gap and the jitter range);
        curriculum: the share of training over which puzzles grow from ``curriculum_start`` permutations to all
        (0: all from the start); align: cells are rounded down to a multiple of this many px, so a compression
        grid cannot tell where a tile was cut (16 px for JPEG; 1: off). On 64 px EuroSAT tiles 100 permutations
        stay at chance from scratch; 10 unaligned were solved from the JPEG grid, not the pictures (BENCHMARKS.md)."""
        super().__init__(
            backbone, num_permutations, permutation_seed, tile_fraction, hidden, curriculum, curriculum_start, align
        )

    def build_inputs(self, images: torch.Tensor, meta: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """images (B, C, S, S) -> shuffled, per-tile normalised tiles (B, 9, C, t, t) and labels (B,)."""
        _, shuffled, labels = self.puzzle(images)
        return normalize_tiles(shuffled), labels

    def forward(self, images: torch.Tensor, meta: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        tiles, labels = self.build_inputs(images, meta)
        return classify(self.head(self.embed_tiles(tiles).flatten(1)), labels)

    def examples(self, images: torch.Tensor, meta: dict[str, torch.Tensor]) -> tuple[list[torch.Tensor], list[str]]:
        """Per image: the shuffled puzzle as the net sees it, and the same tiles put back by the label."""
        tiles, labels = self.build_inputs(images, meta)
        panels, captions = [], []
        for shuffled, label in zip(tiles, labels.tolist()):
            perm = self.permutations[label]
            solved = torch.empty_like(shuffled)
            solved[perm] = shuffled
            panels += [tile_mosaic(shuffled), tile_mosaic(solved)]
            captions += [f"perm #{label}: {''.join(map(str, perm.tolist()))}", "solved by the label"]
        return panels, captions
