"""PatchGAN discriminator (Isola et al. 2017): a fully convolutional net scoring each overlapping patch real or
fake, so the adversarial loss judges local texture and the L1 loss the low frequencies.

Layers (4x4 kernels): ``downsamplings`` stride-2 convs (64, 128, ... channels, at most 512; batch norm after all
but the first; LeakyReLU 0.2), one stride-1 conv doubling the channels, and a stride-1 conv to one score map.
With 3 downsamplings a 256 px input gives the paper's 30x30 map of 70x70 px patches; with 2, each score sees a
34x34 patch. ``downsamplings_for`` keys the choice on the image size: 2 below 128 px (28 px: 5x5 scores;
64 px: 14x14), 3 from 128 px.
"""

from __future__ import annotations

import torch
from torch import nn


def downsamplings_for(size: int) -> int:
    return 2 if size < 128 else 3


def patchgan_output_size(size: int, downsamplings: int) -> int:
    """Side of the score map for a ``size`` px input: each stride-2 conv halves it (floor), each stride-1 4x4
    conv with padding 1 takes one pixel off."""
    for _ in range(downsamplings):
        size //= 2
    return size - 2


def receptive_field(downsamplings: int) -> int:
    """Side in pixels of the patch one score sees."""
    field = 1
    for stride in [1, 1] + [2] * downsamplings:  # from the output back to the input
        field = (field - 1) * stride + 4
    return field


def downsampling_layers(in_chans: int, count: int, width: int = 64) -> tuple[list[nn.Module], int]:
    """``count`` 4x4 stride-2 convs (width, 2 x width, ... channels, at most 8 x width; batch norm after all but
    the first; LeakyReLU 0.2), the stem of the PatchGAN and of other small discriminators; and their channels."""
    layers: list[nn.Module] = []
    chans = in_chans
    for i in range(count):
        out = min(width * 2**i, 8 * width)
        layers += [nn.Conv2d(chans, out, 4, 2, 1, bias=i == 0)]
        layers += [nn.BatchNorm2d(out)] if i > 0 else []
        layers += [nn.LeakyReLU(0.2)]
        chans = out
    return layers, chans


class PatchGAN(nn.Module):
    def __init__(self, in_chans: int, downsamplings: int, width: int = 64) -> None:
        super().__init__()
        if downsamplings < 1:
            raise ValueError(f"a PatchGAN needs at least one downsampling, got {downsamplings}")
        layers, chans = downsampling_layers(in_chans, downsamplings, width)
        out = min(chans * 2, 8 * width)
        layers += [nn.Conv2d(chans, out, 4, 1, 1, bias=False), nn.BatchNorm2d(out), nn.LeakyReLU(0.2)]
        layers += [nn.Conv2d(out, 1, 4, 1, 1)]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> patch scores (B, 1, h, w), raw (the objective applies its link)."""
        return self.net(x)
