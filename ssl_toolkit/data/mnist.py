"""MNIST, built in and offline: the four gzip idx files ship inside the package (about 11 MB)."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import torch

from ssl_toolkit.data.splits import Catalog, TensorImages
from ssl_toolkit.errors import UserError

PACKAGED = Path(__file__).parent / "mnist_files"
# Mean and std of the training pixels in [0, 1], as in the PyTorch MNIST example.
MNIST_MEAN, MNIST_STD = (0.1307,), (0.3081,)


def read_idx(path: Path) -> np.ndarray:
    """Read an idx file (gzip or raw): big-endian dims after a magic number whose third byte is the type."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as e:
        raise UserError(f"{path}: cannot read idx file ({e})") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise UserError(f"{path}: not an unsigned-byte idx file (bad magic number)")
    ndim = data[3]
    dims = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(dims)):
        raise UserError(f"{path}: idx header says {dims} but the file holds {body.size} values (truncated?)")
    return body.reshape(dims)


def _find(folder: Path, stem: str) -> Path:
    for name in (f"{stem}.gz", stem):
        if (folder / name).is_file():
            return folder / name
    raise UserError(f"{folder}: missing MNIST file {stem}(.gz)")


def mnist_catalog(folder: Path = PACKAGED) -> Catalog:
    """MNIST from a folder of idx files (default: the copy shipped with the package); 60,000 train, 10,000 test."""

    def read(prefix: str) -> tuple[torch.Tensor, torch.Tensor]:
        images = read_idx(_find(folder, f"{prefix}-images-idx3-ubyte"))
        labels = read_idx(_find(folder, f"{prefix}-labels-idx1-ubyte"))
        return torch.from_numpy(images.copy()).unsqueeze(1), torch.from_numpy(labels.astype(np.int64))

    (train_x, train_y), (test_x, test_y) = read("train"), read("t10k")
    n = len(train_x)
    return Catalog(
        name="mnist",
        samples=TensorImages(torch.cat([train_x, test_x]), torch.cat([train_y, test_y])),
        class_names=tuple(str(i) for i in range(10)),
        in_chans=1,
        img_size=28,
        stats=lambda split: (MNIST_MEAN, MNIST_STD),
        predefined=(range(n), range(n, n + len(test_x))),
    )
