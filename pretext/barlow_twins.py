"""Barlow Twins (Zbontar, Jing, Misra, LeCun & Deny, ICML 2021): the cross-correlation matrix of the two views'
batch-standardised projections is pushed towards the identity, decorrelating the dimensions; no negatives, no
momentum network. Off-diagonal weight 5e-3 (0.0051 in the paper); a 3-layer projector (8192 wide in the paper,
2048 here, solo-learn's CIFAR width). Published recipe: LARS, lr 0.2 x batch / 256, weight decay 1.5e-6.
"""

from __future__ import annotations

import torch

from pretext.augment import Views
from pretext.byol import BYOL_VIEWS
from pretext.joint import JointEmbedding, mlp
from pretext.joint_losses import barlow_twins
from pretext.simclr import LARS_RECIPE
from ssl_toolkit.backbones.base import Backbone
from ssl_toolkit.registry import TASKS


@TASKS.register("barlow_twins")
class BarlowTwins(JointEmbedding):
    """Cross-correlation of two views' embeddings towards the identity (Zbontar et al. 2021)."""

    optimizer_recipe = {**LARS_RECIPE, "optim.lr_per_256": 0.2, "optim.weight_decay": 1.5e-6}

    def __init__(
        self,
        backbone: Backbone,
        off_diagonal: float = 5e-3,
        proj_hidden: int = 2048,
        proj_dim: int = 2048,
        projector_bn: bool = True,
        views: Views = BYOL_VIEWS,
        temporal_positives: bool = False,
    ) -> None:
        super().__init__(backbone, views, temporal_positives=temporal_positives)
        if off_diagonal < 0:
            raise ValueError(f"off_diagonal must be >= 0, got {off_diagonal}")
        self.off_diagonal = off_diagonal
        self.projector = mlp(backbone.num_features, proj_hidden, proj_dim, 3, projector_bn)

    def forward(self, images: torch.Tensor, meta: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        v1, v2 = self.make_views(images, meta)
        features = self.backbone(torch.cat([v1, v2]))
        z1, z2 = self.projector(features).chunk(2)
        loss = barlow_twins(self.gather(z1), self.gather(z2), self.off_diagonal)
        return {"loss": loss, "online_features": features[: len(images)].detach()}
