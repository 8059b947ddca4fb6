"""EuroSAT RGB: the generative learners at one CPU budget, each probed (linear and kNN) against the random-init
ResNet-18, with sample quality by the EuroSAT judge.

The rows of ``benchmarks/mnist_generative.py --wave 2`` that apply to 64 px tiles, with the settings that change
with the data: progressive growing runs 4 -> 8 -> 16 -> 32 -> 64 px (the image size halved while even and >= 4
px); pix2pix colorizes (colour from grey, its ``auto`` choice on colour data) as the paper's encoder-decoder
(``task.skips=false``: the U-Net's trunk features go dead on MNIST). ``--wave 2`` runs the rest: completion and
CycleGAN as encoder-decoders (CycleGAN between regions, ``task.domains=regions``: north against south of the
training tiles' median latitude, 48.8 degrees N), AdaGAN, the progressive StyleGAN-style generator and pix2pix's
U-Net (the learners that collapse or go dead on MNIST, ``mnist_generative.py --wave 2``). Every run pretrains a
timm ResNet-18 (ImageNet stem, as the EuroSAT suites) for ``--minutes`` (``train.minutes``: whole epochs of the
21,600 training tiles of the random split, 64 a step, at least one); the probes use the same split (21,600 /
5,400). Quality: classes covered, class KL and Frechet distance in the
features of the judge trained on EuroSAT's training split, on 1,000 samples.

    python benchmarks/eurosat_generative.py --minutes 5 --out runs/eurosat-generative
    python benchmarks/eurosat_generative.py --wave 2 --minutes 5 --out runs/eurosat-generative
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from mnist_generative import GAN, measure, write_results  # noqa: E402

SETUP = ["--data", "eurosat-rgb", "--backbone", "resnet18"]
# each transition is stage_images at the old resolution, then fade_images fading the new one in: four
# transitions of 4,000 images reach 64 px after 16,000 images, about three quarters of five CPU minutes
GROWING = ["task.progressive=true", "task.stage_images=2000", "task.fade_images=2000"]
ROWS = {
    "DCGAN, non-saturating loss (plain)": GAN,
    "DCGAN, minimax loss (plain)": [*GAN, "task.objective=minimax"],
    "progressive growing 4->64 px (pggan)": [*GAN, "task.generator=pggan", *GROWING],
    "pix2pix without skips (colour from grey, encoder-decoder)": [
        "--task",
        "pix2pix",
        "task.translation=colorize",
        "task.skips=false",
    ],
}
# the rest of the second wave, run with --wave 2
SECOND_WAVE = {
    "completion encoder-decoder (global + local discriminators)": ["--task", "completion", "task.skips=false"],
    "CycleGAN encoder-decoder (north <-> south of 48.8 N)": [
        "--task",
        "cyclegan",
        "task.domains=regions",
        "task.skips=false",
    ],
    "AdaGAN, 3 minimax DCGANs": [*GAN[:1], "adagan", *GAN[2:], "task.objective=minimax", "task.components=3"],
    "StyleGAN mapping network, progressive": [*GAN, "task.generator=style", *GROWING],
    "pix2pix U-Net (colour from grey)": ["--task", "pix2pix", "task.translation=colorize"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="runs/eurosat-generative")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1])
    parser.add_argument("--minutes", type=float, default=5.0, help="pretraining budget per run (train.minutes)")
    parser.add_argument("--only", help="run only the rows whose name contains this text, e.g. pggan")
    parser.add_argument("--wave", type=int, choices=(1, 2), default=1, help="2: the learners first left out")
    args = parser.parse_args()
    table_rows = SECOND_WAVE if args.wave == 2 else ROWS
    rows = {name: flags for name, flags in table_rows.items() if args.only is None or args.only in name}
    out, log = Path(args.out), []
    budget = [f"train.minutes={args.minutes:g}", "train.online_probe=false"]
    table = measure(rows, budget, SETUP, out, args.seeds, log)
    write_results(table, "resnet18, EuroSAT RGB", args.seeds, out, log)


if __name__ == "__main__":
    main()
