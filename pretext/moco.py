"""MoCo: momentum contrast (He et al., CVPR 2020), v2 (Chen, Fan, Girshick & He 2020: an MLP projector, stronger
augmentation, a queue of negatives) and v3 (Chen, Xie & He, ICCV 2021: no queue, a predictor, the other keys of
the batch as negatives, a symmetric loss), one learner with ``version``.

The key encoder is a momentum copy of backbone and projector (no optimizer steps it), its momentum on a cosine
schedule from ``momentum`` to 1 (``after_step``). v2's queue (a buffer, so checkpoints carry it) takes each step's
keys of every rank; its size defaults to the data: the largest power of two up to half the training images, at
most 65,536 (He et al.'s ImageNet size). Published recipes: v2 SGD lr 0.03 x batch / 256, weight decay 1e-4,
temperature 0.2; v3 (ResNet) LARS lr 0.3 x batch / 256, weight decay 1e-6, temperature 0.2 (solo-learn's CIFAR
recipe).

GASSL (Ayush et al., ICCV 2021) is v2 with a geolocation head on the query's projection (ReLU -> Linear to K
k-means clusters of the tiles' locations), its cross-entropy added to InfoNCE: ``gassl`` (``geo_clusters``).
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from pretext.augment import Views
from pretext.base import StepContext
from pretext.joint import JointEmbedding, cosine_momentum, frozen_copy, mlp
from pretext.joint_losses import info_nce
from ssl_toolkit.backbones.base import Backbone
from ssl_toolkit.data.sphere_kmeans import assign, spherical_kmeans
from ssl_toolkit.data.splits import DataSource
from ssl_toolkit.registry import TASKS

MOCO_VIEWS = Views(scale_min=0.2, brightness=0.4, contrast=0.4, saturation=0.4, hue=0.1)  # v2's augmentation
MAX_QUEUE = 65_536


@TASKS.register("moco")
class MoCo(JointEmbedding):
    """Momentum contrast, v2 (queue of negatives) or v3 (predictor, in-batch negatives); cosine momentum to 1."""

    optimizer_recipe = {
        "optim.name": "sgd",
        "optim.lr_per_256": 0.03,
        "optim.momentum": 0.9,
        "optim.weight_decay": 1e-4,
        "optim.decay_norms_and_biases": True,
        "schedule.name": "cosine",
        "schedule.warmup_steps": 0,
    }

    def __init__(
        self,
        backbone: Backbone,
        version: Literal["v2", "v3"] = "v2",
        temperature: float = 0.2,
        momentum: float = 0.99,
        queue_size: int | None = None,
        proj_hidden: int = 2048,
        proj_dim: int = 128,
        projector_bn: bool = True,
        geo_clusters: int = 0,
        views: Views = MOCO_VIEWS,
        temporal_positives: bool = False,
    ) -> None:
        """``queue_size`` None: sized to the data (v2); ``geo_clusters`` > 0: GASSL's geolocation head;
        ``temporal_positives``: the key's view from another acquisition of the place (GASSL's temporal positives)."""
        super().__init__(backbone, views, temporal_positives=temporal_positives)
        if version not in ("v2", "v3"):
            raise ValueError(f"version must be v2 or v3, got {version!r}")
        if temperature <= 0 or not 0 <= momentum <= 1 or (queue_size is not None and queue_size < 1):
            raise ValueError("temperature must be > 0, momentum in [0, 1] and queue_size >= 1")
        if geo_clusters < 0 or geo_clusters == 1:
            raise ValueError(f"geo_clusters must be 0 or at least 2, got {geo_clusters}")
        self.version, self.temperature, self.base_momentum = version, temperature, momentum
        self.queue_size, self.geo_clusters = queue_size, geo_clusters
        layers = 3 if version == "v3" else 2
        self.projector = mlp(
            backbone.num_features, proj_hidden, proj_dim, layers, projector_bn, last_bn=version == "v3"
        )
        self.predictor = mlp(proj_dim, proj_hidden, proj_dim, 2, projector_bn) if version == "v3" else None
        self.key_backbone = frozen_copy(backbone)
        self.key_projector = frozen_copy(self.projector)
        self.register_buffer("queue", torch.zeros(0, proj_dim))
        self.register_buffer("queue_next", torch.zeros((), dtype=torch.long))
        self.register_buffer("queue_filled", torch.zeros((), dtype=torch.long))
        self.geo_head = nn.Sequential(nn.ReLU(), nn.Linear(proj_dim, geo_clusters)) if geo_clusters else None
        self.register_buffer("centres", torch.zeros(geo_clusters, 3, dtype=torch.float64))
        self._keys: torch.Tensor | None = None

    def fit_data(self, data: DataSource) -> None:
        super().fit_data(data)
        if self.version == "v2":
            size = self.queue_size or min(MAX_QUEUE, 2 ** max(0, (len(data.train) // 2).bit_length() - 1))
            self.queue = torch.zeros(size, self.queue.shape[1])  # only the filled rows serve as negatives
        if self.geo_clusters:
            coords = data.train.coords
            if coords is None or torch.isnan(coords).any():
                raise ValueError("the geolocation head needs lat/lon for every training tile")
            lat, lon = coords[:, 0].float(), coords[:, 1].float()
            self.centres.copy_(spherical_kmeans(lat, lon, self.geo_clusters, 0, 25))

    def forward(self, images: torch.Tensor, meta: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        v1, v2 = self.make_views(images, meta)
        n = len(images)
        if self.version == "v3":  # symmetric: each view's query against the other view's key, in-batch negatives
            features = self.backbone(torch.cat([v1, v2]))
            q = self.projector(features)
            with torch.no_grad():
                k = self.key_projector(self.key_backbone(torch.cat([v2, v1])))
            p = self.predictor(q)
            loss = sum(
                info_nce(self.gather(pi), self.gather(ki), self.temperature)
                for pi, ki in zip(p.chunk(2), k.chunk(2), strict=True)
            )
            loss = loss * self.temperature * 2  # MoCo v3 scales each direction's loss by 2 tau
        else:  # v2: the first view's query against the second view's key and the queue
            features = self.backbone(v1)
            q = self.projector(features)
            with torch.no_grad():
                k = self.key_projector(self.key_backbone(v2))
            negatives = self.queue[: int(self.queue_filled)] if int(self.queue_filled) else None
            loss = info_nce(self.gather(q), self.gather(k), self.temperature, negatives)
            self._keys = k.detach()
        out: dict[str, torch.Tensor] = {"online_features": features[:n].detach()}
        if self.geo_head is not None:
            target = assign(meta["lat"].float(), meta["lon"].float(), self.centres)
            logits = self.geo_head(q[:n]).float()
            geo = F.cross_entropy(logits, target)
            out.update(geo_loss=geo.detach(), geo_acc=(logits.argmax(1) == target).float().mean().detach())
            out["info_nce"] = loss.detach()
            loss = loss + geo
        return {"loss": loss, **out}

    def momentum_pairs(self) -> list[tuple[nn.Module, nn.Module]]:
        return [(self.key_backbone, self.backbone), (self.key_projector, self.projector)]

    def momentum(self, fraction: float) -> float:
        return cosine_momentum(self.base_momentum, fraction)

    def after_step(self, ctx: StepContext) -> None:
        super().after_step(ctx)
        if self.version == "v2" and self._keys is not None:
            keys, _ = ctx.all_gather(self._keys)
            self._keys = None
            size = len(self.queue)
            slots = (int(self.queue_next) + torch.arange(len(keys), device=keys.device)) % size
            self.queue[slots] = (
                F.normalize(keys[-size:].float(), dim=1) if len(keys) > size else F.normalize(keys.float(), dim=1)
            )
            self.queue_next.fill_((int(self.queue_next) + len(keys)) % size)
            self.queue_filled.fill_(min(size, int(self.queue_filled) + len(keys)))


@TASKS.register("gassl")
class GASSL(MoCo):
    """Geography-aware SSL (Ayush et al. 2021): MoCo v2 plus a geolocation head on the projection (K clusters)."""

    needs_coords = True

    def __init__(
        self,
        backbone: Backbone,
        temperature: float = 0.2,
        momentum: float = 0.99,
        queue_size: int | None = None,
        proj_hidden: int = 2048,
        proj_dim: int = 128,
        projector_bn: bool = True,
        geo_clusters: int = 100,
        views: Views = MOCO_VIEWS,
        temporal_positives: bool = False,
    ) -> None:
        super().__init__(
            backbone,
            "v2",
            temperature,
            momentum,
            queue_size,
            proj_hidden,
            proj_dim,
            projector_bn,
            geo_clusters,
            views,
            temporal_positives,
        )
