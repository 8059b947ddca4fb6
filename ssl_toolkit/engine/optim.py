"""Optimizers by name over a task's parameter groups, and learning-rate schedules precomputed as one value per
step.

A schedule indexed by the global step needs no state of its own, so resuming restores it for free.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from pretext.base import OptimizerParams, ParamGroup
from ssl_toolkit.config import default


def torch_param_groups(
    params: OptimizerParams,
    lr: float,
    weight_decay: float,
    decay_norms_and_biases: bool = default("optim.decay_norms_and_biases"),
) -> list[dict]:
    """Torch param groups (``params``, ``lr``, ``weight_decay``) for plain parameters or ``ParamGroup``s: each
    ParamGroup's lr is ``lr * lr_scale``; with ``decay_norms_and_biases=False`` (the group's, or for plain
    parameters the run's) parameters of one dimension form a second group without weight decay. Empty groups
    are left out."""
    groups = [p if isinstance(p, ParamGroup) else None for p in params]
    if not any(groups):
        if decay_norms_and_biases:
            return [{"params": list(params), "lr": lr, "weight_decay": weight_decay}]
        groups = [ParamGroup(list(params), decay_norms_and_biases=False)]
    if not all(groups):
        raise ValueError("an optimizer group mixes plain parameters and ParamGroups; give only ParamGroups")
    out = []
    for group in groups:
        decay = weight_decay if group.weight_decay is None else group.weight_decay
        parts = [(list(group.params), decay)]
        if not group.decay_norms_and_biases:
            parts = [
                ([p for p in group.params if p.ndim > 1], decay),
                ([p for p in group.params if p.ndim <= 1], 0.0),
            ]
        out += [{"params": ps, "lr": lr * group.lr_scale, "weight_decay": wd} for ps, wd in parts if ps]
    return out


def build_optimizer(
    name: str,
    params: OptimizerParams,
    lr: float,
    weight_decay: float = default("optim.weight_decay"),
    momentum: float = default("optim.momentum"),
    decay_norms_and_biases: bool = default("optim.decay_norms_and_biases"),
) -> torch.optim.Optimizer:
    """The optimizer ``name`` over ``params`` (see ``torch_param_groups``). For Adam and AdamW ``momentum`` is
    beta1 (default 0.9, Adam's own; DCGAN uses 0.5). ``lars``: SGD with LARS's layer-wise trust ratio (You et al.
    2017; timm's), adapted only where a group has weight decay, so norms and biases without decay are not."""
    groups = torch_param_groups(params, lr, weight_decay, decay_norms_and_biases)
    if name == "adadelta":
        return torch.optim.Adadelta(groups, lr=lr)
    if name == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=momentum)
    if name == "adam":
        return torch.optim.Adam(groups, lr=lr, betas=(momentum, 0.999))
    if name == "adamw":
        return torch.optim.AdamW(groups, lr=lr, betas=(momentum, 0.999))
    if name == "lars":
        from timm.optim import Lars

        return Lars(groups, lr=lr, momentum=momentum)
    raise ValueError(f"unknown optimizer '{name}'")


def set_lr(optimizers: Sequence[torch.optim.Optimizer], factor: float) -> None:
    """Every param group's learning rate to its initial one (``initial_lr``) times ``factor``."""
    for opt in optimizers:
        for group in opt.param_groups:
            group["lr"] = group.setdefault("initial_lr", group["lr"]) * factor


def lr_schedule(
    name: str,
    base_lr: float,
    total_steps: int,
    steps_per_epoch: int,
    warmup_steps: int = default("schedule.warmup_steps"),
    gamma: float = default("schedule.gamma"),
) -> list[float]:
    """Learning rate for each step 0..total_steps-1.

    ``constant``; ``step``: multiplied by ``gamma`` after every epoch (the PyTorch MNIST example's StepLR);
    ``cosine``: from base_lr to 0. Linear warm-up over the first ``warmup_steps`` in every case.
    """
    lrs = []
    for s in range(total_steps):
        if name == "constant":
            lr = base_lr
        elif name == "step":
            lr = base_lr * gamma ** (s // max(steps_per_epoch, 1))
        elif name == "cosine":
            lr = 0.5 * base_lr * (1 + math.cos(math.pi * s / max(total_steps, 1)))
        else:
            raise ValueError(f"unknown schedule '{name}'")
        if s < warmup_steps:
            lr *= (s + 1) / warmup_steps
        lrs.append(lr)
    return lrs
