"""AdaGAN (Tolstikhin et al. 2017): a mixture of ``components`` GANs trained one after another, each on the
training data reweighted towards what the mixture so far covers poorly.

The run's planned steps are cut into ``components`` equal phases; phase t trains generator t (its own weights)
against the discriminator (the shared backbone + head, kept from phase to phase, so the representation keeps
what it learned; the paper trains a fresh GAN each time). A separate small ratio critic (``completion.ConvTrunk``
+ a linear score) trains alongside on data against samples of the mixture as it will be once generator t joins
it; at the end of phase t its logits estimate log(dP_data / dP_model) on every training image, and the data
weights of the next phase are the paper's

    w_i = (lambda* - (1 - beta) h_i)_+ / (beta N),   h_i = dP_model / dP_data (x_i) = exp(-logit_i),

with lambda* the value that makes them sum to 1 (``adagan_weights``) and beta the new component's mixture weight
(``beta``; 0: 1 / (t + 1), which keeps the mixture uniform). Later phases draw their real batches from the
training images with these weights (a multinomial draw of indices, read like any batch). Mixture weights, data
weights, the phase and the critic are buffers and modules of the task, so a resumed run continues exactly.
Samples for pictures and quality measures come from the mixture: each picks its generator by the mixture weights.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from pretext.base import EpochContext, StepContext
from pretext.completion import ConvTrunk
from pretext.gan import GAN
from pretext.gan_losses import discriminator_loss
from pretext.generators import create_generator, normalise
from ssl_toolkit.backbones.base import Backbone
from ssl_toolkit.data.splits import DataSource
from ssl_toolkit.registry import TASKS

WEIGHT_PASS_BATCH = 512  # images per batch of the pass that weights the training data


def adagan_weights(ratios: torch.Tensor, beta: float) -> torch.Tensor:
    """The paper's data weights: (lambda - (1 - beta) h)_+ / (beta N) summing to 1, for density ratios
    h = dP_model / dP_data (N,) and the new component's weight beta in (0, 1]."""
    n = ratios.numel()
    scaled, order = ((1 - beta) * ratios.double()).sort()
    active = torch.arange(1, n + 1, dtype=torch.float64, device=ratios.device)
    lambdas = (beta * n + scaled.cumsum(0)) / active  # lambda if the k smallest are the active points
    k = int((lambdas > scaled).nonzero().max())  # the largest such k is the solution
    weights = (lambdas[k] - (1 - beta) * ratios.double()).clamp(min=0) / (beta * n)
    return (weights / weights.sum()).float()


