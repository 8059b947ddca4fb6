"""Datasets by name or path: ``mnist`` (built in), ``eurosat-rgb``, or a folder of images ``ROOT/<class>/<image>``."""

from __future__ import annotations

from pathlib import Path

from ssl_toolkit.data.image_folder import load_image_folder
from ssl_toolkit.data.loader import Normalizer, epoch_order, iterate, sequential_order
from ssl_toolkit.data.mnist import load_mnist
from ssl_toolkit.data.splits import DataSource, TensorImages
from ssl_toolkit.errors import UserError

BUILTIN = ("mnist", "eurosat-rgb")

__all__ = ["DataSource", "Normalizer", "TensorImages", "epoch_order", "iterate", "load_data", "sequential_order"]


def load_data(
    name: str, *, subset: int | None = None, image_size: int | None = None, test_fraction: float = 0.2
) -> DataSource:
    """Resolve a built-in dataset name or a folder path; ``subset`` keeps the first N of each split."""
    if name == "mnist":
        source = load_mnist()
    elif name == "eurosat-rgb":
        from ssl_toolkit.data.eurosat import load_eurosat_rgb

        source = load_eurosat_rgb()
    else:
        path = Path(name).expanduser()
        if not path.exists():
            raise UserError(f"data '{name}': not a built-in dataset ({', '.join(BUILTIN)}) and no such path")
        if not path.is_dir():
            raise UserError(f"data '{name}': expected a folder of images ROOT/<class>/<image>, got a file")
        source = load_image_folder(path, image_size, test_fraction)
    if subset is not None:
        if subset <= 0:
            raise UserError(f"data.subset must be positive, got {subset}")
        source.train = _head(source.train, subset)
        source.test = _head(source.test, subset)
    return source


def _head(split, n: int):
    if isinstance(split, TensorImages):
        return split.subset(n)
    from torch.utils.data import Subset

    return Subset(split, list(range(min(n, len(split)))))
