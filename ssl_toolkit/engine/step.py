"""The engine's side of the step context (``pretext.base.StepContext``): a forward through the engine's wrappers,
named optimizer steps, collectives across ranks, and the run's progress."""

from __future__ import annotations

import contextlib
import math

import torch
from torch import nn

from pretext.base import NonFiniteLoss
from ssl_toolkit.config import default
from ssl_toolkit.engine.distributed import World, all_finite, all_gather_rows, mean_over_ranks

__all__ = ["NonFiniteLoss", "StepContext"]


class StepContext:
    """Runs ``model.forward`` under autocast and steps named optimizers.

    ``model`` is the task itself or its DDP wrapper: calling it (not the bare task) keeps DDP's gradient
    synchronisation in the path. ``step`` clears that optimizer's gradients, backpropagates, clips and steps,
    so learners with several optimizers can alternate freely. In a distributed ``world`` a non-finite loss on
    any rank stops every rank. The loop sets ``global_step``, ``total_steps`` and ``loss_scale``.
    """

    def __init__(
        self,
        model: nn.Module,
        optimizers: dict[str, torch.optim.Optimizer],
        device: torch.device,
        precision: str = default("train.precision"),
        grad_clip: float | None = default("optim.grad_clip"),
        world: World | None = None,
    ) -> None:
        self.model = model
        self.world = world or World()
        self.optimizers = optimizers
        self.grad_clip = grad_clip
        self._autocast = precision == "bf16"
        self._device_type = device.type
        self.steps_taken: dict[str, int] = dict.fromkeys(optimizers, 0)
        self.share = 1.0  # this rank's share of the global batch x ranks (1 in one process)
        self.loss_scale = 1.0  # what ``step`` weights losses by: the share, or 1 for a loss over every rank's rows
        self.global_step = 0
        self.total_steps = 1
        self.seed = 0
        self.rows = [0, 0]  # this rank's first row in the global batch, the global batch's size (0: this batch's)

    @property
    def fraction_done(self) -> float:
        return self.global_step / max(self.total_steps, 1)

    def autocast(self) -> contextlib.AbstractContextManager:
        if not self._autocast:
            return contextlib.nullcontext()
        return torch.autocast(self._device_type, dtype=torch.bfloat16)

    def forward(self, *args: object, **kwargs: object) -> dict[str, torch.Tensor]:
        with self.autocast():
            return self.model(*args, **kwargs)

    def mean_over_ranks(self, value: torch.Tensor) -> float:
        return mean_over_ranks({"value": float(value)}, self.world)["value"]

    def all_gather(self, tensor: torch.Tensor) -> tuple[torch.Tensor, int]:
        return all_gather_rows(tensor, self.world)

    def step(self, loss: torch.Tensor, group: str = "main") -> None:
        if not all_finite(loss, self.world):  # every rank agrees, so all stop or none
            raise NonFiniteLoss(f"loss for optimizer '{group}' is {loss.item()}")
        optimizer = self.optimizers[group]
        optimizer.zero_grad(set_to_none=True)
        (loss * self.loss_scale if self.loss_scale != 1.0 else loss).backward()
        if self.grad_clip is not None and not math.isinf(self.grad_clip):
            params = [p for g in optimizer.param_groups for p in g["params"]]
            torch.nn.utils.clip_grad_norm_(params, self.grad_clip)
        optimizer.step()
        self.steps_taken[group] += 1
