"""The pretext-task contract: everything a task may rely on, and everything the engine may call, in one place.

A task is an ``nn.Module`` that owns its heads (a GAN its generator, a VAE its decoder) and gets the shared
backbone, which it uses only through the backbone contract (``backbones.base``): ``backbone(x) -> (B, F)``,
and ``forward_features`` where a task needs the unpooled maps or tokens.

The engine calls, per training step, ``training_step(images, meta, ctx)`` (by default one optimizer step on
``forward``'s ``loss``) and then ``after_step(ctx)``. Learners that need several optimizers (GANs) override
``optimizer_groups`` and ``training_step`` and call ``ctx.step(loss, group)`` in the order they want; the loop
itself never changes. A task may hold modules no optimizer steps (a momentum encoder: parameters with
``requires_grad=False``) and update them in ``after_step``.

Images reach a task already on the training device, float and normalised, shape (B, C, H, W); ``meta`` holds
batched tensors such as ``label`` (and ``pixel_mean``/``pixel_std``/``pixel_low``/``pixel_high``, (1, C, 1, 1); see
``Normalizer.stats``). Task inputs are built there in batched tensor ops.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import torch
import torch.nn.functional as F
from torch import nn

from ssl_toolkit.backbones.base import Backbone
from ssl_toolkit.data.revisits import Revisits
from ssl_toolkit.data.splits import DataSource


class NonFiniteLoss(RuntimeError):
    """A loss became NaN or infinite; the run stops (or a learner that knows better catches it)."""


@dataclass
class ParamGroup:
    """Parameters an optimizer steps with options of their own (one torch param group, or two when norms and
    biases skip weight decay). A list of them makes layer-wise decay or a second learning rate for a head."""

    params: Sequence[nn.Parameter]
    lr_scale: float = 1.0  # this group's learning rate is the run's (optim.lr, scheduled) times lr_scale
    weight_decay: float | None = None  # None: the run's optim.weight_decay
    decay_norms_and_biases: bool = True  # False: parameters of one dimension (norm scales, biases) get no decay


# what ``optimizer_groups`` gives each optimizer: plain parameters (the run's options) or ParamGroups
OptimizerParams = Sequence[nn.Parameter] | Sequence[ParamGroup]


class StepContext(Protocol):
    """What the engine hands a task for one training step (implemented in ``ssl_toolkit.engine.step``)."""

    optimizers: dict[str, torch.optim.Optimizer]  # by group name; a learner that rolls back restores their state
    steps_taken: dict[str, int]  # optimizer steps so far per group (saved in checkpoints)
    global_step: int  # training steps completed before this one (0 at the first)
    total_steps: int  # the run's planned steps (epochs x steps per epoch), for momentum and temperature schedules
    share: float  # this rank's rows / (the global batch / ranks): 1 in one process or for even shards
    seed: int  # the run's seed (train.seed)
    rows: list[int]  # [this rank's first row in the global batch, the global batch's size] (size 0: unknown)

    @property
    def fraction_done(self) -> float:
        """``global_step / total_steps``: 0 at the first step, towards 1 at the last."""
        ...

    def forward(self, images: torch.Tensor, meta: dict[str, torch.Tensor], **kwargs: object) -> dict[str, torch.Tensor]:
        """Run the task's ``forward`` through the engine's wrappers (autocast, DDP)."""
        ...

    def step(self, loss: torch.Tensor, group: str = "main") -> None:
        """Backward ``loss`` and step the optimizer of ``group``; a non-finite loss on any rank raises
        ``NonFiniteLoss`` on every rank, before any optimizer step."""
        ...

    def mean_over_ranks(self, value: torch.Tensor) -> float:
        """``value`` averaged over the training processes (itself in one process): for decisions all ranks share."""
        ...

    def all_gather(self, tensor: torch.Tensor) -> tuple[torch.Tensor, int]:
        """(every rank's ``tensor`` concatenated along dim 0 in rank order, the row where this rank's start).
        Differentiable: gradients reach each rank's own rows (contrastive negatives, batch statistics). Ranks
        may hold different row counts. In one process: (``tensor``, 0)."""
        ...


def classify(logits: torch.Tensor, targets: torch.Tensor) -> dict[str, torch.Tensor]:
    """Cross-entropy ``loss`` (in float32, also under autocast) and top-1 ``acc`` of logits (B, K), targets (B,)."""
    loss = F.cross_entropy(logits.float(), targets)
    return {"loss": loss, "acc": (logits.argmax(dim=1) == targets).float().mean().detach()}


def adversarial_round(
    ctx: StepContext, images: torch.Tensor, meta: dict[str, torch.Tensor], order: tuple[str, str]
) -> dict[str, torch.Tensor]:
    """One step of each player of a two-optimizer learner, in ``order`` (e.g. discriminator then generator):
    ``forward(part=...)`` and ``ctx.step`` on its ``loss``; returns the generator's outputs with ``d_loss`` and
    ``g_loss``."""
    out = {}
    for part in order:
        out[part] = ctx.forward(images, meta, part=part)
        ctx.step(out[part]["loss"], part)
    g, d = out["generator"], out["discriminator"]
    return {**g, "d_loss": d["loss"].detach(), "g_loss": g["loss"].detach()}


@dataclass
class EpochContext:
    """What a task gets at the end of each epoch (``PretextTask.epoch_end``), to draw pictures and measure."""

    epoch: int  # epochs completed, from 1
    run_dir: Path
    data: DataSource
    pixel_mean: torch.Tensor  # (1, C, 1, 1) on the device, as in ``meta``
    pixel_std: torch.Tensor
    device: torch.device
    pixel_low: torch.Tensor | None = None  # the range generated [0, 1] pixels span (``Normalizer``); None: [0, 1]
    pixel_high: torch.Tensor | None = None

    def meta(self) -> dict[str, torch.Tensor]:
        stats = {"pixel_mean": self.pixel_mean, "pixel_std": self.pixel_std}
        if self.pixel_low is not None and self.pixel_high is not None:
            stats |= {"pixel_low": self.pixel_low, "pixel_high": self.pixel_high}
        return stats

    def test_images(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The first ``n`` test images, normalised, on the device, and their labels."""
        images, meta = self.test_batch(n)
        return images, meta["label"].cpu()

    def test_batch(self, n: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The first ``n`` test images, normalised, and a training step's ``meta`` for them (labels, lat/lon
        where the data has them, the pixel statistics), all on the device."""
        from ssl_toolkit.data import Normalizer, iterate

        split = self.data.test
        images, meta = next(iterate(split, [torch.arange(min(n, len(split)))]))
        meta = {**{k: v.to(self.device) for k, v in meta.items()}, **self.meta()}
        return Normalizer.for_data(self.data, self.device)(images.to(self.device)), meta


# the optimizer recipe of classic pretext tasks trained from scratch: AdamW with a cosine schedule (the shipped
# EuroSAT configs); a learner with a published recipe of its own declares it (``PretextTask.optimizer_recipe``)
CLASSIC_RECIPE = {
    "optim.name": "adamw",
    "optim.lr": 1e-3,
    "optim.weight_decay": 1e-4,
    "optim.momentum": 0.9,
    "schedule.name": "cosine",
    "schedule.warmup_steps": 30,
}


class LocalContext:
    """What ``PretextTask.context`` gives outside a training step: one process, the run not begun."""

    global_step, total_steps, fraction_done, share, seed = 0, 1, 0.0, 1.0, 0
    rows = (0, 0)

    def all_gather(self, tensor: torch.Tensor) -> tuple[torch.Tensor, int]:
        return tensor, 0

    def mean_over_ranks(self, value: torch.Tensor) -> float:
        return float(value)


LOCAL_CONTEXT = LocalContext()


class PretextTask(nn.Module):
    """Base class of every pretext task and generative learner."""

    # True: every training sample must have lat/lon (``meta["lat"]``, ``meta["lon"]``); a task whose need depends
    # on its settings overrides ``coords_needed`` instead, which is what the data loading asks
    needs_coords: bool = False
    # config values a run gets for the optimizer keys it leaves unset (see ``ssl_toolkit.recipes``)
    optimizer_recipe: dict[str, object] = CLASSIC_RECIPE
    # True: the loss is computed over every rank's rows (gathered), the same on all ranks, so the engine does not
    # weight it by this rank's share of the batch
    loss_over_ranks: bool = False
    # set by ``fit_data`` when the task wants a second acquisition of each sample's place in its batches (temporal
    # positives): the engine's reader then adds them as ``meta["partner_images"]``, normalised like the images
    revisits: Revisits | None = None

    def __init__(self, backbone: Backbone) -> None:
        super().__init__()
        self.backbone = backbone

    def forward(self, images: torch.Tensor, meta: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Return ``{"loss": scalar tensor, <metric>: scalar tensor, ...}`` for a batch."""
        raise NotImplementedError

    @classmethod
    def coords_needed(cls, params: dict) -> bool:
        """Whether this task, with its configured ``params``, needs every sample's lat/lon (``needs_coords``)."""
        return cls.needs_coords

    @classmethod
    def backbone_norm(cls, params: dict) -> str:
        """The backbone normalisation this task wants for its configured ``params`` (``backbone.norm=auto``)."""
        return "batch"

    def optimizer_groups(self) -> dict[str, OptimizerParams]:
        """Named groups that get an optimizer each: plain parameters or ``ParamGroup``s with options of their
        own. By default one group ``main`` of every parameter that requires a gradient."""
        return {"main": [p for p in self.parameters() if p.requires_grad]}

    def training_step(
        self, images: torch.Tensor, meta: dict[str, torch.Tensor], ctx: StepContext
    ) -> dict[str, torch.Tensor]:
        self.attach(ctx)
        out = ctx.forward(images, meta)
        ctx.step(out["loss"], "main")
        return out

    def attach(self, ctx: StepContext) -> None:
        """Keep the step context for ``forward`` (``self.context``): a loss over every rank's rows gathers them
        with ``self.context.all_gather``, a schedule reads ``self.context.fraction_done``."""
        self._context = ctx

    @property
    def context(self) -> StepContext:
        """The step context of the step in progress (outside the engine: one process at the start of a run)."""
        return getattr(self, "_context", None) or LOCAL_CONTEXT

    def after_step(self, ctx: StepContext) -> None:
        """Called after every training step, its optimizer steps done, without gradients: update what no
        optimizer steps (a momentum encoder, a queue). Nothing by default."""

    def fit_data(self, data: DataSource) -> None:
        """Called once with the dataset before training (e.g. to cluster its coordinates); nothing by default.

        Whatever it computes must be deterministic or stored in buffers, so a resumed run agrees with it."""

    def epoch_end(self, ctx: EpochContext) -> dict[str, float]:
        """Called after each epoch in eval mode, without gradients, under a forked seeded RNG (training randomness
        is untouched); writes pictures under ``ctx.run_dir`` and returns metrics for the epoch's record."""
        return {}

    def run_files(self) -> dict[str, str | bytes]:
        """Files the engine writes into the run folder (relative name -> text or bytes); none by default."""
        return {}

    def examples(self, images: torch.Tensor, meta: dict[str, torch.Tensor]) -> tuple[list[torch.Tensor], list[str]]:
        """Panels (C, H, W; NaN = blank) and captions showing what the network is fed, for ``ssl show``."""
        raise NotImplementedError(f"{type(self).__name__} does not draw examples")


class ClassificationPretext(PretextTask):
    """A task that turns images into (inputs, class targets) and classifies them with one linear head.

    Subclasses implement ``build_inputs``; the head maps backbone features to ``num_classes`` logits.
    """

    num_classes: int

    def __init__(self, backbone: Backbone, num_classes: int) -> None:
        super().__init__(backbone)
        self.num_classes = num_classes
        self.head = nn.Linear(backbone.num_features, num_classes)

    def build_inputs(self, images: torch.Tensor, meta: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """images (B, C, H, W) -> task inputs (B', C, H', W') and int64 targets (B',)."""
        raise NotImplementedError

    def forward(self, images: torch.Tensor, meta: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        inputs, targets = self.build_inputs(images, meta)
        return classify(self.head(self.backbone(inputs)), targets)

    def examples(self, images: torch.Tensor, meta: dict[str, torch.Tensor]) -> tuple[list[torch.Tensor], list[str]]:
        """The task inputs with their target class."""
        inputs, targets = self.build_inputs(images, meta)
        return [x.cpu() for x in inputs], [f"label {int(t)}" for t in targets]
