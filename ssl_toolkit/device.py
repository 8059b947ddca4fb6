"""Device choice and seeding."""

from __future__ import annotations

import random

import numpy as np
import torch

from ssl_toolkit.errors import UserError


def resolve_device(name: str = "auto") -> torch.device:
    """``auto``: CUDA when present, else CPU; otherwise any torch device string (``cpu``, ``cuda:1``)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise UserError(
            f"config key train.device: '{name}' is not a device (expected auto, cpu, cuda, cuda:N)"
        ) from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UserError(f"config key train.device: '{name}' requested but CUDA is not available here")
    return device


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
