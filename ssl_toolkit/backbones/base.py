"""The backbone contract, defined once.

A backbone maps float images (B, C, H, W) to pooled features (B, num_features): ``forward``. Where a task needs
what comes before the pooling, ``forward_features`` gives the unpooled output of the last stage: feature maps
(B, C', h, w) of a convolutional net, tokens (B, N, D) of a vision transformer (timm's ``forward_features``).
``forward_pyramid`` gives the maps of every stage, finest first, and the pooled features of the same pass (what
a U-Net needs: skip connections, and the representation itself at its bottleneck). Tasks and probes see only
``num_features``, ``in_chans`` and these; they never reach inside.
``export_state_dict`` gives the weights under the names a plain model of that name uses (what
``backbone.safetensors`` holds).
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import nn

from ssl_toolkit.backbones.norms import plain_state_dict


class Backbone(nn.Module):
    num_features: int
    in_chans: int
    name: str

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The unpooled output of the last stage: (B, C', h, w) maps or (B, N, D) tokens."""
        raise NotImplementedError(f"backbone {self.name} gives no unpooled features")

    def forward_pyramid(self, x: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        """(the feature maps (B, C_i, h_i, w_i) of each stage, finest first; the pooled features (B, F) that
        ``forward`` gives), from one pass."""
        raise NotImplementedError(f"backbone {self.name} gives no feature pyramid")

    def export_state_dict(self) -> dict[str, torch.Tensor]:
        """The weights under plain names; spectral-norm parametrizations (a GAN critic's) folded in."""
        return plain_state_dict(self._export_module())

    def load_export(self, state: dict[str, torch.Tensor]) -> None:
        """Load weights saved by ``export_state_dict``; missing or unexpected names, or other shapes, raise a
        ValueError naming the first of them."""
        own = self._export_module().state_dict()
        shapes = [
            f"{k} {tuple(v.shape)} in the file, {tuple(own[k].shape)} here"
            for k, v in state.items()
            if k in own and tuple(v.shape) != tuple(own[k].shape)
        ]
        if shapes:
            raise ValueError(
                f"shapes differ: {'; '.join(shapes[:3])}" + (f" (+{len(shapes) - 3} more)" if len(shapes) > 3 else "")
            )
        missing, unexpected = self._export_module().load_state_dict(state, strict=False)
        if missing or unexpected:
            raise ValueError(f"missing keys {missing[:4]}, unexpected keys {unexpected[:4]}")

    def export_named_parameters(self) -> Iterator[tuple[str, nn.Parameter]]:
        """Parameters under their exported names (the seed probe selects by these names)."""
        return self._export_module().named_parameters()

    def _export_module(self) -> nn.Module:
        return self
