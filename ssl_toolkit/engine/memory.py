"""How much memory a run needs, estimated before anything is allocated, against what the machine has free.

The backbone is built on PyTorch's ``meta`` device (shapes without storage) and run once on one image of the
data's size to count its activations. The estimate: weights, their gradients and the optimizer's state (two
values per weight for Adam, AdamW and Adadelta, one for SGD with momentum), plus every layer's output for a
batch, kept for the backward pass. It leaves out the task's heads and any extra inputs a task makes per image
(rotation's four copies, jigsaw's tiles), so it errs low: a run it refuses would not fit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

OPTIMIZER_STATES = {"adam": 2, "adamw": 2, "adadelta": 2, "sgd": 1}
FLOAT_BYTES = 4


@dataclass(frozen=True)
class Estimate:
    weights: int  # parameters of the backbone
    training_bytes: int  # weights, gradients, optimizer state
    activation_bytes: int  # layer outputs of one batch

    @property
    def total(self) -> int:
        return self.training_bytes + self.activation_bytes


def estimate(
    build: Callable[[], nn.Module], in_chans: int, side: int, batch_size: int, optimizer: str, momentum: float
) -> Estimate:
    """``build()`` makes the backbone (called under the meta device); one (1, in_chans, side, side) input."""
    with torch.device("meta"):
        backbone: nn.Module = build()
        weights = sum(p.numel() for p in backbone.parameters())
        outputs = [0]

        def count(_module: nn.Module, _inputs: object, output: object) -> None:
            if isinstance(output, torch.Tensor):
                outputs[0] += output.numel()

        leaves = [m for m in backbone.modules() if not list(m.children())]
        hooks = [m.register_forward_hook(count) for m in leaves]
        try:
            backbone(torch.empty(1, in_chans, side, side))
        except Exception:  # a net that cannot run on the meta device: count the weights only
            outputs[0] = 0
        finally:
            for h in hooks:
                h.remove()
    states = OPTIMIZER_STATES.get(optimizer, 2) if optimizer != "sgd" or momentum > 0 else 0
    training = weights * FLOAT_BYTES * (2 + states)
    return Estimate(weights, training, outputs[0] * FLOAT_BYTES * batch_size)


def free_bytes(device: torch.device) -> int | None:
    """Memory free for this process: on CUDA the device's, on CPU the kernel's MemAvailable (None if unknown)."""
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def gib(n: int) -> str:
    return f"{n / 2**30:.1f} GiB"
