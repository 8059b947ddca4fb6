"""The joint-embedding learners through the command line: each trains and is probed, a momentum learner with
its queue resumes bit for bit, the views are drawn for `ssl show`, and the momentum and queue do what the papers
say."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from pretext.joint import cosine_momentum
from pretext.mae import patchify
from tests.tiny import geotagged_mnist_like, state_equal

SMALL = {  # projector and head sizes small enough for tests
    "simclr": ["task.proj_hidden=64", "task.proj_dim=32"],
    "moco": ["task.proj_hidden=64", "task.proj_dim=32", "task.queue_size=64"],
    "gassl": ["task.proj_hidden=64", "task.proj_dim=32", "task.queue_size=64", "task.geo_clusters=4"],
    "byol": ["task.proj_hidden=64", "task.proj_dim=32"],
    "barlow_twins": ["task.proj_hidden=64", "task.proj_dim=32"],
    "vicreg": ["task.proj_hidden=64", "task.proj_dim=32"],
    "dino": ["task.hidden=64", "task.bottleneck=32", "task.out_dim=128", "task.local_views=2"],
    "mae": ["task.decoder_dim=32", "task.decoder_depth=1"],
}
TINY = ["data.subset=192", "train.batch_size=32", "train.log_every=2"]


@pytest.mark.parametrize("task", sorted(SMALL))
def test_each_learner_trains_reports_online_accuracy_and_is_probed(ssl, tmp_path: Path, task: str) -> None:
    run = tmp_path / task
    data = [] if task != "gassl" else ["--data", geotiffs_folder(tmp_path)]
    code, _, err = ssl("pretrain", "--task", task, "--out", run, "--max-steps", 4, *data, *TINY, *SMALL[task])
    assert code == 0, err
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    steps = [r for r in records if r["kind"] == "step"]
    assert steps and all(torch.isfinite(torch.tensor(r["loss"])) for r in steps)
    assert all("online_acc" in r for r in steps) and "online_knn" in records[-1]
    code, out, err = ssl("probe", "--run", run, "--protocol", "knn", *(["data.subset=192"] if not data else []))
    assert code == 0 and "knn probe accuracy" in out, err


def geotiffs_folder(tmp_path: Path) -> Path:
    from tests.data import geotiffs

    return geotiffs.two_class_chips(tmp_path / "chips", 24)


@pytest.mark.parametrize("task", ["moco", "dino"])
def test_a_momentum_learner_resumes_bit_for_bit(ssl, tmp_path: Path, task: str) -> None:
    """The momentum copy, MoCo's queue (and its fill) and DINO's centre are in the checkpoint; the views of a
    step come from (seed, step): stopped at step 3 and resumed, the run ends as one that never stopped."""
    args = ["--task", task, *TINY, "train.epochs=2", *SMALL[task]]
    assert ssl("pretrain", *args, "--out", tmp_path / "whole")[0] == 0
    assert ssl("pretrain", *args, "--max-steps", 3, "--out", tmp_path / "parts")[0] == 0
    assert ssl("pretrain", "--resume", "--out", tmp_path / "parts")[0] == 0
    a, b = (
        torch.load(tmp_path / r / "checkpoints" / "last.pt", weights_only=True)["model"] for r in ("whole", "parts")
    )
    assert state_equal(a, b)  # every weight and buffer: online, momentum copy, queue, centre
    if task == "moco":
        assert int(a["queue_filled"]) == 64


def test_the_momentum_rises_to_one_and_the_queue_fills_with_normalised_keys() -> None:
    assert cosine_momentum(0.99, 0.0) == pytest.approx(0.99) and cosine_momentum(0.99, 1.0) == pytest.approx(1.0)
    assert cosine_momentum(0.99, 0.5) == pytest.approx(0.995)
    from pretext.moco import MoCo
    from ssl_toolkit.backbones import create_backbone
    from ssl_toolkit.engine.optim import build_optimizer
    from ssl_toolkit.engine.step import StepContext

    torch.manual_seed(0)
    task = MoCo(create_backbone("mnist_net", 1, 28), proj_hidden=32, proj_dim=16)
    data = geotagged_mnist_like(64)
    task.fit_data(data)
    assert len(task.queue) == 32  # sized to the data: the largest power of two up to half of 64 training images
    key_before = [p.clone() for p in task.key_backbone.parameters()]
    opt = {"main": build_optimizer("sgd", task.optimizer_groups()["main"], 0.1)}
    ctx = StepContext(task, opt, torch.device("cpu"))
    meta = {"pixel_mean": torch.tensor(0.5).view(1, 1, 1, 1), "pixel_std": torch.tensor(0.25).view(1, 1, 1, 1)}
    for _ in range(3):
        task.training_step((torch.rand(12, 1, 28, 28) - 0.5) / 0.25, meta, ctx)
        with torch.no_grad():
            task.after_step(ctx)
    assert int(task.queue_filled) == 32 and int(task.queue_next) == 36 % 32
    assert torch.allclose(task.queue.norm(dim=1), torch.ones(32), atol=1e-5)
    moved = [not torch.equal(a, b) for a, b in zip(key_before, task.key_backbone.parameters())]
    assert any(moved) and not any(p.requires_grad for p in task.key_backbone.parameters())


def test_patches_are_cut_row_by_row() -> None:
    images = torch.arange(2 * 3 * 8 * 8, dtype=torch.float32).view(2, 3, 8, 8)
    patches = patchify(images, 4)
    assert patches.shape == (2, 4, 48)
    assert torch.equal(patches[1, 1], images[1, :, 0:4, 4:8].permute(1, 2, 0).reshape(-1))  # row 0, column 1


def test_mae_needs_a_vision_transformer_and_show_draws_views(ssl, tmp_path: Path) -> None:
    code, _, err = ssl("pretrain", "--task", "mae", "--backbone", "mnist_net", "--out", tmp_path / "m")
    assert code == 2 and "mae needs a vision transformer backbone" in err
    code, out, _ = ssl("show", "--task", "simclr", "--n", 2, "--out", tmp_path / "views.png", "data.subset=20")
    assert code == 0 and (tmp_path / "views.png").read_bytes()[:4] == b"\x89PNG" and "6 examples" in out


@pytest.mark.parametrize("task", ["moco", "gassl"])
def test_temporal_positives_train_on_multi_date_geotiffs_and_resume_bit_for_bit(ssl, tmp_path: Path, task: str) -> None:
    """GASSL's temporal positives: the key's view is another acquisition of the place (generated GeoTIFFs, six
    places on three dates); the partners are drawn from (seed, epoch, sample), so a resumed run ends as one that
    never stopped."""
    from tests.data.geotiffs import multi_date_chips

    data = multi_date_chips(tmp_path / "md", places=6, dates=3)
    small = [f for f in SMALL[task] if "geo_clusters" not in f] + (["task.geo_clusters=2"] if task == "gassl" else [])
    args = ["--task", task, "--data", data, "train.batch_size=4", "train.epochs=2", "task.temporal_positives=true"]
    code, out, err = ssl("pretrain", *args, *small, "--out", tmp_path / "whole")
    assert code == 0, err
    assert "temporal positives: 12 of 12 training samples have another acquisition of their place" in out
    assert ssl("pretrain", *args, *small, "--max-steps", 3, "--out", tmp_path / "parts")[0] == 0
    assert ssl("pretrain", "--resume", "--out", tmp_path / "parts")[0] == 0
    a, b = (
        torch.load(tmp_path / r / "checkpoints" / "last.pt", weights_only=True)["model"] for r in ("whole", "parts")
    )
    assert state_equal(a, b)
    steps = [json.loads(line) for line in (tmp_path / "whole" / "metrics.jsonl").read_text().splitlines()]
    assert all(torch.isfinite(torch.tensor(r["loss"])) for r in steps if r["kind"] == "step")


def test_temporal_positives_on_data_without_dates_is_one_line(ssl, tmp_path: Path) -> None:
    code, _, err = ssl(
        "pretrain", "--task", "moco", "--data", geotiffs_folder(tmp_path), "--out", tmp_path / "run",
        "task.temporal_positives=true", *SMALL["moco"],
    )  # fmt: skip
    assert code != 0 and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert "task 'moco': temporal positives need several dates of one place" in err
    assert not (tmp_path / "run").exists()


def test_the_key_view_comes_from_the_partner_with_temporal_positives() -> None:
    """MoCo with temporal positives draws its second view from ``meta['partner_images']``, its first from the
    images; without the partner in meta (e.g. ``ssl show``) both come from the images."""
    from pretext.moco import MoCo
    from ssl_toolkit.backbones import create_backbone

    task = MoCo(create_backbone("mnist_net", 3), proj_hidden=16, proj_dim=8, queue_size=8, temporal_positives=True)
    images, partners = torch.rand(4, 3, 28, 28), torch.rand(4, 3, 28, 28)
    meta = {"pixel_mean": torch.zeros(1, 3, 1, 1), "pixel_std": torch.ones(1, 3, 1, 1)}
    paired = task.make_views(images, meta | {"partner_images": partners})
    alone = task.make_views(images, meta)
    assert torch.equal(paired[0], alone[0]) and not torch.allclose(paired[1], alone[1])
    assert torch.equal(paired[1], task.make_views(partners, meta)[1])
