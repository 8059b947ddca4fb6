import json
from pathlib import Path

import pytest
import torch

from ssl_toolkit.engine import checkpoint
from ssl_toolkit.engine.optim import lr_schedule
from ssl_toolkit.engine.step import NonFiniteLoss, StepContext
from ssl_toolkit.errors import UserError


def test_run_folder_layout(ssl, tmp_path: Path) -> None:
    run = tmp_path / "run"
    code, _, _ = ssl(
        "pretrain",
        "--task",
        "rotation",
        "--out",
        run,
        "data.subset=64",
        "train.batch_size=16",
        "train.epochs=2",
        "train.log_every=2",
    )
    assert code == 0
    for rel in [
        "config.yaml",
        "metrics.jsonl",
        "backbone.safetensors",
        "plots/loss.png",
        "checkpoints/last.pt",
        "checkpoints/epoch_0001.pt",
        "checkpoints/epoch_0002.pt",
    ]:
        assert (run / rel).is_file(), rel
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    steps = [r for r in records if r["kind"] == "step"]
    assert [r["step"] for r in steps] == [2, 4, 6, 8]
    assert all({"loss", "acc", "lr", "epoch"} <= r.keys() for r in steps)
    assert [r["epoch"] for r in records if r["kind"] == "epoch"] == [0, 1]
    assert (run / "plots/loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_keep_checkpoints_leaves_the_newest_epoch_files_and_a_resumable_last(ssl, tmp_path: Path) -> None:
    run = tmp_path / "run"
    tiny = ["data.subset=32", "train.batch_size=16", "train.keep_checkpoints=2"]
    assert ssl("pretrain", "--task", "rotation", "--out", run, *tiny, "train.epochs=3")[0] == 0
    assert sorted(p.name for p in (run / "checkpoints").glob("*.pt")) == ["epoch_0002.pt", "epoch_0003.pt", "last.pt"]
    # the setting only changes what is kept, so a resume may change it; the pruning goes on from there
    code, out, err = ssl("pretrain", "--resume", "--out", run, "train.epochs=4", "train.keep_checkpoints=1")
    assert code == 0, err
    assert sorted(p.name for p in (run / "checkpoints").glob("*.pt")) == ["epoch_0004.pt", "last.pt"]
    assert torch.load(run / "checkpoints" / "last.pt", weights_only=True)["epoch"] == 4


def test_step_schedule_multiplies_by_gamma_each_epoch() -> None:
    lrs = lr_schedule("step", 1.0, total_steps=6, steps_per_epoch=2, gamma=0.5)
    assert lrs == [1.0, 1.0, 0.5, 0.5, 0.25, 0.25]
    warm = lr_schedule("cosine", 2.0, total_steps=4, steps_per_epoch=4, warmup_steps=2)
    assert warm[0] == pytest.approx(1.0) and warm[2] == pytest.approx(1.0)


def test_non_finite_loss_stops_before_the_optimizer_step() -> None:
    p = torch.nn.Parameter(torch.ones(1))
    opt = torch.optim.SGD([p], lr=1.0)
    ctx = StepContext(torch.nn.Identity(), {"main": opt}, torch.device("cpu"))
    with pytest.raises(NonFiniteLoss):
        ctx.step((p * float("nan")).sum())
    assert p.item() == 1.0
    ctx.step((p * 2).sum())
    assert p.item() == -1.0 and ctx.steps_taken == {"main": 1}


def test_corrupt_or_foreign_checkpoint_is_a_user_error(tmp_path: Path) -> None:
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(UserError, match="cannot be read"):
        checkpoint.load(tmp_path / "bad.pt")
    torch.save({"weights": torch.ones(1)}, tmp_path / "foreign.pt")
    with pytest.raises(UserError, match="not an ssl-toolkit checkpoint"):
        checkpoint.load(tmp_path / "foreign.pt")


def test_channels_last_trains_the_same_model(ssl, tmp_path: Path, image_folder: Path) -> None:
    """NHWC weights and batches change the memory order, not the maths: the same weights to float rounding.
    (Textured images and a ResNet: on MNIST's constant background, rounding moves whole regions across ReLU
    kinks, and mnist_net's dropout draws its masks in memory order.)"""
    from safetensors.torch import load_file

    args = ["--task", "rotation", "--backbone", "resnet18", "--data", image_folder, "--max-steps", 2]
    args += ["train.batch_size=8", "optim.name=sgd", "optim.lr=0.01"]
    assert ssl("pretrain", *args, "--out", tmp_path / "nchw")[0] == 0
    assert ssl("pretrain", *args, "--out", tmp_path / "nhwc", "train.channels_last=true")[0] == 0
    a, b = (load_file(str(tmp_path / r / "backbone.safetensors")) for r in ("nchw", "nhwc"))
    assert a.keys() == b.keys()
    assert max((a[k] - b[k]).abs().max().item() for k in a) < 1e-4
