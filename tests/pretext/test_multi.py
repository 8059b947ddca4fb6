"""Several tasks on one backbone: weighted loss, one shared backbone, per-task metrics, config and CLI."""

import json
import math
from pathlib import Path

import pytest
import torch

from pretext.multi import MultiTask
from pretext.rotation import Rotation
from pretext.transpose import Transpose
from ssl_toolkit.backbones import create_backbone
from ssl_toolkit.build import resolve_config
from ssl_toolkit.errors import UserError


def test_loss_is_the_weighted_sum_of_the_tasks_losses() -> None:
    torch.manual_seed(0)
    backbone = create_backbone("mnist_net", 1, 28)
    rot, tra = Rotation(backbone), Transpose(backbone)
    multi = MultiTask(backbone, {"rotation": rot, "transpose": tra}, {"rotation": 1.0, "transpose": 0.25}).eval()
    x = torch.randn(4, 1, 28, 28)
    torch.manual_seed(1)
    out = multi(x, {})
    torch.manual_seed(1)
    l_rot, l_tra = rot(x, {})["loss"], tra(x, {})["loss"]
    assert torch.allclose(out["loss"], l_rot + 0.25 * l_tra)
    assert torch.allclose(out["rotation_loss"], l_rot) and "transpose_acc" in out
    assert len(list(multi.parameters())) == len(list(backbone.parameters())) + 4  # two heads, one backbone
    out["loss"].backward()
    assert backbone.conv1.weight.grad is not None


def test_combined_task_config_keys() -> None:
    c = resolve_config({}, [("task.name", "rotation+transpose"), ("task.transpose.weight", 0.5)])
    assert c["task"]["rotation"] == {"all_rotations": True, "weight": 1.0}
    assert c["task"]["transpose"] == {"p": 0.5, "weight": 0.5}
    with pytest.raises(UserError, match="did you mean 'task.transpose.p'"):
        resolve_config({}, [("task.name", "rotation+transpose"), ("task.transpose.pp", 0.5)])
    with pytest.raises(UserError, match="names a task twice"):
        resolve_config({}, [("task.name", "rotation+rotation")])
    with pytest.raises(UserError, match="unknown task 'jigsw'"):
        resolve_config({}, [("task.name", "rotation+jigsw")])


def test_combined_run_end_to_end(ssl, tmp_path: Path) -> None:
    run = tmp_path / "run"
    code, out, _ = ssl(
        "pretrain",
        "--task",
        "rotation+jigsaw",
        "--out",
        run,
        "--max-steps",
        3,
        "data.subset=64",
        "train.batch_size=16",
        "train.log_every=1",
        "task.jigsaw.num_permutations=10",
    )
    assert code == 0 and "rotation+jigsaw" in out
    assert (run / "jigsaw_permutations.txt").is_file() and (run / "plots" / "examples.png").is_file()
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    last_step = [r for r in records if r["kind"] == "step"][-1]
    assert {"rotation_loss", "jigsaw_acc", "loss"} <= set(last_step)
    assert all(math.isfinite(last_step[k]) for k in ("rotation_loss", "jigsaw_acc", "loss"))
    assert ssl("probe", "--run", run, "--epochs", 1, "data.subset=64")[0] == 0


def test_a_joint_embedding_learner_combined_with_a_pretext_task_feeds_the_online_probe(ssl, tmp_path: Path) -> None:
    """moco+rotation: MoCo's features for the online kNN pass through as they are, never as a per-task metric."""
    run = tmp_path / "run"
    small = ["task.moco.proj_hidden=32", "task.moco.proj_dim=16", "task.moco.queue_size=16"]
    code, _, err = ssl(
        "pretrain", "--task", "moco+rotation", "--out", run, "--max-steps", 2, "data.subset=64",
        "train.batch_size=8", "train.log_every=1", *small,
    )  # fmt: skip
    assert code == 0, err
    steps = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    steps = [r for r in steps if r["kind"] == "step"]
    assert steps and all("online_acc" in r and "moco_online_features_loss" not in r for r in steps)
    assert all(math.isfinite(r["moco_loss"]) and math.isfinite(r["rotation_loss"]) for r in steps)
