"""Transpose prediction, the seed's MNIST pretext: is this image transposed (swapped H and W axes) or not?"""

from __future__ import annotations

import torch

from pretext.base import ClassificationPretext
from ssl_toolkit.backbones.base import Backbone
from ssl_toolkit.registry import TASKS


@TASKS.register("transpose")
class Transpose(ClassificationPretext):
    """2-way: each image is transposed with probability p; label 1 if transposed (the seed experiment)."""

    def __init__(self, backbone: Backbone, p: float = 0.5) -> None:
        super().__init__(backbone, num_classes=2)
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"transpose probability p must be in [0, 1], got {p}")
        self.p = p

    def build_inputs(self, images: torch.Tensor, meta: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        if images.shape[-1] != images.shape[-2]:
            raise ValueError(f"transpose needs square images, got {images.shape[-2]}x{images.shape[-1]}")
        flip = torch.rand(images.shape[0], device=images.device) < self.p
        inputs = torch.where(flip.view(-1, 1, 1, 1), images.transpose(-2, -1), images)
        return inputs, flip.long()
