"""SimCLR (Chen, Kornblith, Norouzi & Hinton, ICML 2020, "A Simple Framework for Contrastive Learning of Visual
Representations"): two views of every image, a projection MLP, and NT-Xent over the 2N projections of the whole
(gathered) batch. Published recipe: LARS, lr 0.3 x batch / 256, weight decay 1e-6 (none on norms and biases),
temperature 0.1-0.5 (0.2 here, solo-learn's CIFAR recipe), a 2-layer projector to 128 dimensions.
"""

from __future__ import annotations

import torch

from pretext.augment import Views
from pretext.joint import JointEmbedding, mlp
from pretext.joint_losses import nt_xent
from ssl_toolkit.backbones.base import Backbone
from ssl_toolkit.registry import TASKS

SIMCLR_VIEWS = Views()  # crop scale 0.08-1, colour jitter 0.8 of strength 1 (0.8, 0.8, 0.8, 0.2), gray 0.2

LARS_RECIPE = {
    "optim.name": "lars",
    "optim.momentum": 0.9,
    "optim.decay_norms_and_biases": False,
    "schedule.name": "cosine",
    "schedule.warmup_steps": 0,
}


@TASKS.register("simclr")
class SimCLR(JointEmbedding):
    """Contrastive: NT-Xent over two views of every image, projection MLP (Chen et al. 2020)."""

    optimizer_recipe = {**LARS_RECIPE, "optim.lr_per_256": 0.3, "optim.weight_decay": 1e-6}

    def __init__(
        self,
        backbone: Backbone,
        temperature: float = 0.2,
        proj_hidden: int = 2048,
        proj_dim: int = 128,
        projector_bn: bool = True,
        views: Views = SIMCLR_VIEWS,
        temporal_positives: bool = False,
    ) -> None:
        """``temperature`` of the softmax over cosine similarities; ``projector_bn``: batch norm in the projector
        (off for exact equality of N processes and one, since a rank's batch norm sees its shard only)."""
        super().__init__(backbone, views, temporal_positives=temporal_positives)
        if temperature <= 0 or proj_hidden < 1 or proj_dim < 1:
            raise ValueError("temperature must be > 0 and the projector sizes >= 1")
        self.temperature = temperature
        self.projector = mlp(backbone.num_features, proj_hidden, proj_dim, 2, projector_bn)

    def forward(self, images: torch.Tensor, meta: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        v1, v2 = self.make_views(images, meta)
        f1 = self.backbone(torch.cat([v1, v2]))
        z = self.projector(f1)
        z1, z2 = z.chunk(2)
        loss = nt_xent(self.gather(z1), self.gather(z2), self.temperature)
        return {"loss": loss, "online_features": f1[: len(images)].detach()}
