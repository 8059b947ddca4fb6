"""Real DDP: `ssl pretrain` launched by torchrun as 2 gloo processes on the CPU.

The comparison run is deterministic so that one process and two can be compared: rotation with all four
rotations of every image (no random choices), a ResNet-18 with layer norm (a sample's output does not depend
on the rest of its batch) and no dropout, on textured images (on MNIST's constant background float rounding
moves whole regions across ReLU kinks, and the runs drift apart within a few steps). Two processes with the
same global batch then take the same steps as one, up to float summation order.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from ssl_toolkit.data.loader import batches_per_epoch, epoch_order
from ssl_toolkit.engine.distributed import World, convert_sync_batchnorm, shard, wrap
from ssl_toolkit.errors import UserError
from tests.images import colour_images
from tests.tiny import state_equal

SETTINGS = [
    "--task",
    "rotation",
    "--backbone",
    "resnet18",
    "backbone.norm=layer",
    "train.batch_size=15",  # shards of 8 and 7 (each rank's loss weighted by its share), each image in 4 rotations
    "optim.name=sgd",
    "optim.lr=0.05",
    "train.log_every=1",
]


def torchrun(*args: object, nproc: int = 2) -> subprocess.CompletedProcess:
    """``torchrun --standalone --nproc-per-node N -m ssl_toolkit.cli ARGS``, this interpreter, gloo on CPU."""
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}"]
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    command += ["-m", "ssl_toolkit.cli", *(str(a) for a in args), "train.device=cpu"]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def flat(path: Path) -> torch.Tensor:
    weights = load_file(str(path))
    return torch.cat([weights[k].flatten() for k in sorted(weights)])


def records(run: Path) -> list[dict]:
    lines = (run / "metrics.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(line).items() if k != "elapsed_s"} for line in lines]


def losses(run: Path) -> list[float]:
    lines = (run / "metrics.jsonl").read_text().splitlines()
    return [r["loss"] for r in map(json.loads, lines) if r["kind"] == "step"]


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return colour_images(tmp_path_factory.mktemp("ddp") / "images", 32)  # 76 training images: 5 steps of 15


@pytest.fixture(scope="module")
def deterministic(images: Path) -> list[object]:
    return [*SETTINGS, "--data", images]


@pytest.fixture(scope="module")
def two_process_run(tmp_path_factory: pytest.TempPathFactory, deterministic: list[object]) -> Path:
    run = tmp_path_factory.mktemp("ddp-run") / "run"
    done = torchrun("pretrain", *deterministic, "--max-steps", 5, "--out", run)
    assert done.stdout.count("pretrained rotation") == 1  # rank 0 alone reports
    return run


def test_two_processes_agree_and_equal_one_process_with_the_same_global_batch(
    ssl, tmp_path: Path, two_process_run: Path, deterministic: list[object]
) -> None:
    record = json.loads((two_process_run / "distributed.json").read_text())
    assert record["world_size"] == 2 and record["ranks_agree"]
    assert len(set(record["weights_digests"])) == 1 and len(record["weights_digests"]) == 2

    single, half = tmp_path / "single", tmp_path / "half"
    assert ssl("pretrain", *deterministic, "--max-steps", 5, "--out", single, "train.device=cpu")[0] == 0
    # a contrast: one process on half the global batch (what a rank would do without averaged gradients)
    assert ssl("pretrain", *deterministic, "--max-steps", 5, "--out", half, "train.batch_size=8")[0] == 0
    ddp, one, alone = (flat(run / "backbone.safetensors") for run in (two_process_run, single, half))
    assert (ddp - one).abs().max() < 1e-5  # measured 1.8e-7
    assert (alone - one).abs().max() > 1e-3
    # the logged loss is the mean over both ranks' shards: the single process's loss on the whole batch
    assert losses(two_process_run) == pytest.approx(losses(single), rel=1e-5)
    assert not (single / "distributed.json").exists()


def test_a_distributed_run_resumes_to_the_same_weights_and_records(tmp_path: Path, images: Path) -> None:
    """Random rotations (each rank draws its own), a log window open at the stop: the resumed run must restore
    every rank's random state and metric windows to match the uninterrupted run record for record."""
    args = [*SETTINGS, "--data", images, "task.all_rotations=false", "train.log_every=2", "train.epochs=2"]
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    torchrun("pretrain", *args, "--out", whole)
    torchrun("pretrain", *args, "--max-steps", 3, "--out", parts)
    state = torch.load(parts / "checkpoints" / "last.pt", map_location="cpu", weights_only=True)
    assert state["world_size"] == 2 and len(state["ranks"]) == 2  # every rank's RNG and metric windows
    assert not torch.equal(state["ranks"][0]["rng"]["torch"], state["ranks"][1]["rng"]["torch"])
    torchrun("pretrain", "--resume", "--out", parts)
    assert state_equal(load_file(str(whole / "backbone.safetensors")), load_file(str(parts / "backbone.safetensors")))
    interrupted = [r for r in records(parts) if r["step"] != 3]  # less the partial window shown at the stop
    assert interrupted == records(whole)
    # 2 epochs of 5 steps: log steps 2, 4, 6, 8, 10, the first epoch's last step 5, and 2 epoch records
    assert [r["step"] for r in records(whole) if r["kind"] == "step"] == [2, 4, 5, 6, 8, 10]


