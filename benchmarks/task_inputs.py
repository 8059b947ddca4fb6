"""What building task inputs costs, next to what the backbone costs, and our jigsaw against lightly's.

1. For each registered task: time to build the task inputs for a batch of 256 images (on the training device,
   batched), divided by the time of the backbone's forward+backward on those inputs (aim: under 2%).
2. Jigsaw puzzles per second: our batched builder against lightly's per-sample ``Jigsaw`` transform, on the same
   decoded EuroSAT RGB images (64x64), like for like: 3x3 grid, 18 px tiles at a random place in each cell, each
   tile normalised on its own, a shuffle. lightly is installed only in the benchmark's environment:

    python3 -m venv .venv-bench && .venv-bench/bin/pip install -e . lightly
    .venv-bench/bin/python benchmarks/task_inputs.py

Without lightly, part 2 is skipped with a note. Without EuroSAT on disk, random images stand in for part 1.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from ssl_toolkit.backbones import create_backbone
from ssl_toolkit.data import Normalizer
from ssl_toolkit.errors import UserError
from ssl_toolkit.registry import TASKS


def median_time(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def eurosat_uint8(n: int) -> torch.Tensor:
    try:
        from ssl_toolkit.data.eurosat import load_eurosat_rgb

        return load_eurosat_rgb().train.images[:n]
    except UserError as e:
        print(f"(EuroSAT RGB not found: {e}; using random images)")
        return torch.randint(0, 256, (n, 3, 64, 64), dtype=torch.uint8)


def flatten_inputs(built) -> torch.Tensor:
    if isinstance(built, dict):
        return built["tiles"].flatten(0, 1)
    x = built[0]
    return x.flatten(0, 1) if x.ndim == 5 else x


def part_one(images: torch.Tensor, backbone_name: str, repeats: int, device: torch.device) -> None:
    print(f"\n1) input building vs backbone forward+backward, batch {len(images)}, {backbone_name}, {device}")
    print(f"{'task':<16}{'build ms':>10}{'fwd+bwd ms':>12}{'ratio':>9}")
    normalize = Normalizer((0.5, 0.5, 0.5), (0.25, 0.25, 0.25), device)
    x = normalize(images.to(device))
    meta = {
        "pixel_mean": torch.full((1, 3, 1, 1), 0.5, device=device),
        "pixel_std": torch.full((1, 3, 1, 1), 0.25, device=device),
    }
    for name in TASKS.names():
        backbone = create_backbone(backbone_name, in_chans=3).to(device)
        task = TASKS.get(name)(backbone).to(device)
        with torch.no_grad():
            inputs = flatten_inputs(task.build_inputs(x, meta))

        def build(task=task) -> None:
            with torch.no_grad():
                task.build_inputs(x, meta)

        def fwd_bwd(backbone=backbone, inputs=inputs) -> None:
            backbone(inputs).float().sum().backward()

        tb, tf = median_time(build, repeats), median_time(fwd_bwd, max(1, repeats // 3))
        print(f"{name:<16}{tb * 1e3:>10.2f}{tf * 1e3:>12.1f}{100 * tb / tf:>8.2f}%")


def part_two(images: torch.Tensor, repeats: int) -> None:
    print(f"\n2) jigsaw puzzles per second on {len(images)} decoded 64x64 EuroSAT images, CPU")
    task = TASKS.get("jigsaw")(create_backbone("mnist_net", 3, 64))

    def ours() -> None:  # from the same decoded uint8 pixels: conversion to float included, as ToTensor is there
        with torch.no_grad():
            task.build_inputs(images.float() / 255, {})

    ours_s = median_time(ours, repeats)
    ours_rate = len(images) / ours_s
    print(f"ssl-toolkit (batched)      {ours_rate:>12,.0f} puzzles/s")
    try:
        from lightly.transforms.jigsaw import Jigsaw as LightlyJigsaw
    except ImportError:
        print("lightly is not installed here; install it in a separate environment to compare (see the docstring)")
        return
    from PIL import Image
    from torchvision import transforms as T

    def per_tile_norm(t: torch.Tensor) -> torch.Tensor:
        return (t - t.mean(dim=(1, 2), keepdim=True)) / (t.std(dim=(1, 2), keepdim=True) + 1e-5)

    theirs_tf = LightlyJigsaw(n_grid=3, img_size=64, crop_size=18, transform=T.Compose([T.ToTensor(), per_tile_norm]))
    pil = [Image.fromarray(im.permute(1, 2, 0).numpy()) for im in images]

    def theirs() -> None:
        for im in pil:
            theirs_tf(im)

    theirs_s = median_time(theirs, max(1, repeats // 5))
    theirs_rate = len(images) / theirs_s
    print(f"lightly Jigsaw (per sample){theirs_rate:>12,.0f} puzzles/s")
    print(f"speed-up: {ours_rate / theirs_rate:.1f}x  (aim: >= 20x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--backbone", default="resnet18")
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    images = eurosat_uint8(args.batch)
    part_one(images, args.backbone, args.repeats, device)
    part_two(images, args.repeats)


if __name__ == "__main__":
    main()
