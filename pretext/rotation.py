"""Rotation prediction (Gidaris, Singh & Komodakis, ICLR 2018): which of 0/90/180/270 degrees was applied."""

from __future__ import annotations

import torch

from pretext.base import ClassificationPretext
from ssl_toolkit.backbones.base import Backbone
from ssl_toolkit.registry import TASKS


def rotate90(images: torch.Tensor, k: int) -> torch.Tensor:
    """Rotate (..., H, W) images by k x 90 degrees counter-clockwise, by flips and a transpose."""
    k %= 4
    if k == 0:
        return images
    if k == 1:
        return images.transpose(-2, -1).flip(-2)
    if k == 2:
        return images.flip(-2, -1)
    return images.transpose(-2, -1).flip(-1)


@TASKS.register("rotation")
class Rotation(ClassificationPretext):
    """4-way rotation prediction (0/90/180/270 degrees); all four rotations of each image in one batch."""

    def __init__(self, backbone: Backbone, all_rotations: bool = True) -> None:
        """``all_rotations``: put every rotation of each image in the batch (a batch of B gives 4B inputs),
        which Gidaris et al. found best; otherwise one random rotation per image."""
        super().__init__(backbone, num_classes=4)
        self.all_rotations = all_rotations

    def build_inputs(self, images: torch.Tensor, meta: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        if images.shape[-1] != images.shape[-2]:
            raise ValueError(f"rotation needs square images, got {images.shape[-2]}x{images.shape[-1]}")
        b = images.shape[0]
        if self.all_rotations:
            inputs = torch.cat([rotate90(images, k) for k in range(4)])
            targets = torch.arange(4, device=images.device).repeat_interleave(b)
            return inputs, targets
        targets = torch.randint(0, 4, (b,), device=images.device)
        inputs = images.clone()
        for k in range(1, 4):
            sel = targets == k
            inputs[sel] = rotate90(images[sel], k)
        return inputs, targets
