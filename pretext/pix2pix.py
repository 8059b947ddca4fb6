"""pix2pix (Isola et al. 2017) as a pretext task: translate each image into another view of itself with a U-Net
whose encoder is the shared backbone (probed), judged by a conditional PatchGAN, plus an L1 loss.

What is translated (``translation``):

- ``colorize``: colour from grey. The encoder gets the luminance (0.299 R + 0.587 G + 0.114 B of the channels
  pictures show as red, green, blue) copied into every channel and normalised like the images; the target is
  those three channels.
- ``bands``: some bands from others (``source_bands`` -> ``target_bands``, 0-based indices, e.g. on
  ``eurosat-ms`` NIR and SWIR from RGB: ``source_bands=3,2,1 target_bands=7,10,11``). The encoder gets the
  image with every other band at its mean (0 once normalised), so its input has the data's channels and probes
  feed it whole images.
- ``transpose``: the image to its transpose, for any data (grey digits have no colour to predict).
- ``auto`` (default): ``colorize`` on data with three or more channels, ``transpose`` on grey data.

Losses (the paper's): the discriminator sees (encoder input, target) pairs, real or generated, and its
objective (``objective``, as in ``gan_losses``) is halved; the generator minimises the adversarial loss plus
``l1_weight`` (100) x the mean absolute error of its [0, 1] pixels. The noise is dropout in the decoder (see
``unet``). Pictures after each epoch: ``plots/pix2pix/translations.png`` (rows of 8: input, generated, target)
and the test L1 in the epoch record.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from pretext.base import EpochContext, PretextTask, StepContext, adversarial_round
from pretext.gan import GAN
from pretext.gan_losses import OBJECTIVES, discriminator_loss, generator_loss
from pretext.generators import normalise, pixels
from pretext.patchgan import PatchGAN, downsamplings_for
from pretext.unet import UNet
from ssl_toolkit.backbones.base import Backbone
from ssl_toolkit.data.splits import DataSource
from ssl_toolkit.pictures.grids import save_grid
from ssl_toolkit.registry import TASKS

LUMINANCE = (0.299, 0.587, 0.114)  # ITU-R BT.601 weights of red, green, blue


def index_list(text: str, key: str, count: int, noun: str = "bands") -> list[int]:
    """'3,2,1' -> [3, 2, 1] (each in 0 .. count - 1, else a ValueError naming ``task.<key>`` and the ``noun``)."""
    try:
        indices = [int(b) for b in text.split(",") if b.strip()]
    except ValueError:
        raise ValueError(f"task.{key} must be comma-separated {noun} indices, got {text!r}") from None
    if not indices or any(not 0 <= b < count for b in indices):
        raise ValueError(f"task.{key} must name {noun} 0 to {count - 1}, got {text!r}")
    return indices


def displayable(x: torch.Tensor) -> torch.Tensor:
    """Pixels a picture can show: three channels as colour, anything else its first channel as grey."""
    return x[:, :3] if x.shape[1] >= 3 else x[:, :1]


@TASKS.register("pix2pix")
class Pix2Pix(PretextTask):
    """U-Net (encoder = shared backbone) + conditional PatchGAN; adversarial + 100 x L1 (Isola et al. 2017)."""

    optimizer_recipe = GAN.optimizer_recipe  # the paper's: Adam 2e-4, beta1 0.5, constant

    def __init__(
        self,
        backbone: Backbone,
        translation: Literal["auto", "colorize", "bands", "transpose"] = "auto",
        source_bands: str = "",
        target_bands: str = "",
        l1_weight: float = 100.0,
        objective: Literal["minimax", "non_saturating", "lsgan", "wgan", "hinge"] = "non_saturating",
        downsamplings: int = 0,
        dropout_blocks: int = 3,
        skips: bool = True,
    ) -> None:
        """``downsamplings``: the PatchGAN's stride-2 layers (0: keyed on the image size, see ``patchgan``);
        ``dropout_blocks``: decoder levels with dropout, counted from the deepest; ``skips=False``: the paper's
        encoder-decoder instead of the U-Net (see ``unet``)."""
        super().__init__(backbone)
        if translation not in ("auto", "colorize", "bands", "transpose"):
            raise ValueError(f"translation must be auto, colorize, bands or transpose, got {translation!r}")
        if objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {', '.join(OBJECTIVES)}, got {objective!r}")
        if l1_weight < 0 or downsamplings < 0 or dropout_blocks < 0:
            raise ValueError("l1_weight, downsamplings and dropout_blocks must be >= 0")
        self.translation, self.objective, self.l1_weight = translation, objective, l1_weight
        self.source_text, self.target_text = source_bands, target_bands
        self.downsamplings, self.dropout_blocks, self.skips = downsamplings, dropout_blocks, skips
        self.generator: UNet | None = None
        self.discriminator: PatchGAN | None = None

    def fit_data(self, data: DataSource) -> None:
        """Pick the translation's bands for the data and size the U-Net's decoder and the PatchGAN."""
        kind = self.translation
        if kind == "auto":
            kind = "colorize" if data.in_chans >= 3 else "transpose"
        if kind == "colorize" and data.in_chans < 3:
            raise ValueError(f"translation=colorize needs colour images, {data.name} has {data.in_chans} channel(s)")
        self.kind = kind
        if kind == "bands":
            self.source = index_list(self.source_text, "source_bands", data.in_chans)
            self.target = index_list(self.target_text, "target_bands", data.in_chans)
        elif kind == "colorize":
            self.source, self.target = [], list(data.display_channels)
        else:
            self.source, self.target = [], list(range(data.in_chans))
        self.generator = UNet(
            self.backbone, data.in_chans, data.img_size, len(self.target), self.dropout_blocks, self.skips
        )
        downs = self.downsamplings or downsamplings_for(data.img_size)
        self.discriminator = PatchGAN(data.in_chans + len(self.target), downs)

    def pair(self, images: torch.Tensor, meta: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """(the encoder's input, normalised like the images; the target's [0, 1] pixels)."""
        pix = pixels(images, meta)
        if self.kind == "transpose":
            return images, pix.transpose(-1, -2)
        target = pix[:, self.target]
        if self.kind == "bands":
            keep = torch.zeros(images.shape[1], dtype=torch.bool, device=images.device)
            keep[self.source] = True
            return images * keep.view(1, -1, 1, 1), target
        weights = torch.tensor(LUMINANCE, device=images.device, dtype=pix.dtype).view(1, 3, 1, 1)
        grey = (target * weights).sum(dim=1, keepdim=True).expand_as(pix)
        return normalise(grey, meta), target

    def _target_space(self, target: torch.Tensor, meta: dict[str, torch.Tensor]) -> torch.Tensor:
        """Target pixels normalised with their bands' statistics, as the discriminator sees them."""
        return normalise(target, meta, None if self.kind == "transpose" else self.target)

    def judge(self, source: torch.Tensor, target: torch.Tensor, meta: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.discriminator(torch.cat([source, self._target_space(target, meta).to(source.dtype)], dim=1))

    def optimizer_groups(self) -> dict[str, list[nn.Parameter]]:
        if self.generator is None or self.discriminator is None:
            raise ValueError("pix2pix has no generator yet; fit_data(data) sizes it for the data")
        return {"discriminator": list(self.discriminator.parameters()), "generator": list(self.generator.parameters())}

    def forward(
        self, images: torch.Tensor, meta: dict[str, torch.Tensor], part: str = "generator"
    ) -> dict[str, torch.Tensor]:
        source, target = self.pair(images, meta)
        if part == "discriminator":
            with torch.no_grad():
                fake = self.generator(source)
            loss = 0.5 * discriminator_loss(
                self.objective, self.judge(source, target, meta), self.judge(source, fake, meta)
            )
            return {"loss": loss}
        fake = self.generator(source)
        adversarial = generator_loss(self.objective, self.judge(source, fake, meta))
        l1 = (fake.float() - target.float()).abs().mean()
        return {"loss": adversarial + self.l1_weight * l1, "adversarial": adversarial.detach(), "l1": l1.detach()}

    def training_step(
        self, images: torch.Tensor, meta: dict[str, torch.Tensor], ctx: StepContext
    ) -> dict[str, torch.Tensor]:
        return adversarial_round(ctx, images, meta, ("discriminator", "generator"))

    def translate(self, images: torch.Tensor, meta: dict[str, torch.Tensor]) -> tuple[torch.Tensor, ...]:
        """(encoder input, generated, target) as displayable [0, 1] pixels."""
        source, target = self.pair(images, meta)
        fake = self.generator(source)
        shown = pixels(source, meta)
        shown = shown[:, self.source] if self.kind == "bands" else shown
        return displayable(shown), displayable(fake), displayable(target)

    def examples(self, images: torch.Tensor, meta: dict[str, torch.Tensor]) -> tuple[list[torch.Tensor], list[str]]:
        source, _, target = self.translate(images, meta)
        panels = [x.cpu() for x in source] + [x.cpu() for x in target]
        return panels, ["input"] * len(source) + ["target"] * len(target)

    def epoch_end(self, ctx: EpochContext) -> dict[str, float]:
        real, _ = ctx.test_images(64)
        source, fake, target = self.translate(real, ctx.meta())
        rows = [t for i in range(0, 24, 8) for t in (source[i : i + 8], fake[i : i + 8], target[i : i + 8])]
        width = max(r.shape[1] for r in rows)
        grid = torch.cat([r.expand(-1, width, -1, -1) for r in rows])  # grey rows shown beside colour ones
        save_grid(grid, ctx.run_dir / "plots" / "pix2pix" / "translations.png")
        return {"test_l1": float((fake - target).abs().mean())}
