"""The task contract (``pretext/base.py``) through the real engine: a task with a momentum module no optimizer
steps, updated in ``after_step`` with a momentum scheduled on ``ctx.fraction_done``; its own optimizer options
(``ParamGroup``); a run stopped and resumed ends with the same weights, momentum module included."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch
from torch import nn

from pretext.base import ParamGroup, PretextTask, StepContext, classify
from pretext.factory import create_task
from pretext.multi import MultiTask
from ssl_toolkit.backbones import create_backbone
from ssl_toolkit.engine.loop import train
from ssl_toolkit.engine.settings import TrainSettings
from tests.tiny import geotagged_mnist_like, state_equal


class MomentumToy(PretextTask):
    """Classifies the label through the backbone; keeps an EMA copy of the backbone (momentum from 0.5 at the
    start to 1 at the end) and records what the context says at every hook call."""

    def __init__(self, backbone) -> None:
        super().__init__(backbone)
        self.head = nn.Linear(backbone.num_features, 10)
        self.target = copy.deepcopy(backbone).requires_grad_(False)
        self.seen: list[tuple[int, int, float]] = []

    def forward(self, images, meta):
        return classify(self.head(self.backbone(images)), meta["label"])

    def optimizer_groups(self):
        return {
            "main": [
                ParamGroup(list(self.backbone.parameters()), decay_norms_and_biases=False),
                ParamGroup(list(self.head.parameters()), lr_scale=10.0, weight_decay=0.0),
            ]
        }

    def after_step(self, ctx: StepContext) -> None:
        assert not torch.is_grad_enabled()
        self.seen.append((ctx.global_step, ctx.total_steps, ctx.fraction_done))
        m = 0.5 + 0.5 * ctx.fraction_done
        for t, o in zip(self.target.parameters(), self.backbone.parameters(), strict=True):
            t.mul_(m).add_(o.detach(), alpha=1 - m)


def settings(**kw) -> TrainSettings:
    return TrainSettings(**{"optimizer": "adamw", "lr": 1e-3, "weight_decay": 0.05, "batch_size": 16, **kw})


def toy() -> MomentumToy:
    torch.manual_seed(0)
    return MomentumToy(create_backbone("mnist_net", 1, 28))


def test_after_step_sees_the_progress_and_the_momentum_module_is_saved_and_resumed(tmp_path: Path) -> None:
    data = geotagged_mnist_like(64)  # 4 steps an epoch
    whole = toy()
    target_before = [p.clone() for p in whole.target.parameters()]
    train(whole, data, tmp_path / "whole", settings(epochs=2), device=torch.device("cpu"))
    assert whole.seen == [(s, 8, s / 8) for s in range(8)]  # once per step, before the step is counted
    assert not any(p.requires_grad for p in whole.target.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(target_before, whole.target.parameters()))  # the hook moved it

    parts = toy()
    train(parts, data, tmp_path / "parts", settings(epochs=2, max_steps=3), device=torch.device("cpu"))
    resumed = toy()  # a fresh process would build the task anew and load the checkpoint
    train(resumed, data, tmp_path / "parts", settings(epochs=2), device=torch.device("cpu"), resume=True)
    assert [s for s, _, _ in resumed.seen] == [3, 4, 5, 6, 7]
    assert state_equal(whole.state_dict(), resumed.state_dict())  # momentum copy (a part of the task) included


def test_param_groups_carry_their_own_options() -> None:
    from ssl_toolkit.engine.optim import build_optimizer

    task = toy()
    opt = build_optimizer("adamw", task.optimizer_groups()["main"], 1e-3, 0.05)
    groups = [(g["lr"], g["weight_decay"], {p.ndim for p in g["params"]}) for g in opt.param_groups]
    assert groups == [(1e-3, 0.05, {2, 4}), (1e-3, 0.0, {1}), (1e-2, 0.0, {1, 2})]  # biases skip decay; head 10x
    names = {id(p) for g in opt.param_groups for p in g["params"]}
    assert names == {id(p) for p in task.parameters() if p.requires_grad}  # the momentum copy is in none
    plain = build_optimizer("sgd", list(task.head.parameters()), 0.1, 1e-4)
    assert [(g["lr"], g["weight_decay"]) for g in plain.param_groups] == [(0.1, 1e-4)]  # plain parameters


def test_combined_tasks_come_through_the_front_door_and_forward_the_hook() -> None:
    backbone = create_backbone("mnist_net", 1, 28)
    multi = create_task(
        "rotation+transpose",
        backbone,
        {"name": "rotation+transpose", "rotation": {"all_rotations": False, "weight": 2.0}, "transpose": {"p": 0.5}},
    )
    assert isinstance(multi, MultiTask) and multi.weights == {"rotation": 2.0, "transpose": 1.0}
    assert all(t.backbone is backbone for t in multi.tasks.values())

    class Hooked(MomentumToy):
        pass

    hooked = MultiTask(backbone, {"a": MomentumToy(backbone), "b": Hooked(backbone)}, {})

    class Ctx:
        global_step, total_steps, fraction_done = 0, 1, 0.0

    with torch.no_grad():
        hooked.after_step(Ctx())
    assert [len(t.seen) for t in hooked.tasks.values()] == [1, 1]


def test_backbones_give_unpooled_features() -> None:
    mnist = create_backbone("mnist_net", 1, 28).eval()
    assert mnist.forward_features(torch.zeros(2, 1, 28, 28)).shape == (2, 64, 12, 12)
    resnet = create_backbone("resnet18", 3).eval()
    maps = resnet.forward_features(torch.zeros(2, 3, 64, 64))
    assert maps.shape == (2, 512, 2, 2)
    assert torch.allclose(resnet(torch.zeros(2, 3, 64, 64)), maps.mean((2, 3)), atol=1e-6)  # pooled = forward


@pytest.mark.parametrize(
    ("name", "chans", "size", "sides"), [("mnist_net", 1, 28, [26, 24, 12]), ("resnet18", 3, 64, [32, 16, 8, 4, 2])]
)
def test_backbones_give_a_pyramid_finest_first_and_the_pooled_features_of_the_same_pass(
    name, chans, size, sides
) -> None:
    backbone = create_backbone(name, chans, None, size).eval()
    x = torch.rand(2, chans, size, size)
    maps, pooled = backbone.forward_pyramid(x)
    assert [m.shape[-1] for m in maps] == sides
    assert torch.allclose(pooled, backbone(x), atol=1e-5)  # the representation probes measure
