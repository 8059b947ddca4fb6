"""VAE as a representation learner (Kingma & Welling 2014): encoder = shared backbone + mean and log-variance
heads, a reparameterised sample, a decoder (``mlp`` or ``dcgan``, see ``generators``) back to pixels.

Loss per image: reconstruction of the [0, 1] pixels (``bce``, summed over pixels, or ``mse``) plus ``beta`` x
KL(q(z|x) || N(0, I)) = -1/2 sum(1 + log var - mu^2 - var); averaged over the batch. The mean is a linear map of
the backbone's features, so the backbone (what ``ssl probe`` measures) holds everything the mean does.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from pretext.base import EpochContext, PretextTask
from pretext.generators import create_generator, normalise, pixels
from ssl_toolkit.backbones.base import Backbone
from ssl_toolkit.data.splits import DataSource
from ssl_toolkit.pictures.grids import save_grid
from ssl_toolkit.registry import TASKS


def kl_to_standard_normal(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)) per sample, summed over latent dimensions: (B, D) -> (B,)."""
    return -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(dim=1)


@TASKS.register("vae")
class VAE(PretextTask):
    """Variational autoencoder on the shared backbone: reconstruction + beta x KL; the mean is the code."""

    # Adam at 1e-3, no schedule (Kingma & Welling 2014 used Adagrad; Adam is the common choice since)
    optimizer_recipe = {
        "optim.name": "adam",
        "optim.lr": 1e-3,
        "optim.weight_decay": 0.0,
        "optim.momentum": 0.9,
        "schedule.name": "constant",
        "schedule.warmup_steps": 0,
    }

    def __init__(
        self,
        backbone: Backbone,
        latent_dim: int = 16,
        beta: float = 1.0,
        decoder: Literal["mlp", "dcgan"] = "dcgan",
        reconstruction: Literal["bce", "mse"] = "bce",
    ) -> None:
        super().__init__(backbone)
        if latent_dim < 1 or beta < 0:
            raise ValueError(f"latent_dim must be >= 1 and beta >= 0, got {latent_dim} and {beta}")
        if reconstruction not in ("bce", "mse"):
            raise ValueError(f"reconstruction must be bce or mse, got {reconstruction!r}")
        self.latent_dim, self.beta, self.kind, self.reconstruction = latent_dim, beta, decoder, reconstruction
        self.mean = nn.Linear(backbone.num_features, latent_dim)
        self.logvar = nn.Linear(backbone.num_features, latent_dim)
        self.decoder: nn.Module | None = None

    def fit_data(self, data: DataSource) -> None:
        self.decoder = create_generator(self.kind, self.latent_dim, data.in_chans, data.img_size)

    def encode(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.backbone(images)
        return self.mean(h), self.logvar(h).clamp(-20, 20)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        if self.decoder is None:
            raise ValueError("the VAE has no decoder yet; fit_data(data) sizes it for the data")
        return self.decoder(z)

    def forward(self, images: torch.Tensor, meta: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        mu, logvar = self.encode(images)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
        recon = self.decode(z).float()
        target = pixels(images, meta).float().clamp(0, 1)
        if self.reconstruction == "bce":
            per_image = F.binary_cross_entropy(recon, target, reduction="none").flatten(1).sum(dim=1)
        else:
            per_image = (recon - target).pow(2).flatten(1).sum(dim=1)
        kl = kl_to_standard_normal(mu.float(), logvar.float())
        loss = (per_image + self.beta * kl).mean()
        return {"loss": loss, "recon_loss": per_image.mean().detach(), "kl": kl.mean().detach()}

    def examples(self, images: torch.Tensor, meta: dict[str, torch.Tensor]) -> tuple[list[torch.Tensor], list[str]]:
        """Each image beside its reconstruction from the mean."""
        mu, _ = self.encode(images)
        recon = normalise(self.decode(mu), meta)
        panels = [p.cpu() for pair in zip(images, recon, strict=True) for p in pair]
        return panels, ["input", "reconstruction"] * len(images)

    def epoch_end(self, ctx: EpochContext) -> dict[str, float]:
        """``plots/vae/``: test images over their reconstructions from the mean, and decoded interpolations
        between the means of pairs of test images."""
        folder = ctx.run_dir / "plots" / "vae"
        images, _ = ctx.test_images(16)
        mu, _ = self.encode(images)
        save_grid(torch.cat([pixels(images, ctx.meta()), self.decode(mu)]), folder / "reconstructions.png")
        pairs = mu[: 2 * (len(mu) // 2)].view(2, -1, self.latent_dim)[:, :4]
        t = torch.linspace(0, 1, 8, device=ctx.device).view(1, 8, 1)
        path = pairs[0].unsqueeze(1) * (1 - t) + pairs[1].unsqueeze(1) * t
        save_grid(self.decode(path.reshape(-1, self.latent_dim)), folder / "interpolation.png")
        return {}
