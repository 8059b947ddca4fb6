"""Every registered task and learner: a real training step through the engine's StepContext gives finite
metrics, every parameter sits in exactly one optimizer group, and the shared backbone's weights change."""

import pytest
import torch

from ssl_toolkit.backbones import create_backbone
from ssl_toolkit.engine.optim import build_optimizer
from ssl_toolkit.engine.step import StepContext
from ssl_toolkit.registry import TASKS
from tests.tiny import geotagged_mnist_like


@pytest.mark.parametrize("name", TASKS.names())
def test_task_training_step_is_finite_and_moves_the_backbone(name: str) -> None:
    torch.manual_seed(0)
    backbone = create_backbone(getattr(TASKS.get(name), "default_backbone", None) or "mnist_net", 1, None, 28)
    task = TASKS.get(name)(backbone)
    data = geotagged_mnist_like()
    task.fit_data(data)
    groups = task.optimizer_groups()
    grouped = [id(p) for params in groups.values() for p in params]
    assert sorted(grouped) == sorted(id(p) for p in task.parameters() if p.requires_grad)  # each exactly once
    optimizers = {g: build_optimizer("adam", params, 1e-3, 0.0, 0.9) for g, params in groups.items()}
    ctx = StepContext(task, optimizers, torch.device("cpu"))
    before = [p.detach().clone() for p in backbone.parameters()]
    meta = data.train.batch_meta(torch.arange(6))
    meta |= {"pixel_mean": torch.tensor(0.5).view(1, 1, 1, 1), "pixel_std": torch.tensor(0.25).view(1, 1, 1, 1)}
    out = task.training_step((torch.rand(6, 1, 28, 28) - 0.5) / 0.25, meta, ctx)
    with torch.no_grad():
        task.after_step(ctx)  # as the engine calls it
    assert out["loss"].ndim == 0 and all(torch.isfinite(v).all() for v in out.values())
    assert any(not torch.equal(a, b) for a, b in zip(before, backbone.parameters(), strict=True))
    assert all(n >= 1 for n in ctx.steps_taken.values())  # every optimizer stepped
