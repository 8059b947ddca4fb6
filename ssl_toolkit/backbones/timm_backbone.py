"""Any timm model as a backbone: ``timm.create_model(name, num_classes=0, in_chans=C)``, pooled features.

Weights are exported under timm's own names, so ``backbone.safetensors`` loads into a plain
``timm.create_model(name, num_classes=0, in_chans=C)`` (with the same stem). Nothing is downloaded:
``pretrained`` is always False.

Stems for small images (ResNets; ``backbone.stem``). The ImageNet stem (a 7x7 stride-2 conv and a stride-2
max-pool) leaves a 64 px tile 2x2 at the last stage and an 18 px jigsaw tile 1x1:

- ``default``: as built (total stride 32); for images of 128 px and more.
- ``medium``: a 3x3 stride-1 conv and the max-pool (total stride 16: 4x4 at 64 px, about 4x the compute).
- ``small``: a 3x3 stride-1 conv and no max-pool (total stride 8: 8x8 at 64 px, about 16x the compute), the
  CIFAR stem of solo-learn, for 32 px images.

``backbone.width`` scales a ResNet's channels (compute by its square): 0.5 with the ``medium`` stem has the FLOPs
of the full-width default stem, at twice the resolution of every feature map (on a CPU it ran 2.2x slower a step:
four times the activations to move).
"""

from __future__ import annotations

import timm
import torch
from torch import nn

from ssl_toolkit.backbones.base import Backbone


class TimmBackbone(Backbone):
    def __init__(
        self, name: str, in_chans: int = 3, img_size: int | None = None, stem: str = "default", width: float = 1.0
    ) -> None:
        super().__init__()
        kwargs: dict = {"img_size": img_size} if img_size is not None else {}
        if width != 1.0:  # timm ResNets take their stage widths: (64, 128, 256, 512) x width
            if not name.startswith(("resnet", "resnext", "wide_resnet")):
                raise ValueError(f"backbone.width applies to timm ResNets, not {name}")
            kwargs["channels"] = tuple(max(8, int(round(c * width))) for c in (64, 128, 256, 512))
            kwargs["stem_width"] = max(8, int(round(64 * width)))
        self.model = timm.create_model(name, pretrained=False, num_classes=0, in_chans=in_chans, **kwargs)
        if stem != "default":
            conv = getattr(self.model, "conv1", None)
            if not isinstance(conv, nn.Conv2d) or not hasattr(self.model, "maxpool"):
                raise ValueError(f"backbone.stem={stem} needs a ResNet with conv1 and maxpool, not {name}")
            self.model.conv1 = nn.Conv2d(in_chans, conv.out_channels, 3, 1, 1, bias=False)
            if stem == "small":
                self.model.maxpool = nn.Identity()
        self.name = name
        self.in_chans = in_chans
        self.num_features = int(self.model.num_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.forward_features(x)

    def forward_pyramid(self, x: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        """timm's ``forward_intermediates`` (the stem's maps and each stage's) and the pooled head on its final
        features."""
        final, maps = self.model.forward_intermediates(x)
        return list(maps), self.model.forward_head(final)

    def _export_module(self) -> nn.Module:
        return self.model
