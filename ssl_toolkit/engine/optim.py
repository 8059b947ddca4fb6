"""Optimizers by name, and learning-rate schedules precomputed as one value per step.

A schedule indexed by the global step needs no state of its own, so resuming restores it for free.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def build_optimizer(
    name: str, params: list[nn.Parameter], lr: float, weight_decay: float = 0.0, momentum: float = 0.9
) -> torch.optim.Optimizer:
    if name == "adadelta":
        return torch.optim.Adadelta(params, lr=lr, weight_decay=weight_decay)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    # for Adam and AdamW ``momentum`` is beta1 (default 0.9, Adam's own; DCGAN uses 0.5)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, betas=(momentum, 0.999), weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, betas=(momentum, 0.999), weight_decay=weight_decay)
    raise ValueError(f"unknown optimizer '{name}'")


def lr_schedule(
    name: str,
    base_lr: float,
    total_steps: int,
    steps_per_epoch: int,
    warmup_steps: int = 0,
    gamma: float = 0.7,
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
