"""GAN as a representation learner: the discriminator is the shared backbone plus a real/fake head.

The generator (``mlp`` or ``dcgan``, see ``generators``) makes pixels in [0, 1], normalised like the real batch,
so the discriminator sees both in one space. Each training step is one discriminator step on the step's real
batch; a generator step follows every ``d_steps``-th discriminator step, and ``g_steps`` generator steps are
taken then (``d_steps=5`` is WGAN's recipe; ``g_steps=2`` the reverse). The counts live in the engine's
``steps_taken`` (saved in checkpoints), so a resumed run alternates exactly like an uninterrupted one.

Objectives: see ``gan_losses``. ``wgan`` clips the critic's weights to [-clip, clip] after each step unless
``gp_weight`` > 0 (WGAN-GP); ``real_label`` < 1 is one-sided label smoothing.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from pretext.base import PretextTask, StepContext
from pretext.gan_losses import OBJECTIVES, discriminator_loss, generator_loss, gradient_penalty
from pretext.generators import create_generator, normalise
from ssl_toolkit.backbones.base import Backbone
from ssl_toolkit.data.splits import DataSource
from ssl_toolkit.registry import TASKS


@TASKS.register("gan")
class GAN(PretextTask):
    """Generator vs discriminator (= shared backbone + real/fake head); k:1 alternation, six objectives."""

    def __init__(
        self,
        backbone: Backbone,
        generator: Literal["mlp", "dcgan"] = "dcgan",
        latent_dim: int = 64,
        objective: Literal["minimax", "non_saturating", "lsgan", "wgan", "hinge"] = "non_saturating",
        d_steps: int = 1,
        g_steps: int = 1,
        real_label: float = 1.0,
        clip: float = 0.01,
        gp_weight: float = 0.0,
    ) -> None:
        """``d_steps``/``g_steps``: discriminator steps per generator round / generator steps per round;
        ``clip``: WGAN weight clipping (when ``gp_weight`` is 0); ``gp_weight``: WGAN-GP's lambda (10 in the paper)."""
        super().__init__(backbone)
        if objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {', '.join(OBJECTIVES)}, got {objective!r}")
        if d_steps < 1 or g_steps < 1:
            raise ValueError(f"d_steps and g_steps must be at least 1, got {d_steps} and {g_steps}")
        if not 0.5 < real_label <= 1.0:
            raise ValueError(f"real_label must be in (0.5, 1], got {real_label}")
        if latent_dim < 1 or clip <= 0 or gp_weight < 0:
            raise ValueError("latent_dim must be >= 1, clip > 0 and gp_weight >= 0")
        self.kind, self.latent_dim, self.objective = generator, latent_dim, objective
        self.d_steps, self.g_steps, self.real_label = d_steps, g_steps, real_label
        self.clip, self.gp_weight = clip, gp_weight
        self.head = nn.Linear(backbone.num_features, 1)
        self.generator: nn.Module | None = None

    def fit_data(self, data: DataSource) -> None:
        """The generator makes images of the data's shape."""
        self.generator = create_generator(self.kind, self.latent_dim, data.in_chans, data.img_size)

    def discriminate(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(images)).squeeze(1)

    def generate(self, n: int, meta: dict[str, torch.Tensor], device: torch.device) -> torch.Tensor:
        if self.generator is None:
            raise ValueError("the GAN has no generator yet; fit_data(data) sizes it for the data")
        return normalise(self.generator(torch.randn(n, self.latent_dim, device=device)), meta)

    def optimizer_groups(self) -> dict[str, list[nn.Parameter]]:
        if self.generator is None:
            raise ValueError("the GAN has no generator yet; fit_data(data) sizes it for the data")
        return {
            "discriminator": [*self.backbone.parameters(), *self.head.parameters()],
            "generator": list(self.generator.parameters()),
        }

    def forward(
        self, images: torch.Tensor, meta: dict[str, torch.Tensor], part: str = "discriminator"
    ) -> dict[str, torch.Tensor]:
        """The loss of one side: ``discriminator`` on the real batch and as many fakes, or ``generator``."""
        if part == "generator":
            scores = self.discriminate(self.generate(images.shape[0], meta, images.device))
            return {"loss": generator_loss(self.objective, scores), "d_fake": scores.float().mean().detach()}
        with torch.no_grad():
            fake = self.generate(images.shape[0], meta, images.device)
        real_scores, fake_scores = self.discriminate(images), self.discriminate(fake)
        loss = discriminator_loss(self.objective, real_scores, fake_scores, self.real_label)
        out = {"d_real": real_scores.float().mean().detach(), "d_fake": fake_scores.float().mean().detach()}
        if self.gp_weight > 0:
            penalty = gradient_penalty(self.discriminate, images, fake)
            loss = loss + self.gp_weight * penalty
            out["gp"] = penalty.detach()
        return {"loss": loss, **out}

    def training_step(
        self, images: torch.Tensor, meta: dict[str, torch.Tensor], ctx: StepContext
    ) -> dict[str, torch.Tensor]:
        d = ctx.forward(images, meta, part="discriminator")
        ctx.step(d["loss"], "discriminator")
        if self.objective == "wgan" and self.gp_weight == 0:
            with torch.no_grad():
                for p in [*self.backbone.parameters(), *self.head.parameters()]:
                    p.clamp_(-self.clip, self.clip)
        out = {"d_loss": d["loss"].detach(), "d_real": d["d_real"], "d_fake": d["d_fake"]}
        if "gp" in d:
            out["gp"] = d["gp"]
        if ctx.steps_taken["discriminator"] % self.d_steps == 0:
            for _ in range(self.g_steps):
                g = ctx.forward(images, meta, part="generator")
                ctx.step(g["loss"], "generator")
            out["g_loss"] = g["loss"].detach()
        out["loss"] = out["d_loss"]
        return out

    def examples(self, images: torch.Tensor, meta: dict[str, torch.Tensor]) -> tuple[list[torch.Tensor], list[str]]:
        """Real images beside as many generated ones."""
        fake = self.generate(images.shape[0], meta, images.device)
        panels = [x.cpu() for x in images] + [x.cpu() for x in fake]
        return panels, ["real"] * len(images) + ["generated"] * len(fake)
