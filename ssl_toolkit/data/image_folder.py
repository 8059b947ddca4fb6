"""Any folder of images laid out as ``ROOT/<class>/<image>`` (torchvision ``ImageFolder``).

Images are read as RGB (torchvision's default loader converts every mode, greyscale included, to RGB).

If ROOT has ``train/`` and ``test/`` subfolders they are the splits; otherwise a stratified split with a fixed
seed (independent of the training seed, so pretraining and probing agree on it) holds out the test images.
"""

from __future__ import annotations

from pathlib import Path

import torch
from sklearn.model_selection import train_test_split
from torch.utils.data import Dataset, Subset
from torchvision import datasets, transforms

from ssl_toolkit.data.splits import DataSource
from ssl_toolkit.errors import UserError


class _Uint8Folder(Dataset):
    """ImageFolder yielding (uint8 C x H x W tensor, label)."""

    def __init__(self, root: Path, image_size: int | None) -> None:
        steps: list = [transforms.Resize(image_size), transforms.CenterCrop(image_size)] if image_size else []
        steps.append(transforms.PILToTensor())
        try:
            self.folder = datasets.ImageFolder(str(root), transform=transforms.Compose(steps))
        except (FileNotFoundError, RuntimeError) as e:
            raise UserError(f"{root}: not an image folder of the form ROOT/<class>/<image> ({e})") from None
        self.targets = self.folder.targets
        self.classes = self.folder.classes

    def __len__(self) -> int:
        return len(self.folder)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        try:
            image, label = self.folder[i]
        except (OSError, ValueError) as e:
            raise UserError(f"{self.folder.samples[i][0]}: cannot read image ({e})") from None
        return image, label


def _channel_stats(ds: Dataset, n: int = 512) -> tuple[tuple[float, ...], tuple[float, ...], int, int]:
    g = torch.Generator().manual_seed(0)
    idx = torch.randperm(len(ds), generator=g)[:n].tolist()
    imgs = [ds[i][0] for i in idx]
    shapes = {tuple(im.shape) for im in imgs}
    if len(shapes) > 1:
        raise UserError(f"images differ in size {sorted(shapes)[:3]}...; set data.image_size to resize them")
    x = torch.stack(imgs).float() / 255
    c, h, w = imgs[0].shape
    mean = x.mean(dim=(0, 2, 3)).tolist()
    std = x.std(dim=(0, 2, 3)).clamp_min(1e-6).tolist()
    return tuple(mean), tuple(std), c, h


def load_image_folder(root: Path, image_size: int | None, test_fraction: float, split_seed: int = 0) -> DataSource:
    if (root / "train").is_dir() and (root / "test").is_dir():
        train: Dataset = _Uint8Folder(root / "train", image_size)
        test: Dataset = _Uint8Folder(root / "test", image_size)
        classes = train.classes  # type: ignore[attr-defined]
        if test.classes != classes:  # type: ignore[attr-defined]
            raise UserError(f"{root}: train/ and test/ hold different class folders ({classes} vs {test.classes})")
    else:
        full = _Uint8Folder(root, image_size)
        if not 0 < test_fraction < 1:
            raise UserError(f"data.test_fraction must be in (0, 1), got {test_fraction}")
        indices = list(range(len(full)))
        try:
            train_idx, test_idx = train_test_split(
                indices, test_size=test_fraction, random_state=split_seed, stratify=full.targets
            )
        except ValueError as e:
            raise UserError(f"{root}: cannot split {len(full)} images into train and test by class ({e})") from None
        train, test, classes = Subset(full, train_idx), Subset(full, test_idx), full.classes
    mean, std, chans, size = _channel_stats(train)
    return DataSource(
        name=str(root),
        train=train,
        test=test,
        mean=mean,
        std=std,
        in_chans=chans,
        img_size=size,
        num_classes=len(classes),
        class_names=tuple(classes),
    )
