"""Generators built as a chain of resolution blocks, each with its own to-pixels layer, so they can grow:
progressive growing (``pggan``, Karras et al. 2018) and a StyleGAN-style mapping network (``style``, Karras et al.
2019). Both map latents (B, latent_dim) to [0, 1] pixels at the data's size.

Resolutions (``resolutions_for``): the image size halved while it stays even and at least 4 (28 px: 7, 14, 28;
64 px: 4, 8, 16, 32, 64), so the schedule is keyed on the image size. Block channels: 256 at the coarsest,
halved per block, at least 32.

- ``pggan``: pixel norm on the latent, a linear map to the coarsest block, then per block a nearest 2x upsampling,
  a 3x3 conv, LeakyReLU 0.2 and pixel norm (the paper's feature normalisation).
- ``style``: a mapping MLP z -> w (``mapping_layers`` linear layers of ``w_dim`` units, LeakyReLU 0.2, on the
  pixel-normalised z), a learned constant as the synthesis input, and per block a 3x3 conv whose instance-normalised
  output is scaled and shifted per channel by an affine map of w (AdaIN). ``mapping(z)`` and ``synthesis(w)``
  are exposed so pictures can interpolate in z and in w.

``forward(z, stage, alpha)`` stops at block ``stage`` (None: the last) and, while ``alpha`` < 1, blends that
block's pixels with the previous block's, upsampled (nearest): ``alpha * new + (1 - alpha) * old``, the fade-in of
a new stage. Coarser outputs are upsampled (nearest) to the full size, so the discriminator (the shared backbone)
always sees full-size images; ``lower_resolution`` gives real images the same treatment.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

GROWING_KINDS = ("pggan", "style")


def resolutions_for(size: int) -> list[int]:
    """Coarsest first: ``size`` halved while even and the half is at least 4."""
    sizes = [size]
    while sizes[0] % 2 == 0 and sizes[0] // 2 >= 4:
        sizes.insert(0, sizes[0] // 2)
    return sizes


def block_channels(count: int) -> list[int]:
    return [max(32, 256 >> i) for i in range(count)]


def pixel_norm(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Each sample's feature vector (per pixel) scaled to unit root-mean-square over channels."""
    return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + eps)


def fade(new: torch.Tensor, old: torch.Tensor, alpha: float) -> torch.Tensor:
    """``alpha * new + (1 - alpha) * old``, ``old`` upsampled (nearest) to ``new``'s size."""
    if alpha >= 1:
        return new
    return alpha * new + (1 - alpha) * F.interpolate(old, size=new.shape[-2:], mode="nearest")


def lower_resolution(images: torch.Tensor, sizes: list[int], stage: int, alpha: float) -> torch.Tensor:
    """Real images as a generator at ``stage`` (fading in with ``alpha``) makes them: averaged down to the stage's
    resolution (and the previous one, blended), then upsampled (nearest) to their own size. Both operations are
    linear and keep constants, so normalised images can be passed as they are."""
    full = images.shape[-1]
    if sizes[stage] == full and alpha >= 1:
        return images
    new = F.interpolate(images, size=sizes[stage], mode="area")
    old = F.interpolate(images, size=sizes[stage - 1], mode="area") if stage > 0 else new
    return F.interpolate(fade(new, old, alpha), size=full, mode="nearest")


class AdaIN(nn.Module):
    """Instance norm, then a per-channel scale (1 + gamma(w)) and shift beta(w). The affine map starts with
    torch's default weights and zero bias, so the style (and with it z) shapes every image from the first step;
    zero weights would make a generator whose input is a constant draw one image for every z, a collapse the
    discriminator never undoes (measured: one class, every sample alike)."""

    def __init__(self, chans: int, w_dim: int) -> None:
        super().__init__()
        self.affine = nn.Linear(w_dim, 2 * chans)
        nn.init.zeros_(self.affine.bias)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        gamma, beta = self.affine(w)[:, :, None, None].chunk(2, dim=1)
        return F.instance_norm(x) * (1 + gamma) + beta


