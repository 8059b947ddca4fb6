"""SimCLR side by side with lightly's: wall time and linear probe accuracy on the same EuroSAT RGB subset, with the
same backbone (timm ResNet-18), epochs, batch and views, in one run.

- lightly: its SimCLR example recipe (``lightly.transforms.SimCLRTransform`` applied per sample in DataLoader
  workers, ``SimCLRProjectionHead``, ``NTXentLoss``, SGD lr 0.06), with the views of 64 px tiles
  (``input_size=64``, no blur, as ours at 64 px) and EuroSAT's own normalisation.
- ours: ``ssl pretrain --task simclr`` with the same epochs, batch, temperature, projector and SGD lr 0.06, so
  the two differ in how they are built, not in the recipe.

Both backbones are then measured by the toolkit's linear probe on the whole random split (21,600 / 5,400).
lightly is installed only in the benchmark environment:

    python3 -m venv .venv-bench && .venv-bench/bin/pip install -e . lightly kornia
    .venv-bench/bin/python benchmarks/lightly_simclr.py [--subset 5000] [--epochs 2] [--batch 128]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import nn


def lightly_run(subset: int, epochs: int, batch: int, temperature: float, seed: int):
    from lightly.loss import NTXentLoss
    from lightly.models.modules import SimCLRProjectionHead
    from lightly.transforms.simclr_transform import SimCLRTransform
    from torchvision.transforms.functional import to_pil_image

    from ssl_toolkit.backbones import create_backbone
    from ssl_toolkit.data import DataOptions, load_data

    data = load_data("eurosat-rgb", DataOptions(subset=subset))
    transform = SimCLRTransform(
        input_size=64, gaussian_blur=0.0, normalize={"mean": list(data.mean), "std": list(data.std)}
    )

    class Views(torch.utils.data.Dataset):
        def __len__(self) -> int:
            return len(data.train)

        def __getitem__(self, i: int):
            return transform(to_pil_image(data.train.images[i]))

    torch.manual_seed(seed)
    backbone = create_backbone("resnet18", 3)
    head = SimCLRProjectionHead(backbone.num_features, 2048, 128)
    model = nn.Sequential(backbone, head)
    criterion = NTXentLoss(temperature=temperature)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.06)
    loader = torch.utils.data.DataLoader(Views(), batch_size=batch, shuffle=True, drop_last=True, num_workers=2)
    t0 = time.perf_counter()
    for _ in range(epochs):
        for x0, x1 in loader:
            loss = criterion(model(x0), model(x1))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return backbone, time.perf_counter() - t0


def ours_run(subset: int, epochs: int, batch: int, temperature: float, seed: int, out: Path) -> float:
    args = ["pretrain", "--task", "simclr", "--data", "eurosat-rgb", "--backbone", "resnet18", "--out", str(out)]
    args += ["--epochs", str(epochs), "--batch-size", str(batch), "--seed", str(seed), f"data.subset={subset}"]
    args += [f"task.temperature={temperature}", "optim.name=sgd", "optim.lr=0.06", "optim.momentum=0.0"]
    args += ["optim.weight_decay=0.0", "schedule.name=constant", "train.online_probe=false"]
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "ssl_toolkit.cli", *args], check=True)
    record = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    train_s = max(r.get("elapsed_s", 0) for r in record)
    print(f"ours: whole command {time.perf_counter() - t0:.0f} s (data, build, training {train_s:.0f} s)")
    return train_s


def probe(backbone: nn.Module) -> float:
    from probes.linear import LinearProbe
    from ssl_toolkit.data import load_data

    return LinearProbe(cache=False).run(backbone, load_data("eurosat-rgb"), torch.device("cpu"), seed=1)["accuracy"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subset", type=int, default=5000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--temperature", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    from ssl_toolkit.data import DataOptions, load_data
    from ssl_toolkit.runs import Run

    load_data("eurosat-rgb", DataOptions(subset=args.subset))  # decode once, before either is timed
    lightly_backbone, lightly_s = lightly_run(args.subset, args.epochs, args.batch, args.temperature, args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        ours_s = ours_run(args.subset, args.epochs, args.batch, args.temperature, args.seed, Path(tmp) / "run")
        ours_backbone = Run(Path(tmp) / "run").load_backbone(load_data("eurosat-rgb"))
    lightly_acc, ours_acc = probe(lightly_backbone), probe(ours_backbone)
    print(f"\nSimCLR, ResNet-18, {args.epochs} epochs of {args.subset} EuroSAT RGB tiles, batch {args.batch}")
    print("| | training s | linear probe % |")
    print("|---|---|---|")
    print(f"| lightly {__import__('lightly').__version__} (its example recipe) | {lightly_s:.0f} | {lightly_acc:.2f} |")
    print(f"| ours (`ssl pretrain --task simclr`) | {ours_s:.0f} | {ours_acc:.2f} |")
    print(f"speed: ours {lightly_s / ours_s:.2f}x lightly's")


if __name__ == "__main__":
    main()
