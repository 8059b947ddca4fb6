"""VICReg (Bardes, Ponce & LeCun, ICLR 2022, "Variance-Invariance-Covariance Regularization"): the two views'
embeddings are pulled together (invariance 25), each dimension's std kept above 1 (variance 25) and the
dimensions decorrelated (covariance 1). A 3-layer 2048-wide expander (8192 in the paper). Published recipe:
LARS, lr 0.3 x batch / 256 (base 0.2 at 256 in the paper's code), weight decay 1e-6.
"""

from __future__ import annotations

import torch

from pretext.augment import Views
from pretext.byol import BYOL_VIEWS
from pretext.joint import JointEmbedding, mlp
from pretext.joint_losses import vicreg
from pretext.simclr import LARS_RECIPE
from ssl_toolkit.backbones.base import Backbone
from ssl_toolkit.registry import TASKS


@TASKS.register("vicreg")
class VICReg(JointEmbedding):
    """Variance, invariance and covariance terms on two views' embeddings (Bardes et al. 2022)."""

    optimizer_recipe = {**LARS_RECIPE, "optim.lr_per_256": 0.3, "optim.weight_decay": 1e-6}

    def __init__(
        self,
        backbone: Backbone,
        invariance: float = 25.0,
        variance: float = 25.0,
        covariance: float = 1.0,
        proj_hidden: int = 2048,
        proj_dim: int = 2048,
        projector_bn: bool = True,
        views: Views = BYOL_VIEWS,
        temporal_positives: bool = False,
    ) -> None:
        super().__init__(backbone, views, temporal_positives=temporal_positives)
        if min(invariance, variance, covariance) < 0:
            raise ValueError("invariance, variance and covariance weights must be >= 0")
        self.weights = (invariance, variance, covariance)
        self.projector = mlp(backbone.num_features, proj_hidden, proj_dim, 3, projector_bn)

    def forward(self, images: torch.Tensor, meta: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        v1, v2 = self.make_views(images, meta)
        features = self.backbone(torch.cat([v1, v2]))
        z1, z2 = self.projector(features).chunk(2)
        loss, terms = vicreg(self.gather(z1), self.gather(z2), *self.weights)
        return {
            "loss": loss,
            **{f"{k}_loss": v for k, v in terms.items()},
            "online_features": features[: len(images)].detach(),
        }