class GrowingGenerator(nn.Module):
    def __init__(
        self, latent_dim: int, chans: int, size: int, style: bool = False, w_dim: int = 128, mapping_layers: int = 4
    ) -> None:
        super().__init__()
        self.size, self.style, self.latent_dim = size, style, latent_dim
        self.sizes = resolutions_for(size)
        widths = block_channels(len(self.sizes))
        first = self.sizes[0]
        if style:
            layers: list[nn.Module] = []
            for i in range(mapping_layers):
                layers += [nn.Linear(latent_dim if i == 0 else w_dim, w_dim), nn.LeakyReLU(0.2)]
            self.mapper = nn.Sequential(*layers)
            self.const = nn.Parameter(torch.ones(1, widths[0], first, first))
            self.styles = nn.ModuleList(AdaIN(c, w_dim) for c in widths)
        else:
            self.project = nn.Linear(latent_dim, widths[0] * first * first)
        self.convs = nn.ModuleList(nn.Conv2d(widths[max(i - 1, 0)], c, 3, padding=1) for i, c in enumerate(widths))
        self.to_pixels = nn.ModuleList(nn.Conv2d(c, chans, 1) for c in widths)
        self.w_dim = w_dim if style else 0

    def mapping(self, z: torch.Tensor) -> torch.Tensor:
        """z (B, latent_dim) -> w (B, w_dim): the style generator's intermediate latent."""
        if not self.style:
            raise ValueError("only the style generator has a mapping network")
        return self.mapper(pixel_norm(z))

    def synthesis(self, code: torch.Tensor, stage: int | None = None, alpha: float = 1.0) -> torch.Tensor:
        """w (style) or z (pggan) -> [0, 1] pixels (B, C, size, size) at ``stage``, fading in with ``alpha``."""
        stage = len(self.sizes) - 1 if stage is None else stage
        if self.style:
            x = self.const.expand(code.shape[0], -1, -1, -1)
        else:
            x = pixel_norm(
                F.leaky_relu(self.project(pixel_norm(code)), 0.2).view(code.shape[0], -1, *[self.sizes[0]] * 2)
            )
        previous = x
        for i in range(stage + 1):
            if i > 0:
                previous = x
                x = F.interpolate(x, size=self.sizes[i], mode="nearest")
            x = F.leaky_relu(self.convs[i](x), 0.2)
            x = self.styles[i](x, code) if self.style else pixel_norm(x)
        out = torch.sigmoid(self.to_pixels[stage](x))
        if stage > 0 and alpha < 1:
            out = fade(out, torch.sigmoid(self.to_pixels[stage - 1](previous)), alpha)
        if out.shape[-1] != self.size:
            out = F.interpolate(out, size=self.size, mode="nearest")
        return out

    def forward(self, z: torch.Tensor, stage: int | None = None, alpha: float = 1.0) -> torch.Tensor:
        return self.synthesis(self.mapping(z) if self.style else z, stage, alpha)


class ProgressiveSchedule:
    """Which stage a run is at after ``images`` real images: stage 0 for ``stage_images``; then each further stage
    fades in over ``fade_images`` and trains at full weight for ``stage_images``; the last stage stays."""

    def __init__(self, stages: int, stage_images: int, fade_images: int) -> None:
        if stages < 1 or stage_images < 0 or fade_images < 0:
            raise ValueError("a schedule needs at least one stage and non-negative image counts")
        self.stages, self.stage_images, self.fade_images = stages, stage_images, fade_images

    def at(self, images: int) -> tuple[int, float]:
        """(stage, fade-in weight alpha in [0, 1]) after ``images`` real images."""
        if images < self.stage_images or self.stages == 1:
            return 0, 1.0
        period = self.fade_images + self.stage_images
        stage, into = divmod(images - self.stage_images, period) if period else (self.stages, 0)
        stage += 1
        if stage >= self.stages:
            return self.stages - 1, 1.0
        alpha = min(1.0, into / self.fade_images) if self.fade_images else 1.0
        return stage, alpha
