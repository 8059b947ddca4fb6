"""Any timm model as a backbone: ``timm.create_model(name, num_classes=0, in_chans=C)``, pooled features.

Weights are exported under timm's own names, so ``backbone.safetensors`` loads into a plain
``timm.create_model(name, num_classes=0, in_chans=C)``. Nothing is downloaded: ``pretrained`` is always False.
"""

from __future__ import annotations

import timm
import torch
from torch import nn

from ssl_toolkit.backbones.base import Backbone


class TimmBackbone(Backbone):
    def __init__(self, name: str, in_chans: int = 3, img_size: int | None = None) -> None:
        super().__init__()
        kwargs = {"img_size": img_size} if img_size is not None else {}
        self.model = timm.create_model(name, pretrained=False, num_classes=0, in_chans=in_chans, **kwargs)
        self.name = name
        self.in_chans = in_chans
        self.num_features = int(self.model.num_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.forward_features(x)

    def _export_module(self) -> nn.Module:
        return self.model
