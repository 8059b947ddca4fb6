"""Checkpoints that resume a run exactly, written atomically and loaded without executing code.

A checkpoint holds the task's weights (backbone and heads), every optimizer's state, the position in the data
(epoch, next batch, global step) and the random number generators' states.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import torch

from ssl_toolkit import atomic
from ssl_toolkit.errors import UserError

FORMAT = "ssl-toolkit-checkpoint/1"


def rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save(path: Path, state: dict[str, Any]) -> None:
    with atomic.atomic_path(path) as tmp:
        torch.save({"format": FORMAT, **state}, tmp)


def load(path: Path) -> dict[str, Any]:
    """Load with ``weights_only=True``; a missing, corrupt or foreign file is a UserError naming it."""
    if not path.is_file():
        raise UserError(f"checkpoint {path} does not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises several types for corrupt or unsafe files
        raise UserError(f"checkpoint {path} cannot be read ({type(e).__name__}: {str(e).splitlines()[0]})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise UserError(f"checkpoint {path} is not an ssl-toolkit checkpoint (expected format {FORMAT})")
    return state
