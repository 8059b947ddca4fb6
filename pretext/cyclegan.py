"""CycleGAN (Zhu et al. 2017) as a representation learner: unpaired translation between two image domains, the
A -> B generator's encoder being the shared backbone (probed).

The two domains are made from one dataset (``domains``):

- ``transpose``: A is the images, B their transposes; each batch's first half is A and the transposes of its
  second half are B, so no A image meets its own transpose (unpaired).
- ``classes``: A is the samples whose label is in ``classes_a`` (comma-separated class indices), B the rest;
  each batch splits by label (a batch needs both).
- ``regions``: two regions of geotagged data: A the tiles at or north of the training tiles' median latitude
  (``region_axis=lat``) or at or east of their median longitude (``lon``), B the rest (e.g. northern against
  southern Europe on EuroSAT); the boundary is a buffer, saved in checkpoints.

Networks: G (A -> B) a U-Net on the shared backbone, F (B -> A) a U-Net on a copy of it with its own weights
(see ``unet``); D_A and D_B PatchGANs (``patchgan``). Losses (the paper's, least squares by default):
G and F minimise the adversarial losses of G(a) under D_B and F(b) under D_A, plus ``cycle_weight`` (10) x
(|F(G(a)) - a| + |G(F(b)) - b|) and ``identity_weight`` (0.5) x ``cycle_weight`` x (|G(b) - b| + |F(a) - a|),
mean absolute errors of [0, 1] pixels; each discriminator's objective is halved. Pictures after each epoch:
``plots/cyclegan/translations.png`` (rows of 8: a, G(a), F(G(a)), b, F(b), G(F(b))).
"""

from __future__ import annotations

import copy
from typing import Literal

import torch
from torch import nn

from pretext.base import EpochContext, PretextTask, StepContext, adversarial_round
from pretext.gan import GAN
from pretext.gan_losses import OBJECTIVES, discriminator_loss, generator_loss
from pretext.generators import normalise, pixels
from pretext.patchgan import PatchGAN, downsamplings_for
from pretext.pix2pix import index_list
from pretext.unet import UNet
from ssl_toolkit.backbones.base import Backbone
from ssl_toolkit.data.splits import DataSource
from ssl_toolkit.pictures.grids import save_grid
from ssl_toolkit.registry import TASKS

Translator = nn.Module  # normalised images -> [0, 1] pixels of the other domain


def cycle_loss(
    a: torch.Tensor,
    b: torch.Tensor,
    g: Translator,
    f: Translator,
    meta: dict,
    to_b: torch.Tensor | None = None,
    to_a: torch.Tensor | None = None,
) -> torch.Tensor:
    """|F(G(a)) - a| + |G(F(b)) - b| (means over pixels), ``a``/``b`` normalised, the translators' outputs
    [0, 1] pixels (normalised again before the way back); ``to_b``/``to_a``: G(a) and F(b) when already made."""
    to_b = g(a) if to_b is None else to_b
    to_a = f(b) if to_a is None else to_a
    back_a, back_b = f(normalise(to_b, meta)), g(normalise(to_a, meta))
    return (back_a - pixels(a, meta)).abs().mean() + (back_b - pixels(b, meta)).abs().mean()


def region_boundary(data: DataSource, axis: str) -> torch.Tensor:
    """The median latitude (``lat``) or longitude (``lon``) of the training tiles, as the batches carry them."""
    coords = data.train.coords
    if coords is None or torch.isnan(coords).any():
        raise ValueError("domains=regions needs lat/lon for every training tile (geotagged data)")
    values = coords[:, 0 if axis == "lat" else 1].float()
    median = values.median()
    if bool((values >= median).all()):
        raise ValueError(f"domains=regions: every training tile has the same {axis}; there is no second region")
    return median


def class_list(text: str, num_classes: int) -> list[int]:
    """The domain-A classes: some but not all of the data's."""
    classes = sorted(set(index_list(text, "classes_a", num_classes, "classes")))
    if len(classes) == num_classes:
        raise ValueError(f"task.classes_a must name some but not all classes 0 to {num_classes - 1}, got {text!r}")
    return classes


