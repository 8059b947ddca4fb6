"""Generators (GAN) and decoders (VAE): latent (B, latent_dim) -> images (B, C, H, W) with values in [0, 1].

``mlp``: the seed lecture's fully connected generator (latent -> 256 -> 512 -> C*H*W, LeakyReLU 0.2).
``dcgan``: the DCGAN rules (Radford et al. 2016): a projection to a small feature map, fractionally strided
convolutions that double it twice, batch norm and ReLU in every layer but the last, no pooling, no fully connected
hidden layers; sizes that are not a multiple of 4 are resized at the end. The last layer's raw output goes through a
sigmoid, so callers get values in [0, 1] and ``normalise`` them like real images: [0, 1] is the stored range of
8-bit images and a per-band range of wider rasters (``pixel_range``).
``pggan`` and ``style``: the growing generators of ``growing_generators`` (progressive growing; a StyleGAN-style
mapping network).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from pretext.growing_generators import GROWING_KINDS, GrowingGenerator

KINDS = ("mlp", "dcgan", "pggan", "style")


class MLPGenerator(nn.Module):
    def __init__(self, latent_dim: int, chans: int, size: int) -> None:
        super().__init__()
        self.shape = (chans, size, size)
        self.net = nn.Sequential(
            nn.Linear(latent_dim, 256),
            nn.LeakyReLU(0.2),
            nn.Linear(256, 512),
            nn.LeakyReLU(0.2),
            nn.Linear(512, chans * size * size),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.net(z)).view(z.shape[0], *self.shape)


class DCGANGenerator(nn.Module):
    def __init__(self, latent_dim: int, chans: int, size: int, width: int = 64) -> None:
        super().__init__()
        self.size = size
        self.start = math.ceil(size / 4)
        self.project = nn.Sequential(
            nn.Linear(latent_dim, 2 * width * self.start * self.start, bias=False),
            nn.BatchNorm1d(2 * width * self.start * self.start),
            nn.ReLU(),
        )
        self.width = width
        self.up = nn.Sequential(
            nn.ConvTranspose2d(2 * width, width, 4, 2, 1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(),
            nn.ConvTranspose2d(width, chans, 4, 2, 1),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.project(z).view(z.shape[0], 2 * self.width, self.start, self.start)
        x = self.up(x)
        if x.shape[-1] != self.size:
            x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False)
        return torch.sigmoid(x)


def create_generator(kind: str, latent_dim: int, chans: int, size: int) -> nn.Module:
    if kind == "mlp":
        return MLPGenerator(latent_dim, chans, size)
    if kind == "dcgan":
        return DCGANGenerator(latent_dim, chans, size)
    if kind in GROWING_KINDS:
        return GrowingGenerator(latent_dim, chans, size, style=kind == "style")
    raise ValueError(f"generator must be one of {', '.join(KINDS)}, got {kind!r}")


def pixel_range(meta: dict[str, torch.Tensor]) -> tuple[torch.Tensor | float, torch.Tensor | float]:
    """(low, high) in pixel units that generated [0, 1] values span: meta's ``pixel_low``/``pixel_high`` (per band,
    see ``Normalizer``), or the stored range (0, 1) where meta has none."""
    return meta.get("pixel_low", 0.0), meta.get("pixel_high", 1.0)


def _stats(meta: dict[str, torch.Tensor], channels: list[int] | None) -> list:
    """Mean, std, low, high of ``channels`` (all where None), each broadcastable to (B, C, H, W)."""
    stats = [meta["pixel_mean"], meta["pixel_std"], *pixel_range(meta)]
    if channels is None:
        return stats
    return [x if not torch.is_tensor(x) or x.numel() == 1 else x.flatten()[channels].view(1, -1, 1, 1) for x in stats]


def normalise(
    generated: torch.Tensor, meta: dict[str, torch.Tensor], channels: list[int] | None = None
) -> torch.Tensor:
    """Generated [0, 1] values -> the normalised space real images arrive in: [0, 1] spans ``pixel_range`` and is
    then normalised with meta's ``pixel_mean``/``pixel_std`` (of ``channels`` when given: a subset of bands)."""
    mean, std, low, high = _stats(meta, channels)
    return (low + generated * (high - low) - mean) / std


def pixels(images: torch.Tensor, meta: dict[str, torch.Tensor], channels: list[int] | None = None) -> torch.Tensor:
    """Normalised images -> the generators' [0, 1] units (the inverse of ``normalise``)."""
    mean, std, low, high = _stats(meta, channels)
    return (images * std + mean - low) / (high - low)
