"""What many tests need: a tiny pretraining run made through the CLI, a small in-memory dataset, and a bitwise
comparison of weights."""

from __future__ import annotations

from pathlib import Path

import torch

from ssl_toolkit.data import DataSource, TensorImages

# a tiny MNIST run: 200 images, batches of 32 (7 steps an epoch)
TINY_RUN = ("data.subset=200", "train.batch_size=32")


def pretrain_tiny(ssl, out: Path, *extra: object, task: str = "rotation", max_steps: int | None = 2) -> Path:
    """``ssl pretrain --task TASK --out OUT`` on 200 MNIST images (capped at ``max_steps``); asserts success."""
    cap = ("--max-steps", max_steps) if max_steps is not None else ()
    code, _, err = ssl("pretrain", "--task", task, "--out", out, *cap, *TINY_RUN, *extra)
    assert code == 0, err
    return out


def state_equal(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    """True when two state dicts have the same names and bit-identical tensors."""
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def geotagged_mnist_like(n: int = 150) -> DataSource:
    """Random 1x28x28 images with labels and random coordinates all over the globe."""
    g = torch.Generator().manual_seed(0)
    coords = torch.stack([torch.rand(n, generator=g) * 180 - 90, torch.rand(n, generator=g) * 360 - 180], dim=1)
    split = TensorImages(
        torch.randint(0, 256, (n, 1, 28, 28), dtype=torch.uint8, generator=g),
        torch.randint(0, 10, (n,), generator=g),
        coords.double(),
        [f"tile{i}" for i in range(n)],
    )
    return DataSource("random", split, split, (0.5,), (0.25,), 1, 28, 10, tuple("0123456789"))
