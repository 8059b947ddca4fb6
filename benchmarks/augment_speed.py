"""Views for joint-embedding learners: what they cost, ours against the usual ways, in one run.

1. Two SimCLR views (64 px crops, flip, colour jitter, grayscale) of EuroSAT RGB tiles per second:
   - ours: ``pretext.augment`` on the batch, on the training device, fresh parameters per image;
   - torchvision v2 applied per sample in DataLoader workers (the way lightly and solo-learn build views), with
     as many workers as cores;
   - kornia's batched ``AugmentationSequential`` (``same_on_batch=False``), when kornia is installed (only in the
     benchmark environment: ``python3 -m venv .venv-bench && .venv-bench/bin/pip install -e . lightly kornia``).
2. Building the views as a share of SimCLR's training step (ResNet-18, batch 64).
3. Each joint-embedding learner's full step against a plain step of the backbone (linear head, cross-entropy)
   on inputs of the sizes of its views (2B global, DINO's local views too, MAE's one view): what the learner
   adds (momentum targets, heads, losses) on top of training the backbone on its views (aim >= 0.85x).

    .venv/bin/python benchmarks/augment_speed.py [--batch 256] [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch
from torch import nn


def median_seconds(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def eurosat_tiles(n: int) -> torch.Tensor:
    from ssl_toolkit.data import DataOptions, load_data

    data = load_data("eurosat-rgb", DataOptions(subset=n))
    return data.train.images[:n], data


def ours(images: torch.Tensor, data, repeats: int) -> float:
    from pretext.augment import Augment, Views
    from ssl_toolkit.data import Normalizer

    normalize = Normalizer.for_data(data, torch.device("cpu"))
    x = normalize(images)
    meta = {"pixel_mean": normalize.mean, "pixel_std": normalize.std}
    specs = [Views().spec(64), Views().spec(64)]
    augment = Augment(rgb=True)
    return len(images) / median_seconds(lambda: augment(x, meta, specs), repeats)


class PerSample(torch.utils.data.Dataset):
    def __init__(self, images: torch.Tensor) -> None:
        from torchvision.transforms import v2

        self.images = images
        self.transform = v2.Compose(
            [
                v2.RandomResizedCrop(64, scale=(0.08, 1.0), antialias=True),
                v2.RandomHorizontalFlip(),
                v2.RandomApply([v2.ColorJitter(0.8, 0.8, 0.8, 0.2)], p=0.8),
                v2.RandomGrayscale(p=0.2),
                v2.ToDtype(torch.float32, scale=True),
            ]
        )

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        return self.transform(self.images[i]), self.transform(self.images[i])


def torchvision_per_sample(images: torch.Tensor, batch: int, repeats: int) -> float:
    workers = len(os.sched_getaffinity(0))
    loader = torch.utils.data.DataLoader(
        PerSample(images), batch_size=batch, num_workers=workers, persistent_workers=True
    )

    def one_pass() -> None:
        for _ in loader:
            pass

    return len(images) / median_seconds(one_pass, repeats)


def kornia_batched(images: torch.Tensor, repeats: int) -> float | None:
    try:
        import kornia.augmentation as K
    except ImportError:
        return None
    pipeline = K.AugmentationSequential(
        K.RandomResizedCrop((64, 64), scale=(0.08, 1.0)),
        K.RandomHorizontalFlip(),
        K.ColorJitter(0.8, 0.8, 0.8, 0.2, p=0.8),
        K.RandomGrayscale(p=0.2),
        same_on_batch=False,
    )
    x = images.float() / 255
    return len(images) / median_seconds(lambda: (pipeline(x), pipeline(x)), repeats)


def learner_step(name: str, data, repeats: int) -> tuple[float, float]:
    """(the learner's full training step, a plain backbone step on inputs of its views' sizes), in seconds, at
    batch 64 with the learner's recipe (ResNet-18; MAE's ViT-Tiny)."""
    from ssl_toolkit.build import build_backbone, build_task, resolve_config
    from ssl_toolkit.data import Normalizer
    from ssl_toolkit.engine.optim import build_optimizer
    from ssl_toolkit.engine.settings import TrainSettings
    from ssl_toolkit.engine.step import StepContext

    device = torch.device("cpu")
    normalize = Normalizer.for_data(data, device)
    images = normalize(data.train.images[:64])
    meta = {"pixel_mean": normalize.mean, "pixel_std": normalize.std, "label": data.train.labels[:64]}
    torch.manual_seed(0)
    config = resolve_config({}, [("task.name", name), ("data.name", "eurosat-rgb"), ("train.batch_size", 64)])
    s = TrainSettings.from_config(config)
    task = build_task(config, data)
    optimizers = {
        g: build_optimizer(s.optimizer, p, s.lr, s.weight_decay, s.momentum, s.decay_norms_and_biases)
        for g, p in task.optimizer_groups().items()
    }
    ctx = StepContext(task, optimizers, device)
    task.train()

    def step() -> None:
        ctx.global_step += 1  # fresh views every step, as in training
        task.training_step(images, meta, ctx)
        with torch.no_grad():
            task.after_step(ctx)

    full = median_seconds(step, repeats)
    backbone = build_backbone(config["backbone"], data)
    model = nn.Sequential(backbone, nn.Linear(backbone.num_features, 10))
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    inputs = [images[:, :, : v.size, : v.size] for v in task.view_specs(images)]  # its views' sizes
    labels = [torch.randint(0, 10, (len(x),)) for x in inputs]

    def plain() -> None:
        opt.zero_grad()
        sum(nn.functional.cross_entropy(model(x), y) for x, y in zip(inputs, labels)).backward()
        opt.step()

    return full, median_seconds(plain, repeats)


LEARNERS = ("simclr", "moco", "byol", "barlow_twins", "vicreg", "dino", "mae")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.manual_seed(0)
    images, data = eurosat_tiles(max(args.batch, 1024))
    batch = images[: args.batch]
    threads = torch.get_num_threads()
    print(f"1) two SimCLR views of {len(batch)} EuroSAT RGB tiles (64 px), images per second, {threads} threads")
    a = ours(batch, data, args.repeats)
    b = torchvision_per_sample(images, args.batch, max(1, args.repeats // 2))
    c = kornia_batched(batch, args.repeats)
    print(f"   ours (batched, per-image parameters)          {a:10.0f}   1.00x")
    print(
        f"   torchvision v2 per sample, {len(os.sched_getaffinity(0))} loader workers   {b:10.0f}   ours {a / b:.2f}x"
    )
    if c is None:
        print("   kornia: not installed here (see the docstring)")
    else:
        print(f"   kornia AugmentationSequential (batched)      {c:10.0f}   ours {a / c:.2f}x")
    steps = {name: learner_step(name, data, args.repeats) for name in LEARNERS}
    print(f"\n2) views of a batch of 64 as a share of SimCLR's training step: {64 / a / steps['simclr'][0]:.1%}")
    print("\n3) each learner's full step against a plain backbone step on its view inputs (batch 64, ResNet-18)")
    for name, (full, plain) in steps.items():
        print(f"   {name:<14} step {full * 1000:7.0f} ms   plain {plain * 1000:7.0f} ms   {plain / full:.2f}x")


if __name__ == "__main__":
    main()
