"""How close a trained GAN's samples sit to the training tiles, band by band, in units of each band's training std.

    python benchmarks/generated_bands.py runs/ms-pggan [--samples 256]

Prints, per band, the samples' mean distance from the training mean and their spread (both in training stds of that
band: normalised space, where the critic sees them), the share of sample pixels within 3 std, and the
sample-to-sample std (near 0: every sample alike, a collapsed generator). Uses the run's last checkpoint.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from ssl_toolkit.build import trained_task
from ssl_toolkit.data import Normalizer
from ssl_toolkit.errors import UserError


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path, help="a gan run folder (config.yaml, checkpoints/last.pt)")
    parser.add_argument("--samples", type=int, default=256)
    args = parser.parse_args()
    task, data = trained_task(args.run)
    cpu = torch.device("cpu")
    torch.manual_seed(0)
    with torch.no_grad():
        fakes = task.generate(args.samples, Normalizer.for_data(data, cpu).stats(), cpu)  # normalised
    means, spreads = fakes.mean(dim=(0, 2, 3)), fakes.std(dim=(0, 2, 3))
    for name, m, s in zip(data.band_labels, means.tolist(), spreads.tolist(), strict=True):
        print(f"{name:>8}: mean {m:+.2f} std from the training mean, spread {s:.2f} std")
    print(f"mean |band mean - training mean|: {means.abs().mean():.2f} std")
    print(f"sample pixels within 3 std of the training mean: {(fakes.abs() <= 3).float().mean():.3f}")
    print(f"sample-to-sample std (normalised): {fakes.std(dim=0).mean():.2f}")


if __name__ == "__main__":
    try:
        main()
    except UserError as e:  # a missing run folder, config or checkpoint: one line, like the CLI
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