@TASKS.register("adagan")
class AdaGAN(GAN):
    """A mixture of GANs, each on data reweighted towards what the mixture missed (Tolstikhin et al. 2017)."""

    def __init__(
        self,
        backbone: Backbone,
        components: int = 3,
        beta: float = 0.0,
        generator: Literal["mlp", "dcgan", "pggan"] = "dcgan",
        latent_dim: int = 64,
        objective: Literal["minimax", "non_saturating", "lsgan", "wgan", "hinge"] = "non_saturating",
        quality_samples: int = 1000,
    ) -> None:
        """``components``: GANs in the mixture; ``beta``: each new one's mixture weight (0: 1 / (t + 1))."""
        if generator not in ("mlp", "dcgan", "pggan"):
            raise ValueError(f"adagan's generator must be mlp, dcgan or pggan, got {generator!r}")
        super().__init__(
            backbone, generator=generator, latent_dim=latent_dim, objective=objective, quality_samples=quality_samples
        )
        if components < 1 or not 0 <= beta < 1:
            raise ValueError(f"components must be >= 1 and beta in [0, 1), got {components} and {beta}")
        self.components, self.beta = components, beta
        self._sampling_mixture = False

    def fit_data(self, data: DataSource) -> None:
        super().fit_data(data)
        self.generator = nn.ModuleList(
            [self.generator]
            + [
                create_generator(self.kind, self.latent_dim, data.in_chans, data.img_size)
                for _ in range(1, self.components)
            ]
        )
        self.ratio_critic = nn.Sequential(ConvTrunk(data.in_chans, 2), nn.Linear(128, 1))
        self.register_buffer("phase", torch.zeros((), dtype=torch.long))
        self.register_buffer("mixture", torch.zeros(self.components))  # weights of the finished components
        self.register_buffer("data_weights", torch.full((len(data.train),), 1.0 / len(data.train)))
        self._data = data

    def new_weight(self, phase: int) -> float:
        """The mixture weight component ``phase`` (from 0) gets when it joins."""
        if phase == 0:
            return 1.0
        return self.beta if self.beta > 0 else 1.0 / (phase + 1)

    def joined(self, phase: int) -> torch.Tensor:
        """Mixture weights once component ``phase`` has joined the finished ones."""
        beta = self.new_weight(phase)
        weights = self.mixture * (1 - beta)
        weights[phase] = beta
        return weights

    def optimizer_groups(self) -> dict[str, list[nn.Parameter]]:
        groups = super().optimizer_groups()
        critic = {id(p) for p in self.ratio_critic.parameters()}
        groups["discriminator"] = [p for p in groups["discriminator"] if id(p) not in critic]
        groups["ratio"] = list(self.ratio_critic.parameters())
        return groups

    def decode(self, z: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        """The current phase's generator while training; for pictures and quality the mixture with the current
        component at its joining weight (each sample's generator drawn by the weights)."""
        if not self._sampling_mixture:
            return self.generator[int(self.phase)](z)
        return self.mixture_sample(z, self.joined(int(self.phase)))

    def mixture_sample(self, z: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """Each sample's generator drawn by ``weights``. Every drawn generator makes the whole batch and gives the
        rows it was drawn for: its BatchNorm then normalises over the batch it trained with, not over a few rows
        (a component drawn for one row would have no batch statistics at all)."""
        which = torch.multinomial(weights.to(z.device), z.shape[0], replacement=True)
        out = None
        for k in which.unique().tolist():
            rows = (which == k).nonzero().squeeze(1)
            made = self.generator[k](z)
            out = torch.zeros_like(made) if out is None else out
            out[rows] = made[rows]
        return out

    def training_step(
        self, images: torch.Tensor, meta: dict[str, torch.Tensor], ctx: StepContext
    ) -> dict[str, torch.Tensor]:
        phase = int(self.phase)
        if phase + 1 < self.components and ctx.global_step >= (phase + 1) * ctx.total_steps // self.components:
            self.finish_phase(images.device)
            phase += 1
        real = images  # the critic compares the data as it is with the mixture
        if phase > 0:  # the GAN's real images drawn with the data weights
            images = self.weighted_batch(images.shape[0], images.device)
        out = super().training_step(images, meta, ctx)
        ratio = ctx.forward(real, meta, part="ratio")  # through the engine's wrappers: DDP averages its gradients
        ctx.step(ratio["loss"], "ratio")
        return {**out, "phase": torch.tensor(float(phase)), "ratio_loss": ratio["loss"].detach()}

    def forward(
        self, images: torch.Tensor, meta: dict[str, torch.Tensor], part: str = "discriminator"
    ) -> dict[str, torch.Tensor]:
        """The GAN's sides, and ``ratio``: the ratio critic's loss, data against the mixture-to-be."""
        if part != "ratio":
            return super().forward(images, meta, part)
        with torch.no_grad():
            z = torch.randn(images.shape[0], self.latent_dim, device=images.device)
            fakes = normalise(self.mixture_sample(z, self.joined(int(self.phase))), meta)
        loss = discriminator_loss("non_saturating", self.ratio_critic(images), self.ratio_critic(fakes))
        return {"loss": loss}

    def weighted_batch(self, n: int, device: torch.device) -> torch.Tensor:
        from ssl_toolkit.data import iterate

        idx = torch.multinomial(self.data_weights, n, replacement=True).cpu()
        batch, _ = next(iterate(self._data.train, [idx]))
        return self._normalizer(device)(batch.to(device))

    def _normalizer(self, device: torch.device):
        """The data's normaliser on ``device``, made once (a weighted batch needs it every step)."""
        from ssl_toolkit.data import Normalizer

        if getattr(self, "_normalizer_on", None) is None or self._normalizer_on[0] != device:
            self._normalizer_on = (device, Normalizer.for_data(self._data, device))
        return self._normalizer_on[1]

    @torch.no_grad()
    def finish_phase(self, device: torch.device) -> None:
        """Component ``phase`` joins the mixture; the next phase's data weights come from the ratio critic."""
        from ssl_toolkit.data import iterate

        phase = int(self.phase)
        self.mixture.copy_(self.joined(phase))
        was_training = self.ratio_critic.training
        self.ratio_critic.eval()
        normalizer = self._normalizer(device)
        batches = torch.arange(len(self._data.train)).split(WEIGHT_PASS_BATCH)
        logits = torch.cat(
            [
                self.ratio_critic(normalizer(x.to(device))).float().squeeze(1)
                for x, _ in iterate(self._data.train, batches)
            ]
        )
        self.ratio_critic.train(was_training)
        ratios = torch.exp(-logits.clamp(-20, 20))  # dP_model / dP_data at the critic's optimum
        self.data_weights.copy_(adagan_weights(ratios, self.new_weight(phase + 1)))
        self.phase.fill_(phase + 1)

    def epoch_end(self, ctx: EpochContext) -> dict[str, float]:
        self._sampling_mixture = True
        try:
            out = super().epoch_end(ctx)
        finally:
            self._sampling_mixture = False
        weights = self.data_weights
        effective = float(1.0 / weights.pow(2).sum()) / weights.numel()  # 1: uniform; small: few images weigh
        return {**out, "effective_data_share": effective}