def test_resuming_with_another_process_count_is_refused(ssl, two_process_run: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(two_process_run, copy)
    code, _, err = ssl("pretrain", "--resume", "--max-steps", 6, "--out", copy)
    assert code == 2 and "written by 2 process(es)" in err and "--nproc-per-node 2" in err


@pytest.mark.parametrize("collapse_below", [1e-9, 100.0], ids=["trains", "rolls-back"])
def test_gan_with_two_optimizers_under_ddp(tmp_path: Path, collapse_below: float) -> None:
    """The GAN's alternating discriminator and generator steps (each a forward through DDP that leaves the
    other network unused) keep the replicas identical; its collapse check (rollback) is decided on the loss
    averaged over the ranks, so every rank takes the same branch: never (1e-9) or at every step (100)."""
    run = tmp_path / "gan"
    args = ["--task", "gan", "--max-steps", 3, "--out", run, "data.subset=64", "train.batch_size=16"]
    torchrun("pretrain", *args, "train.log_every=1", "task.rollback=3", f"task.collapse_below={collapse_below}")
    record = json.loads((run / "distributed.json").read_text())
    assert record["ranks_agree"] and len(set(record["weights_digests"])) == 1
    steps = [r for r in records(run) if r["kind"] == "step"]
    rolled_back = collapse_below > 1
    assert [r["rollback"] for r in steps] == [float(rolled_back)] * 3  # rank 0 logs each step once
    assert rolled_back or all(math.isfinite(r["loss"]) for r in steps)


def test_global_batches_are_split_into_contiguous_shards_that_cover_each_batch_once() -> None:
    world = [World(rank=r, size=3) for r in range(3)]
    for batch in epoch_order(50, 12, seed=1, epoch=0, min_last=6):
        parts = [shard(batch, w) for w in world]
        assert torch.equal(torch.cat(parts), batch)
        assert max(map(len, parts)) - min(map(len, parts)) <= 1 and min(map(len, parts)) >= 2
    # 50 = 4 x 12 + 2: the last 2 samples cannot give each of 3 ranks two, so they join the batch before
    assert [len(b) for b in epoch_order(50, 12, seed=1, epoch=0, min_last=6)] == [12, 12, 12, 14]
    assert batches_per_epoch(50, 12, min_last=6) == 4 and batches_per_epoch(50, 12) == 5


def test_sync_batchnorm_needs_cuda_when_there_is_something_to_synchronise(ssl, tmp_path: Path) -> None:
    assert ssl("pretrain", "--max-steps", 1, "--out", tmp_path / "r", "train.sync_batchnorm=true")[0] == 0
    with pytest.raises(UserError, match="train.sync_batchnorm needs CUDA .* backbone.norm=layer"):
        wrap(torch.nn.BatchNorm2d(3), World(rank=0, size=2), torch.device("cpu"), sync_batchnorm=True)


def test_sync_batchnorm_conversion_keeps_timm_activations() -> None:
    from timm.layers import BatchNormAct2d

    net = convert_sync_batchnorm(
        torch.nn.Sequential(
            torch.nn.Conv2d(3, 8, 3), BatchNormAct2d(8, act_layer=torch.nn.ReLU), torch.nn.BatchNorm2d(8)
        )
    )
    norms = [m for m in net.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    assert len(norms) == 2 and all(isinstance(m, torch.nn.SyncBatchNorm) for m in norms)
    assert isinstance(norms[0].act, torch.nn.ReLU)  # timm's fused norm + activation keeps its activation


def test_all_gather_rows_with_uneven_shards_gives_every_rank_the_rows_and_their_gradients(tmp_path: Path) -> None:
    """The step context's ``all_gather`` under 2 gloo processes holding 3 and 2 rows: every rank sees the 5 rows in
    rank order, knows where its own start, and each rank's rows get the gradient of every rank's loss."""
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2"]
    command += [str(Path(__file__).with_name("gather_worker.py")), str(tmp_path)]
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=300, env={**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    )
    assert done.returncode == 0, done.stderr[-3000:]
    expected = torch.tensor([0.0, 1.0, 2.0, 10.0, 11.0]).view(5, 1).repeat(1, 2)
    weight = (1.0 + torch.arange(5.0)).view(5, 1).repeat(1, 2)
    for rank, (start, rows) in enumerate([(0, 3), (3, 2)]):
        result = torch.load(tmp_path / f"rank{rank}.pt", weights_only=True)
        assert torch.equal(result["gathered"], expected) and result["offset"] == start
        assert torch.equal(result["grad"], 2 * weight[start : start + rows])  # both ranks' losses reach these rows


def test_all_gather_rows_in_one_process_is_the_tensor_itself() -> None:
    from ssl_toolkit.engine.distributed import all_gather_rows

    x = torch.randn(4, 3)
    gathered, offset = all_gather_rows(x, World())
    assert gathered is x and offset == 0


@pytest.mark.parametrize("task", ["simclr", "barlow_twins", "moco"])
def test_a_loss_over_every_rank_s_rows_trains_two_processes_like_one(
    ssl, tmp_path: Path, images: Path, task: str
) -> None:
    """Contrastive negatives and Barlow statistics gathered across ranks with gradients (``ctx.all_gather``),
    views drawn per global-batch row, MoCo's queue filled from every rank: 2 gloo processes with a global batch of
    15 (shards of 8 and 7) end with the weights of one process with that batch. Batch norm would see a rank's
    shard only, so the backbone uses layer norm and the projector none."""
    args = ["--task", task, "--backbone", "resnet18", "backbone.norm=layer", "--data", images, "--max-steps", 3]
    lr = 0.005 if task == "barlow_twins" else 0.05  # Barlow's D^2 terms swing at 0.05 and rounding would grow
    args += ["train.batch_size=15", "optim.name=sgd", f"optim.lr={lr}", "task.projector_bn=false"]
    args += ["train.online_probe=false"]
    args += ["task.proj_hidden=64", "task.proj_dim=32"] + (["task.queue_size=64"] if task == "moco" else [])
    torchrun("pretrain", *args, "--out", tmp_path / "two")
    assert ssl("pretrain", *args, "--out", tmp_path / "one", "train.device=cpu")[0] == 0
    two, one = (flat(tmp_path / r / "backbone.safetensors") for r in ("two", "one"))
    assert (two - one).abs().max() < 1e-4
    assert losses(tmp_path / "two") == pytest.approx(losses(tmp_path / "one"), rel=1e-4)
