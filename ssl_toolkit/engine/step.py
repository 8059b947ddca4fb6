"""What a task gets for one training step: a forward through the engine's wrappers and an optimizer step."""

from __future__ import annotations

import contextlib
import math

import torch
from torch import nn

from ssl_toolkit.engine.distributed import World, all_finite, mean_over_ranks


class NonFiniteLoss(RuntimeError):
    """A loss became NaN or infinite; the run stops (or a learner that knows better catches it)."""


class StepContext:
    """Runs ``model.forward`` under autocast and steps named optimizers.

    ``model`` is the task itself or its DDP wrapper: calling it (not the bare task) keeps DDP's gradient
    synchronisation in the path. ``step`` clears that optimizer's gradients, backpropagates, clips and steps,
    so learners with several optimizers can alternate freely. In a distributed ``world`` a non-finite loss on
    any rank stops every rank.
    """

    def __init__(
        self,
        model: nn.Module,
        optimizers: dict[str, torch.optim.Optimizer],
        device: torch.device,
        precision: str = "fp32",
        grad_clip: float | None = None,
        world: World | None = None,
    ) -> None:
        self.model = model
        self.world = world or World()
        self.optimizers = optimizers
        self.grad_clip = grad_clip
        self._autocast = precision == "bf16"
        self._device_type = device.type
        self.steps_taken: dict[str, int] = dict.fromkeys(optimizers, 0)
        self.loss_scale = 1.0  # this rank's share of the global batch x ranks (1 in one process)

    def autocast(self) -> contextlib.AbstractContextManager:
        if not self._autocast:
            return contextlib.nullcontext()
        return torch.autocast(self._device_type, dtype=torch.bfloat16)

    def forward(self, *args: object, **kwargs: object) -> dict[str, torch.Tensor]:
        with self.autocast():
            return self.model(*args, **kwargs)

    def mean_over_ranks(self, value: torch.Tensor) -> float:
        """``value`` averaged over the ranks (itself in one process): for decisions every rank must share."""
        return mean_over_ranks({"value": float(value)}, self.world)["value"]

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