@TASKS.register("cyclegan")
class CycleGAN(PretextTask):
    """Unpaired A <-> B translation, cycle + identity losses; G's U-Net encoder is the backbone (Zhu et al. 2017)."""

    optimizer_recipe = GAN.optimizer_recipe  # the paper's Adam 2e-4, beta1 0.5 (it then decays linearly)

    @classmethod
    def coords_needed(cls, params: dict) -> bool:
        return params.get("domains") == "regions"

    def __init__(
        self,
        backbone: Backbone,
        domains: Literal["transpose", "classes", "regions"] = "transpose",
        classes_a: str = "0,1,2,3,4",
        region_axis: Literal["lat", "lon"] = "lat",
        cycle_weight: float = 10.0,
        identity_weight: float = 0.5,
        objective: Literal["minimax", "non_saturating", "lsgan", "wgan", "hinge"] = "lsgan",
        dropout_blocks: int = 0,
        skips: bool = True,
    ) -> None:
        """``identity_weight`` is relative to ``cycle_weight`` (the paper's 0.5); ``dropout_blocks``: decoder
        levels with dropout (CycleGAN uses none); ``skips=False``: encoder-decoders instead of U-Nets (``unet``)."""
        super().__init__(backbone)
        if domains not in ("transpose", "classes", "regions"):
            raise ValueError(f"domains must be transpose, classes or regions, got {domains!r}")
        if region_axis not in ("lat", "lon"):
            raise ValueError(f"region_axis must be lat or lon, got {region_axis!r}")
        if objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {', '.join(OBJECTIVES)}, got {objective!r}")
        if cycle_weight < 0 or identity_weight < 0 or dropout_blocks < 0:
            raise ValueError("cycle_weight, identity_weight and dropout_blocks must be >= 0")
        self.domains, self.classes_text, self.region_axis, self.objective = domains, classes_a, region_axis, objective
        self.cycle_weight, self.identity_weight, self.dropout_blocks = cycle_weight, identity_weight, dropout_blocks
        self.skips = skips
        self.g_ab: UNet | None = None

    def fit_data(self, data: DataSource) -> None:
        if self.domains == "classes":
            if data.num_classes < 2:
                raise ValueError("domains=classes needs labelled data with at least two classes")
            self.register_buffer("in_a", torch.zeros(data.num_classes, dtype=torch.bool))
            self.in_a[class_list(self.classes_text, data.num_classes)] = True
        if self.domains == "regions":
            self.register_buffer("boundary", region_boundary(data, self.region_axis))
        shape = (data.in_chans, data.img_size, data.in_chans, self.dropout_blocks, self.skips)
        self.g_ab = UNet(self.backbone, *shape)
        self.g_ba = UNet(copy.deepcopy(self.backbone), *shape)
        downs = downsamplings_for(data.img_size)
        self.d_a, self.d_b = PatchGAN(data.in_chans, downs), PatchGAN(data.in_chans, downs)

    def split(self, images: torch.Tensor, meta: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """(domain A images, domain B images) of a batch, normalised."""
        if self.domains == "transpose":
            half = images.shape[0] // 2
            return images[:half], images[half:].transpose(-1, -2)
        if self.domains == "regions":
            if self.region_axis not in meta:
                raise ValueError("domains=regions needs lat/lon for each tile; this data has no coordinates")
            in_a = meta[self.region_axis] >= self.boundary
        else:
            in_a = self.in_a[meta["label"]]
        return images[in_a], images[~in_a]

    def optimizer_groups(self) -> dict[str, list[nn.Parameter]]:
        if self.g_ab is None:
            raise ValueError("the CycleGAN has no generators yet; fit_data(data) sizes them for the data")
        generators = [*self.g_ab.parameters(), *self.g_ba.parameters()]
        return {"discriminator": [*self.d_a.parameters(), *self.d_b.parameters()], "generator": generators}

    def forward(
        self, images: torch.Tensor, meta: dict[str, torch.Tensor], part: str = "generator"
    ) -> dict[str, torch.Tensor]:
        a, b = self.split(images, meta)
        if len(a) == 0 or len(b) == 0:
            raise ValueError(f"a batch holds {len(a)} domain-A and {len(b)} domain-B images; it needs both")
        if part == "discriminator":  # judges the fakes of this step's generator forward, as the paper's code does
            fake_a, fake_b = self._fakes
            loss_a = discriminator_loss(self.objective, self.d_a(a), self.d_a(fake_a))
            loss_b = discriminator_loss(self.objective, self.d_b(b), self.d_b(fake_b))
            return {"loss": 0.5 * (loss_a + loss_b)}
        to_b, to_a = self.g_ab(a), self.g_ba(b)
        fake_b, fake_a = normalise(to_b, meta), normalise(to_a, meta)
        self._fakes = fake_a.detach(), fake_b.detach()
        adversarial = generator_loss(self.objective, self.d_b(fake_b)) + generator_loss(
            self.objective, self.d_a(fake_a)
        )
        cycle = cycle_loss(a, b, self.g_ab, self.g_ba, meta, to_b, to_a)
        identity = (self.g_ab(b) - pixels(b, meta)).abs().mean() + (self.g_ba(a) - pixels(a, meta)).abs().mean()
        loss = adversarial + self.cycle_weight * (cycle + self.identity_weight * identity)
        return {
            "loss": loss,
            "adversarial": adversarial.detach(),
            "cycle": cycle.detach(),
            "identity": identity.detach(),
        }

    def training_step(
        self, images: torch.Tensor, meta: dict[str, torch.Tensor], ctx: StepContext
    ) -> dict[str, torch.Tensor]:
        return adversarial_round(ctx, images, meta, ("generator", "discriminator"))

    def examples(self, images: torch.Tensor, meta: dict[str, torch.Tensor]) -> tuple[list[torch.Tensor], list[str]]:
        a, b = self.split(images, meta)
        panels = [x.cpu() for x in a] + [x.cpu() for x in b]
        return panels, ["domain A"] * len(a) + ["domain B"] * len(b)

    def epoch_end(self, ctx: EpochContext) -> dict[str, float]:
        real, meta = ctx.test_batch(64)
        a, b = self.split(real, meta)
        n = min(8, len(a), len(b))
        if n == 0:  # the first test images hold one domain only (e.g. a test split sorted by region)
            return {}
        a, b = a[:n], b[:n]
        to_b, to_a = self.g_ab(a), self.g_ba(b)
        rows = [pixels(a, meta), to_b, self.g_ba(normalise(to_b, meta))]
        rows += [pixels(b, meta), to_a, self.g_ab(normalise(to_a, meta))]
        save_grid(torch.cat([r[:, :3] for r in rows]), ctx.run_dir / "plots" / "cyclegan" / "translations.png")
        return {"test_cycle": float(cycle_loss(a, b, self.g_ab, self.g_ba, meta))}
