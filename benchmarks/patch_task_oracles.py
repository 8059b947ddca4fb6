"""How solvable are context prediction and the jigsaw on a dataset's tiles? A boundary-matching oracle, no learning.

The oracle sees exactly the inputs the task builds (the same patches, gaps, jitter and per-tile normalisation) and
picks the answer whose facing edges match best: for context, the neighbour offset whose facing edges of the two
patches differ least; for the jigsaw, the permutation of the task's set whose 12 facing tile edges differ least.
Its accuracy, set beside chance and 5x chance, says how much of a puzzle the pixels at the edges give away on
these images: a learned net may do better (texture running across the gap), but a puzzle whose oracle sits near
chance gives a net little to learn from. Run on the training tiles only (never the test split).

``--learn-steps N`` then trains each task as the toolkit builds it (ResNet-18 with ``--stem``, the task's own
forward and head, AdamW lr 1e-3, batches of 64 drawn from the first 16,000 training tiles) for N steps and
prints its training accuracy over the last 100: whether a net finds in that many steps what the oracle finds.

    python benchmarks/patch_task_oracles.py --data eurosat-rgb --images 2000
    python benchmarks/patch_task_oracles.py --images 2000 --learn-steps 600
"""

from __future__ import annotations

import argparse

import torch

from pretext.context import OFFSETS, ContextPrediction
from pretext.jigsaw import GRID, Jigsaw
from pretext.patches import normalize_tiles
from ssl_toolkit.backbones import create_backbone
from ssl_toolkit.backbones.base import Backbone
from ssl_toolkit.data import load_data


class NoBackbone(Backbone):
    """The tasks need a backbone to be built; the oracle never calls it."""

    num_features, in_chans, name = 1, 3, "none"


def edge_gap(a: torch.Tensor, b: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """Mean absolute difference of the facing edges of patches a and b (..., C, t, t), b at offset (dy, dx) of a
    (each -1, 0 or 1, not both 0); a diagonal offset averages its two corner-adjacent edges."""
    parts = []
    if dx:
        parts.append((a[..., :, -1] - b[..., :, 0]) if dx == 1 else (a[..., :, 0] - b[..., :, -1]))
    if dy:
        parts.append((a[..., -1, :] - b[..., 0, :]) if dy == 1 else (a[..., 0, :] - b[..., -1, :]))
    return torch.stack([p.abs().mean(dim=(-2, -1)) for p in parts]).mean(0)


def context_oracle(images: torch.Tensor, gap_fraction: float, jitter_fraction: float) -> float:
    task = ContextPrediction(NoBackbone(), gap_fraction=gap_fraction, jitter_fraction=jitter_fraction)
    patches, labels = task.build_inputs(images, {})
    centre, neighbour = patches[:, 0], patches[:, 1]
    costs = torch.stack([edge_gap(centre, neighbour, dy, dx) for dy, dx in OFFSETS], dim=1)
    return float((costs.argmin(1) == labels).float().mean())


def jigsaw_oracle(images: torch.Tensor, tile_fraction: float, num_permutations: int) -> float:
    task = Jigsaw(NoBackbone(), num_permutations=num_permutations, tile_fraction=tile_fraction)
    _, shuffled, labels = task.puzzle(images)
    tiles = normalize_tiles(shuffled)  # (B, 9, C, t, t) as the net sees them
    # cost of tile i sitting left of tile j, and above it: (B, 9, 9)
    right = edge_gap(tiles.unsqueeze(2), tiles.unsqueeze(1), 0, 1)
    below = edge_gap(tiles.unsqueeze(2), tiles.unsqueeze(1), 1, 0)
    perms = task.permutations  # perms[p, i]: the cell whose tile sits at shuffled position i
    where = torch.argsort(perms, dim=1)  # where[p, k]: the shuffled position holding cell k's tile
    pairs_h = [(k, k + 1) for k in range(GRID * GRID) if k % GRID < GRID - 1]
    pairs_v = [(k, k + GRID) for k in range(GRID * GRID - GRID)]
    b = torch.arange(tiles.shape[0]).view(-1, 1)
    cost = torch.zeros(tiles.shape[0], len(perms))
    for grid_cost, pairs in ((right, pairs_h), (below, pairs_v)):
        for k, m in pairs:
            cost += grid_cost[b, where[:, k].view(1, -1), where[:, m].view(1, -1)]
    return float((cost.argmin(1) == labels).float().mean())


def learn(task_name: str, tiles: torch.Tensor, stem: str, steps: int, **task_keys) -> float:
    """Train the task on normalised tiles for ``steps`` steps; its mean training accuracy over the last 100."""
    torch.manual_seed(0)
    backbone = create_backbone("resnet18", tiles.shape[1], stem=stem)
    task = (ContextPrediction if task_name == "context" else Jigsaw)(backbone, **task_keys)
    opt = torch.optim.AdamW(task.parameters(), 1e-3, weight_decay=1e-4)
    accs = []
    for _ in range(steps):
        out = task(tiles[torch.randint(0, len(tiles), (64,))], {})
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
        accs.append(float(out["acc"]))
    return sum(accs[-100:]) / len(accs[-100:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="eurosat-rgb")
    parser.add_argument("--images", type=int, default=2000, help="training tiles to score (the first N)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--learn-steps", type=int, default=0, help="also train each task this many steps")
    parser.add_argument("--stem", default="default", help="backbone.stem of the trained ResNet-18")
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    images = load_data(args.data).train.images[: args.images].float() / 255
    side = images.shape[-1]
    print(f"{args.data}: {len(images)} training tiles of {side} px; oracle accuracy (%) against chance and 5x chance")
    print("| task | setting | oracle | chance | 5x chance |")
    print("|---|---|---|---|---|")
    for gap, jitter in ((0.0625, 0.03), (0.0, 0.0)):
        acc = context_oracle(images, gap, jitter)
        print(f"| context | gap_fraction={gap}, jitter_fraction={jitter} | {100 * acc:.1f} | 12.5 | 62.5 |")
    for tile_fraction in (0.85, 1.0):
        acc = jigsaw_oracle(images, tile_fraction, 100)
        setting = f"tile_fraction={tile_fraction}, 100 permutations"
        print(f"| jigsaw | {setting} | {100 * acc:.1f} | 1.0 | 5.0 |", flush=True)
    if args.learn_steps:
        pool = load_data(args.data).train.images[:16000].float() / 255
        mean, std = pool.mean(dim=(0, 2, 3), keepdim=True), pool.std(dim=(0, 2, 3), keepdim=True)
        pool = (pool - mean) / std
        print(f"ResNet-18 ({args.stem} stem) trained {args.learn_steps} steps: training accuracy (%) over the last 100")
        for name, keys in (
            ("context", {"gap_fraction": 0.0625, "jitter_fraction": 0.03}),
            ("context", {"gap_fraction": 0.0, "jitter_fraction": 0.0}),
            ("jigsaw", {"tile_fraction": 0.85}),
            ("jigsaw", {"tile_fraction": 1.0}),
        ):
            acc = learn(name, pool, args.stem, args.learn_steps, **keys)
            print(
                f"| {name} | {', '.join(f'{k}={v}' for k, v in keys.items())} | learned {100 * acc:.1f} |", flush=True
            )


if __name__ == "__main__":
    main()
