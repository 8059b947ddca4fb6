"""A U-Net whose encoder is the shared backbone: the image-to-image learners' generator (pix2pix, CycleGAN).

The encoder is ``backbone.forward_pyramid``: the maps of every stage (finest first) and the pooled features
probes measure. The pooled features are projected onto the deepest map (added per channel), so the
representation itself carries what the decoder needs, not only the maps before it. The decoder climbs the pyramid:
at each level it resizes to the skip's size (bilinear), concatenates the skip and applies a 3x3 conv, batch norm
and ReLU; the deepest ``dropout_blocks`` levels drop half their units in training (pix2pix's noise: Isola et al.
2017 found a noise input ignored and used dropout instead). A last stage resizes to the input's size,
concatenates the input itself and maps to ``out_chans`` pixels in [0, 1] (a sigmoid).

``skips=False`` makes it the encoder-decoder the pix2pix paper compares the U-Net with (its bottleneck a 1x1
code): the decoder starts from the pooled features alone, mapped linearly to a map of the deepest level's shape,
with no skip maps and no input at the last stage, so everything it draws passes through the representation the
probes read (with skips the decoder can draw from the maps and the input without it).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ssl_toolkit.backbones.base import Backbone

DECODER_MAX_CHANNELS = 256  # decoder levels mirror the encoder's channels up to this (compute stays small)


def pyramid_shapes(backbone: Backbone, in_chans: int, size: int) -> list[tuple[int, int, int]]:
    """(channels, height, width) of each pyramid level, from one forward of zeros in eval mode (no running
    statistics move)."""
    was_training = backbone.training
    backbone.eval()
    device = next(backbone.parameters()).device
    with torch.no_grad():
        maps, _ = backbone.forward_pyramid(torch.zeros(2, in_chans, size, size, device=device))
    backbone.train(was_training)
    return [tuple(m.shape[1:]) for m in maps]


class UNetDecoder(nn.Module):
    def __init__(
        self,
        map_shapes: list[tuple[int, int, int]],
        num_features: int,
        in_chans: int,
        out_chans: int,
        dropout_blocks: int = 3,
        skips: bool = True,
    ) -> None:
        super().__init__()
        self.skips, self.deepest = skips, map_shapes[-1]
        map_channels = [c for c, _, _ in map_shapes]
        # with skips the code is added per channel to the deepest map; without, it is the deepest map
        self.code = nn.Linear(num_features, map_channels[-1] if skips else math.prod(self.deepest))
        self.levels = nn.ModuleList()
        current = map_channels[-1]
        for depth, skip in enumerate(reversed(map_channels[:-1])):
            width = min(skip, DECODER_MAX_CHANNELS)
            self.levels.append(
                nn.Sequential(
                    nn.Conv2d(current + (skip if skips else 0), width, 3, padding=1, bias=False),
                    nn.BatchNorm2d(width),
                    nn.ReLU(),
                    nn.Dropout(0.5) if depth < dropout_blocks else nn.Identity(),
                )
            )
            current = width
        self.out = nn.Sequential(
            nn.Conv2d(current + (in_chans if skips else 0), 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, out_chans, 1)
        )

    def forward(self, maps: list[torch.Tensor], features: torch.Tensor, source: torch.Tensor) -> torch.Tensor:
        """Pyramid maps (finest first), pooled features (B, F), the encoder's input (B, C, H, W) -> pixels."""
        if self.skips:
            x = maps[-1] + self.code(features)[:, :, None, None].to(maps[-1].dtype)
        else:
            x = self.code(features).view(-1, *self.deepest).to(maps[-1].dtype)
        for level, skip in zip(self.levels, reversed(maps[:-1]), strict=True):
            x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            x = level(torch.cat([x, skip], dim=1) if self.skips else x)
        x = F.interpolate(x, size=source.shape[-2:], mode="bilinear", align_corners=False)
        return torch.sigmoid(self.out(torch.cat([x, source.to(x.dtype)], dim=1) if self.skips else x))


class UNet(nn.Module):
    """backbone (encoder) + ``UNetDecoder``: normalised images (B, C, H, W) -> pixels (B, out_chans, H, W)."""

    def __init__(
        self,
        backbone: Backbone,
        in_chans: int,
        size: int,
        out_chans: int,
        dropout_blocks: int = 3,
        skips: bool = True,
    ):
        super().__init__()
        self.encoder = backbone
        shapes = pyramid_shapes(backbone, in_chans, size)
        self.decoder = UNetDecoder(shapes, backbone.num_features, in_chans, out_chans, dropout_blocks, skips)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        maps, features = self.encoder.forward_pyramid(x)
        return self.decoder(maps, features, x)
