"""Labelled image splits and the dataset description the rest of the toolkit sees.

Images stay uint8 until they reach the training device; normalisation happens there, in one batched op.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.utils.data import Dataset


class TensorImages:
    """A split held in memory: ``images`` uint8 (N, C, H, W) and ``labels`` int64 (N,).

    Batches are read by fancy indexing, with no per-sample Python work.
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor) -> None:
        if images.dtype != torch.uint8 or images.ndim != 4:
            raise ValueError(f"images must be uint8 (N, C, H, W), got {images.dtype} {tuple(images.shape)}")
        if len(images) != len(labels):
            raise ValueError(f"{len(images)} images but {len(labels)} labels")
        self.images = images
        self.labels = labels.long()

    def __len__(self) -> int:
        return len(self.images)

    def subset(self, n: int) -> TensorImages:
        return TensorImages(self.images[:n], self.labels[:n])


@dataclass
class DataSource:
    """A dataset resolved from a name or a path: its train and test splits and what a model must know of it."""

    name: str
    train: TensorImages | Dataset
    test: TensorImages | Dataset
    mean: tuple[float, ...]
    std: tuple[float, ...]
    in_chans: int
    img_size: int
    num_classes: int
    class_names: tuple[str, ...]
