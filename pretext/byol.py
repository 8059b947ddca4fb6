"""BYOL (Grill et al., NeurIPS 2020, "Bootstrap Your Own Latent"): an online network (backbone, projector,
predictor) regresses a momentum target network's projection of the other view; no negatives. The target's
momentum rises from ``momentum`` (0.996 in the paper; 0.99 in solo-learn's CIFAR recipe) to 1 on a cosine.
Views are asymmetric: the first always blurred, the second rarely blurred and sometimes solarized (blur keyed on
image size, see ``augment.Views``). Published recipe: LARS, lr 0.2 x batch / 256, weight decay 1.5e-6 (none on
norms and biases), 4096-wide MLPs to 256 dimensions.
"""

from __future__ import annotations

import torch
from torch import nn

from pretext.augment import Views, ViewSpec
from pretext.joint import JointEmbedding, cosine_momentum, frozen_copy, mlp
from pretext.joint_losses import negative_cosine
from pretext.simclr import LARS_RECIPE
from ssl_toolkit.backbones.base import Backbone
from ssl_toolkit.registry import TASKS

BYOL_VIEWS = Views(brightness=0.4, contrast=0.4, saturation=0.2, hue=0.1)


@TASKS.register("byol")
class BYOL(JointEmbedding):
    """Online network regresses a momentum target's projection of the other view (Grill et al. 2020)."""

    optimizer_recipe = {**LARS_RECIPE, "optim.lr_per_256": 0.2, "optim.weight_decay": 1.5e-6}

    def __init__(
        self,
        backbone: Backbone,
        momentum: float = 0.99,
        proj_hidden: int = 4096,
        proj_dim: int = 256,
        projector_bn: bool = True,
        views: Views = BYOL_VIEWS,
        temporal_positives: bool = False,
    ) -> None:
        super().__init__(backbone, views, temporal_positives=temporal_positives)
        if not 0 <= momentum <= 1:
            raise ValueError(f"momentum must be in [0, 1], got {momentum}")
        self.base_momentum = momentum
        self.projector = mlp(backbone.num_features, proj_hidden, proj_dim, 2, projector_bn)
        self.predictor = mlp(proj_dim, proj_hidden, proj_dim, 2, projector_bn)
        self.target_backbone = frozen_copy(backbone)
        self.target_projector = frozen_copy(self.projector)

    def view_specs(self, images: torch.Tensor) -> list[ViewSpec]:
        size = self.size or images.shape[-1]
        blurred = self.views.blur if self.views.blur is not None else (1.0 if size > 64 else 0.0)
        rare = self.views.blur if self.views.blur is not None else (0.1 if size > 64 else 0.0)
        return [self.views.spec(size, blur=blurred), self.views.spec(size, blur=rare, solarize=0.2)]

    def forward(self, images: torch.Tensor, meta: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        v1, v2 = self.make_views(images, meta)
        n = len(images)
        features = self.backbone(torch.cat([v1, v2]))
        p = self.predictor(self.projector(features))
        with torch.no_grad():
            z = self.target_projector(self.target_backbone(torch.cat([v2, v1])))
        loss = negative_cosine(self.gather(p), self.gather(z))
        return {"loss": loss, "online_features": features[:n].detach()}

    def momentum_pairs(self) -> list[tuple[nn.Module, nn.Module]]:
        return [(self.target_backbone, self.backbone), (self.target_projector, self.projector)]

    def momentum(self, fraction: float) -> float:
        return cosine_momentum(self.base_momentum, fraction)
