"""GAN objectives on discriminator outputs (raw scores, B or B x 1), and the WGAN-GP gradient penalty.

Each objective gives the discriminator's loss on (real, fake) scores and the generator's loss on fake scores:

- ``minimax`` (Goodfellow et al. 2014): D maximises log D(x) + log(1 - D(G(z))); G minimises log(1 - D(G(z))),
  which saturates when D wins early.
- ``non_saturating`` (same paper): G maximises log D(G(z)) instead; same fixed point, strong early gradients.
- ``lsgan`` (Mao et al. 2017): least squares towards 1 (real) and 0 (fake); G pulls fakes towards 1.
- ``wgan`` (Arjovsky et al. 2017): the critic maximises E[D(x)] - E[D(G(z))]; G maximises E[D(G(z))]. Needs a
  Lipschitz critic: weight clipping, or the gradient penalty of WGAN-GP (Gulrajani et al. 2017).
- ``hinge`` (Lim & Ye 2017; Miyato et al. 2018): D uses max(0, 1 - D(x)) + max(0, 1 + D(G(z))); G maximises D(G(z)).

``real_label`` below 1 is one-sided label smoothing (Salimans et al. 2016: 0.9); per-sample labels drawn near
1 and 0 are soft (two-sided, noisy) smoothing. Both apply to the cross-entropy and least-squares objectives.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

OBJECTIVES = ("minimax", "non_saturating", "lsgan", "wgan", "hinge")


def discriminator_loss(
    objective: str,
    real: torch.Tensor,
    fake: torch.Tensor,
    real_label: float | torch.Tensor = 1.0,
    fake_label: float | torch.Tensor = 0.0,
) -> torch.Tensor:
    """Labels (a number, or one per sample for soft label smoothing) apply to the cross-entropy and
    least-squares objectives."""
    real, fake = real.float().flatten(), fake.float().flatten()
    real_t = torch.as_tensor(real_label, dtype=real.dtype, device=real.device).expand_as(real)
    fake_t = torch.as_tensor(fake_label, dtype=fake.dtype, device=fake.device).expand_as(fake)
    if objective in ("minimax", "non_saturating"):
        return F.binary_cross_entropy_with_logits(real, real_t) + F.binary_cross_entropy_with_logits(fake, fake_t)
    if objective == "lsgan":
        return 0.5 * ((real - real_t) ** 2).mean() + 0.5 * ((fake - fake_t) ** 2).mean()
    if objective == "wgan":
        return fake.mean() - real.mean()
    if objective == "hinge":
        return F.relu(1 - real).mean() + F.relu(1 + fake).mean()
    raise ValueError(f"objective must be one of {', '.join(OBJECTIVES)}, got {objective!r}")


def generator_loss(objective: str, fake: torch.Tensor) -> torch.Tensor:
    fake = fake.float().flatten()
    if objective == "minimax":
        return -F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake))  # = mean log(1 - D(G(z)))
    if objective == "non_saturating":
        return F.binary_cross_entropy_with_logits(fake, torch.ones_like(fake))  # = -mean log D(G(z))
    if objective == "lsgan":
        return 0.5 * ((fake - 1) ** 2).mean()
    if objective in ("wgan", "hinge"):
        return -fake.mean()
    raise ValueError(f"objective must be one of {', '.join(OBJECTIVES)}, got {objective!r}")


def gradient_penalty(
    critic: Callable[[torch.Tensor], torch.Tensor],
    real: torch.Tensor,
    fake: torch.Tensor,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """WGAN-GP: mean over the batch of (||grad_x D(x_hat)||_2 - 1)^2 at random points x_hat between real and fake."""
    alpha = torch.rand(real.shape[0], *([1] * (real.ndim - 1)), device=real.device, generator=generator)
    mixed = (alpha * real.detach() + (1 - alpha) * fake.detach()).requires_grad_(True)
    scores = critic(mixed).float().sum()
    (grad,) = torch.autograd.grad(scores, mixed, create_graph=True)
    return ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()
