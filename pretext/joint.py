"""What the joint-embedding learners share: augmented views drawn on the device (``augment``), MLP heads, a
momentum copy of the online network, and losses over every rank's rows.

A learner subclasses ``JointEmbedding`` and implements ``forward`` on the views; the engine's default training
step and the contract's ``after_step`` hook are enough (a momentum encoder and a queue are updated there), so
these learners combine with other tasks (``moco+geolocation``). Their losses are computed over the rows of every
rank, gathered with ``self.context.all_gather`` (``loss_over_ranks``), so N processes with a global batch B
train like one process with B.
"""

from __future__ import annotations

import copy
import math

import torch
from torch import nn

from pretext.augment import Augment, Views, ViewSpec, step_seed
from pretext.base import PretextTask, StepContext
from ssl_toolkit.backbones.base import Backbone
from ssl_toolkit.data.revisits import revisits_of
from ssl_toolkit.data.splits import DataSource


def mlp(
    in_dim: int, hidden: int, out: int, layers: int = 2, batch_norm: bool = True, last_bn: bool = False
) -> nn.Sequential:
    """``layers`` linear layers: hidden ones with batch norm (when ``batch_norm``) and ReLU; ``last_bn`` adds an
    affine-free batch norm after the last (MoCo v3's and Barlow Twins' projectors)."""
    parts: list[nn.Module] = []
    dim = in_dim
    for _ in range(layers - 1):
        parts += [nn.Linear(dim, hidden, bias=not batch_norm)]
        parts += [nn.BatchNorm1d(hidden)] if batch_norm else []
        parts += [nn.ReLU(inplace=True)]
        dim = hidden
    parts.append(nn.Linear(dim, out, bias=not (batch_norm and last_bn)))
    if batch_norm and last_bn:
        parts.append(nn.BatchNorm1d(out, affine=False))
    return nn.Sequential(*parts)


def cosine_momentum(base: float, fraction: float) -> float:
    """A momentum rising from ``base`` at the start to 1 at the end on a cosine (BYOL's schedule)."""
    return 1 - (1 - base) * (math.cos(math.pi * min(max(fraction, 0.0), 1.0)) + 1) / 2


@torch.no_grad()
def ema_update(target: nn.Module, online: nn.Module, momentum: float) -> None:
    """target <- momentum x target + (1 - momentum) x online, parameter by parameter (a target's batch-norm
    statistics are its own, from its forward passes)."""
    for t, o in zip(target.parameters(), online.parameters(), strict=True):
        t.mul_(momentum).add_(o.detach(), alpha=1 - momentum)


def frozen_copy(module: nn.Module) -> nn.Module:
    """A copy no optimizer steps (``requires_grad=False``), updated by ``ema_update``."""
    target = copy.deepcopy(module)
    for p in target.parameters():
        p.requires_grad_(False)
    return target


class JointEmbedding(PretextTask):
    """Base of the joint-embedding learners: two views of every image (and ``local_views`` smaller ones)."""

    loss_over_ranks = True
    local_scale = (0.05, 0.4)  # DINO's local crops

    def __init__(
        self, backbone: Backbone, views: Views, local_views: int = 0, temporal_positives: bool = False
    ) -> None:
        """``temporal_positives``: the second view is drawn from another acquisition of the sample's place (GASSL,
        Ayush et al. 2021; see ``ssl_toolkit.data.revisits``) instead of from the sample itself."""
        super().__init__(backbone)
        views.check()
        if local_views < 0:
            raise ValueError(f"local_views must be >= 0, got {local_views}")
        self.views, self.local_views = views, local_views
        self.temporal_positives = temporal_positives
        self.augment = Augment(rgb=True)
        self.size = 0  # the data's image size, set by fit_data

    def fit_data(self, data: DataSource) -> None:
        """Views of the data's size; RGB colour transforms only for 3-band data (see ``augment``); with temporal
        positives, the training split's revisits (a ValueError when no place was taken twice)."""
        self.augment = Augment(rgb=data.in_chans == 3)
        self.size = data.img_size
        if self.temporal_positives:
            self.revisits = revisits_of(data.train, f"data '{data.name}'")

    def view_specs(self, images: torch.Tensor) -> list[ViewSpec]:
        """Two global views at the image size, then the local ones at about 0.43 of it (DINO's 96 of 224 px),
        rounded to 8 px."""
        size = self.size or images.shape[-1]
        specs = [self.views.spec(size), self.second_view(size)]
        local = max(8, int(round(size * 96 / 224 / 8)) * 8)
        specs += [self.views.spec(local, scale=self.local_scale)] * self.local_views
        return specs

    def second_view(self, size: int) -> ViewSpec:
        """The second global view (the same recipe unless a learner's is asymmetric, as BYOL's)."""
        return self.views.spec(size)

    def make_views(self, images: torch.Tensor, meta: dict[str, torch.Tensor]) -> list[torch.Tensor]:
        """The views of this batch. Their random parameters come from a generator seeded by (run seed, step),
        drawn for the whole global batch and cut to this rank's rows: a resumed run draws the same views, and N
        processes draw those of one."""
        partner = meta.get("partner_images") if self.temporal_positives else None
        specs = self.view_specs(images)
        return self.augment(images, meta, specs, step_seed(self.context), tuple(self.context.rows), second=partner)

    def gather(self, tensor: torch.Tensor) -> torch.Tensor:
        """Every rank's rows of ``tensor`` (one process: itself), with gradients to this rank's rows."""
        return self.context.all_gather(tensor)[0]

    def examples(self, images: torch.Tensor, meta: dict[str, torch.Tensor]) -> tuple[list[torch.Tensor], list[str]]:
        """Each image beside its views, for ``ssl show``."""
        views = self.make_views(images, meta)
        panels, captions = [], []
        for i in range(len(images)):
            panels += [images[i].cpu()] + [v[i].cpu() for v in views]
            captions += ["image"] + [f"view {j + 1} ({v.shape[-1]} px)" for j, v in enumerate(views)]
        return panels, captions

    def after_step(self, ctx: StepContext) -> None:
        """Momentum copies follow their online networks (learners that keep one override ``momentum_pairs``)."""
        momentum = self.momentum(ctx.fraction_done)
        for target, online in self.momentum_pairs():
            ema_update(target, online, momentum)

    def momentum_pairs(self) -> list[tuple[nn.Module, nn.Module]]:
        return []

    def momentum(self, fraction: float) -> float:
        return 0.0
