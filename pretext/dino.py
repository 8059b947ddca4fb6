"""DINO (Caron et al., ICCV 2021, "Emerging Properties in Self-Supervised Vision Transformers"): a student network
matches a momentum teacher's centred, sharpened output distribution over K prototypes, across multi-crop views
(2 global views for the teacher; the student sees those and ``local_views`` small ones). Centring (momentum 0.9)
and sharpening (teacher temperature warming from 0.04 to 0.07 over the first 30% of training, student 0.1)
keep it from collapsing. The head: a 3-layer MLP to a 256-d bottleneck, L2-normalised, then a weight-normalised
linear layer to K outputs (65,536 in the paper, 4,096 here). Teacher momentum 0.996 to 1 on a cosine. Published
ResNet-50 recipe (the DINO repository): LARS, lr 0.3 x batch / 256, weight decay 1e-6, global crops 0.14-1,
local crops 0.05-0.14, 6 local views.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from pretext.augment import Views, ViewSpec
from pretext.base import StepContext
from pretext.joint import JointEmbedding, cosine_momentum, frozen_copy, mlp
from pretext.joint_losses import dino
from pretext.simclr import LARS_RECIPE
from ssl_toolkit.backbones.base import Backbone
from ssl_toolkit.registry import TASKS

DINO_VIEWS = Views(scale_min=0.14, brightness=0.4, contrast=0.4, saturation=0.2, hue=0.1)


class DinoHead(nn.Module):
    def __init__(self, in_dim: int, hidden: int, bottleneck: int, out: int, batch_norm: bool) -> None:
        super().__init__()
        self.mlp = mlp(in_dim, hidden, bottleneck, 3, batch_norm)
        self.last = nn.utils.parametrizations.weight_norm(nn.Linear(bottleneck, out, bias=False))
        with torch.no_grad():
            self.last.parametrizations.weight.original0.fill_(1.0)  # the norm of each prototype: fixed at 1
        self.last.parametrizations.weight.original0.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.last(F.normalize(self.mlp(x), dim=1))


@TASKS.register("dino")
class DINO(JointEmbedding):
    """Self-distillation: a student matches a momentum teacher's centred, sharpened outputs; multi-crop."""

    optimizer_recipe = {**LARS_RECIPE, "optim.lr_per_256": 0.3, "optim.weight_decay": 1e-6}
    local_scale = (0.05, 0.14)

    def __init__(
        self,
        backbone: Backbone,
        out_dim: int = 4096,
        hidden: int = 2048,
        bottleneck: int = 256,
        student_temperature: float = 0.1,
        teacher_temperature: float = 0.07,
        warmup_teacher_temperature: float = 0.04,
        warmup_fraction: float = 0.3,
        center_momentum: float = 0.9,
        momentum: float = 0.996,
        local_views: int = 6,
        projector_bn: bool = True,
        views: Views = DINO_VIEWS,
    ) -> None:
        super().__init__(backbone, views, local_views)
        if min(student_temperature, teacher_temperature, warmup_teacher_temperature) <= 0:
            raise ValueError("temperatures must be > 0")
        if not 0 <= warmup_fraction <= 1 or not 0 <= center_momentum <= 1 or not 0 <= momentum <= 1:
            raise ValueError("warmup_fraction, center_momentum and momentum must be in [0, 1]")
        self.student_t, self.teacher_t, self.warmup_t = (
            student_temperature,
            teacher_temperature,
            warmup_teacher_temperature,
        )
        self.warmup_fraction, self.center_momentum, self.base_momentum = warmup_fraction, center_momentum, momentum
        self.head = DinoHead(backbone.num_features, hidden, bottleneck, out_dim, projector_bn)
        self.teacher_backbone = frozen_copy(backbone)
        self.teacher_head = frozen_copy(self.head)
        self.register_buffer("center", torch.zeros(1, out_dim))
        self._teacher_mean: torch.Tensor | None = None

    def second_view(self, size: int) -> ViewSpec:
        return self.views.spec(size, solarize=0.2)

    def teacher_temperature(self, fraction: float) -> float:
        """Linear warm-up from ``warmup_teacher_temperature`` to ``teacher_temperature`` over ``warmup_fraction``."""
        if self.warmup_fraction == 0 or fraction >= self.warmup_fraction:
            return self.teacher_t
        return self.warmup_t + (self.teacher_t - self.warmup_t) * fraction / self.warmup_fraction

    def forward(self, images: torch.Tensor, meta: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        views = self.make_views(images, meta)
        n = len(images)
        global_features = self.backbone(torch.cat(views[:2]))
        student = list(self.head(global_features).chunk(2))
        if len(views) > 2:
            student += list(self.head(self.backbone(torch.cat(views[2:]))).chunk(len(views) - 2))
        with torch.no_grad():
            teacher = self.teacher_head(self.teacher_backbone(torch.cat(views[:2])))
            self._teacher_mean = self.gather(teacher).mean(0, keepdim=True)
        temperature = self.teacher_temperature(self.context.fraction_done)
        loss = dino(
            [self.gather(s) for s in student],
            [self.gather(t) for t in teacher.chunk(2)],
            self.center,
            self.student_t,
            temperature,
        )
        return {"loss": loss, "online_features": global_features[:n].detach()}

    def momentum_pairs(self) -> list[tuple[nn.Module, nn.Module]]:
        return [(self.teacher_backbone, self.backbone), (self.teacher_head, self.head)]

    def momentum(self, fraction: float) -> float:
        return cosine_momentum(self.base_momentum, fraction)

    def after_step(self, ctx: StepContext) -> None:
        super().after_step(ctx)
        if self._teacher_mean is not None:  # the mean teacher output of the whole batch: the same on every rank
            self.center.mul_(self.center_momentum).add_(self._teacher_mean, alpha=1 - self.center_momentum)
            self._teacher_mean = None
