"""Normalisation choices for a backbone, and the spectral-norm wrapping a GAN critic may ask for.

``layer`` replaces every batch-norm layer by a per-sample normalisation over (C, H, W), i.e. layer norm on
feature maps (``GroupNorm`` with one group, per-channel scale and shift). WGAN-GP needs it: its gradient
penalty is taken per sample, and batch norm makes each sample's score depend on the rest of the batch
(Gulrajani et al. 2017, section 4). timm's fused norm+activation layers keep their activation. The replaced
layer keeps its ``weight``/``bias`` names; it has no running statistics, so such weights load only into a
backbone built with the same ``norm`` (the run's config records it).

``spectral_norm`` divides each conv and linear weight by its largest singular value, estimated by one power
iteration per training forward (Miyato et al. 2018).
``plain_state_dict`` gives the weights with the parametrizations folded in, under the names a plain model
uses: what exported backbones hold.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import spectral_norm

NORMS = ("batch", "layer")


class LayerNorm2d(nn.GroupNorm):
    """Layer norm over (C, H, W) of each sample, with per-channel affine; ``act`` and ``drop`` run after it
    (kept from a fused timm norm+activation layer, identities otherwise)."""

    def __init__(self, num_channels: int, eps: float, act: nn.Module | None = None, drop: nn.Module | None = None):
        super().__init__(1, num_channels, eps=eps)
        self.drop = drop if drop is not None else nn.Identity()
        self.act = act if act is not None else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 2:  # a BatchNorm1d's (B, C) input: normalise over C
            x = super().forward(x.unsqueeze(-1)).squeeze(-1)
        else:
            x = super().forward(x)
        return self.act(self.drop(x))


def use_layer_norm(module: nn.Module) -> int:
    """Replace every batch-norm layer inside ``module`` (in place); returns how many were replaced."""
    replaced = 0
    for parent in list(module.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.modules.batchnorm._BatchNorm):
                norm = LayerNorm2d(
                    child.num_features, child.eps, getattr(child, "act", None), getattr(child, "drop", None)
                )
                if child.affine:
                    with torch.no_grad():
                        norm.weight.copy_(child.weight)
                        norm.bias.copy_(child.bias)
                setattr(parent, name, norm)
                replaced += 1
    return replaced


def apply_norm(module: nn.Module, norm: str) -> nn.Module:
    """``batch``: unchanged; ``layer``: batch norms replaced (a backbone without any is unchanged)."""
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {', '.join(NORMS)}, got {norm!r}")
    if norm == "layer":
        use_layer_norm(module)
    return module


def add_spectral_norm(module: nn.Module) -> int:
    """Spectral-normalise the weight of every conv and linear layer inside ``module``; returns the count."""
    layers = [
        m for m in module.modules() if isinstance(m, (nn.Conv2d, nn.Linear)) and not parametrize.is_parametrized(m)
    ]
    for layer in layers:
        spectral_norm(layer)
    return len(layers)


def plain_state_dict(module: nn.Module) -> dict[str, torch.Tensor]:
    """``module.state_dict()`` with each parametrized weight (spectral norm) folded into a plain tensor under the
    plain name. Computed in eval mode, so it runs no power iteration and changes nothing in ``module``."""
    state = module.state_dict()
    parametrized = [(prefix, m) for prefix, m in module.named_modules() if parametrize.is_parametrized(m)]
    if not parametrized:
        return state
    modes = {m: m.training for m in module.modules()}
    module.eval()
    try:
        with torch.no_grad():
            for prefix, m in parametrized:
                dot = f"{prefix}." if prefix else ""
                for name in m.parametrizations:
                    inner = f"{dot}parametrizations.{name}."
                    state = {k: v for k, v in state.items() if not k.startswith(inner)}
                    state[f"{dot}{name}"] = getattr(m, name).detach().clone()
    finally:
        for m, training in modes.items():
            m.training = training
    return state
