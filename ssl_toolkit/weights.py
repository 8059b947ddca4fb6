"""``backbone.safetensors``: the backbone's weights alone, under the names a plain model of that name uses."""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ssl_toolkit import atomic
from ssl_toolkit.backbones.base import Backbone
from ssl_toolkit.errors import UserError


def save_backbone(path: Path, backbone: Backbone, metadata: dict[str, str]) -> None:
    state = {k: v.detach().cpu().clone().contiguous() for k, v in backbone.export_state_dict().items()}
    meta = {"backbone": backbone.name, "in_chans": str(backbone.in_chans), **metadata}
    with atomic.atomic_path(path) as tmp:
        save_file(state, str(tmp), metadata=meta)


def load_backbone_weights(path: Path, backbone: Backbone) -> None:
    """Load ``path`` into ``backbone``; a missing, corrupt or mismatched file is a UserError naming it."""
    if not path.is_file():
        raise UserError(f"{path} does not exist (was the run finished? `ssl pretrain --resume` completes it)")
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as e:
        raise UserError(f"{path} is not a readable safetensors file ({e})") from None
    try:
        backbone.load_export(state)
    except (ValueError, RuntimeError) as e:
        first = str(e).splitlines()[0]
        raise UserError(f"{path} does not match backbone '{backbone.name}': {first}") from None


def state_equal(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    """True when two state dicts have the same names and bit-identical tensors."""
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
