"""Every registered task: forward, backward, finite loss, gradients reach the shared backbone."""

import pytest
import torch

from ssl_toolkit.backbones import create_backbone
from ssl_toolkit.registry import TASKS


@pytest.mark.parametrize("name", TASKS.names())
def test_task_forward_backward_finite(name: str) -> None:
    torch.manual_seed(0)
    backbone = create_backbone("mnist_net", in_chans=1, img_size=28)
    task = TASKS.get(name)(backbone)
    images = torch.randn(6, 1, 28, 28)
    meta = {"label": torch.randint(0, 10, (6,))}
    out = task(images, meta)
    assert out["loss"].ndim == 0 and torch.isfinite(out["loss"])
    out["loss"].backward()
    grads = [p.grad for p in backbone.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)
    assert set(task.optimizer_groups()) == {"main"}
