"""Does a patch task's pretext accuracy come from the pictures or from the pixel grid?

    python benchmarks/patch_shortcut.py runs/context-eurosat [--shifts 0 1 2 3 4 8] [--images 2000]

Shifts every held-out image by s px (s rows and columns cut at the top-left, the same number mirrored back at
the bottom-right) and measures the trained task's pretext accuracy on the shifted images, with the same patch
positions and labels at every shift. What the patches show barely changes; what changes is where each pixel sits
on the compression grid (a JPEG's 8 px blocks, its chroma stored at half resolution, 16 px in all). A task that
learned the pictures scores about the same at every shift; one that reads where on the grid each patch was cut
(and so where it sat: the 3x3 layout nearly fills a small tile, so position decides the label) drops at shifts
that break the grid's period and recovers at its multiples. Uses the run's last checkpoint and the run's own
held-out tiles (its validation tiles when it was trained with ``data.holdout=validation``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

from ssl_toolkit.build import trained_task
from ssl_toolkit.data import Normalizer
from ssl_toolkit.data.loader import iterate, sequential_order
from ssl_toolkit.errors import UserError


def shifted(images: torch.Tensor, s: int) -> torch.Tensor:
    """(B, C, H, W) moved up and left by ``s`` px, the last ``s`` rows and columns mirrored from the image."""
    if s == 0:
        return images
    return F.pad(images[:, :, s:, s:], (0, s, 0, s), mode="reflect")


def pretext_accuracy(task, batches: list[torch.Tensor], s: int, seed: int) -> float:
    """Mean pretext accuracy over ``batches`` (normalised images) shifted by ``s``; positions drawn from ``seed``."""
    torch.manual_seed(seed)
    hits = total = 0.0
    with torch.no_grad():
        for x in batches:
            out = task(shifted(x, s), {})
            acc = next(v for k, v in out.items() if k.endswith("acc"))
            hits, total = hits + float(acc) * len(x), total + len(x)
    return 100 * hits / total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path, help="a context or jigsaw run folder (config.yaml, checkpoints/last.pt)")
    parser.add_argument("--shifts", type=int, nargs="+", default=[0, 1, 2, 3, 4, 8])
    parser.add_argument("--images", type=int, default=2000, help="held-out images to measure on")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    task, data = trained_task(args.run)
    split = data.test.sample(args.images, seed=args.seed)
    normalise = Normalizer.for_data(data, torch.device("cpu"))
    batches = [normalise(images) for images, _ in iterate(split, sequential_order(len(split), 256))]
    side = batches[0].shape[-1]
    if max(args.shifts) >= side // 2:
        raise UserError(f"--shifts must stay below half the image side ({side} px), got {max(args.shifts)}")
    print(f"{type(task).__name__} on {len(split)} held-out images of {side} px ({args.run})")
    for s in args.shifts:
        print(f"shift {s:2d} px: pretext accuracy {pretext_accuracy(task, batches, s, args.seed):5.1f}%")


if __name__ == "__main__":
    try:
        main()
    except UserError as e:  # a missing run folder, config or checkpoint: one line, like the CLI
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
