"""Defaults that fit the data and the task: the seed recipe only for the seed experiment, a backbone sized for
the images, each learner's optimizer recipe; printed once and recorded in config.yaml."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ssl_toolkit.build import resolve_config
from tests.images import colour_images


def test_the_seed_experiment_keeps_the_seed_recipe() -> None:
    c = resolve_config({}, [])
    assert c["backbone"]["name"] == "mnist_net" and c["optim"]["name"] == "adadelta" and c["optim"]["lr"] == 1.0
    assert c["schedule"]["name"] == "step"


@pytest.mark.parametrize(
    ("overrides", "backbone", "optim", "lr", "schedule"),
    [
        ({"task.name": "jigsaw"}, "mnist_net", "adamw", 1e-3, "cosine"),
        ({"data.name": "eurosat-rgb"}, "resnet18", "adamw", 1e-3, "cosine"),
        ({"task.name": "gan"}, "mnist_net", "adam", 2e-4, "constant"),
        ({"task.name": "vae", "data.name": "eurosat-ms"}, "resnet18", "adam", 1e-3, "constant"),
        ({"data.image_size": 64}, "resnet18", "adamw", 1e-3, "cosine"),  # no longer the seed's 28 px MNIST
    ],
)
def test_other_runs_get_a_backbone_for_their_size_and_their_learner_s_recipe(
    overrides: dict, backbone: str, optim: str, lr: float, schedule: str
) -> None:
    c = resolve_config({}, list(overrides.items()))
    assert (c["backbone"]["name"], c["optim"]["name"], c["optim"]["lr"], c["schedule"]["name"]) == (
        backbone,
        optim,
        lr,
        schedule,
    )
    if overrides.get("task.name") == "gan":
        assert c["optim"]["momentum"] == 0.5


def test_given_keys_win_and_the_size_of_a_folder_is_read_from_its_first_image(tmp_path: Path) -> None:
    small = colour_images(tmp_path / "small", 2)  # 16 px
    assert resolve_config({}, [("data.name", str(small))])["backbone"]["name"] == "mnist_net"
    c = resolve_config({}, [("data.name", str(small)), ("optim.lr", 0.01), ("backbone.name", "resnet18")])
    assert c["optim"]["lr"] == 0.01 and c["optim"]["name"] == "adamw" and c["backbone"]["name"] == "resnet18"
    assert resolve_config({}, [("data.name", str(small)), ("data.image_size", 128)])["backbone"]["name"] == "resnet18"


def test_the_choice_is_printed_once_and_recorded(ssl, tmp_path: Path) -> None:
    code, out, _ = ssl("pretrain", "--task", "jigsaw", "--out", tmp_path / "r", "--max-steps", 1, "data.subset=64")
    assert code == 0 and out.count("defaults for jigsaw on mnist (28 px): the jigsaw recipe") == 1
    saved = yaml.safe_load((tmp_path / "r" / "config.yaml").read_text())
    assert saved["optim"]["name"] == "adamw" and saved["schedule"]["name"] == "cosine"


def test_a_run_that_will_not_fit_in_memory_is_refused_before_it_allocates(ssl, tmp_path: Path) -> None:
    """mnist_net at 2048 px would have an 8.5 G-weight fc1: refused with the keys to change, nothing allocated."""
    images = colour_images(tmp_path / "images", 5)
    args = ["--data", images, "--backbone", "mnist_net", "--out", tmp_path / "r", "data.image_size=2048"]
    code, _, err = ssl("pretrain", *args)
    assert code == 2 and "this run needs about" in err and "backbone.name" in err and "train.batch_size" in err
    assert not (tmp_path / "r").exists()


def test_train_minutes_sets_the_epochs_from_timed_steps(ssl, tmp_path: Path) -> None:
    code, out, err = ssl(
        "pretrain", "--out", tmp_path / "r", "data.subset=256", "train.minutes=0.05", "train.batch_size=64"
    )
    assert code == 0, err
    assert "train.minutes=0.05:" in out and "-> train.epochs=" in out
    saved = yaml.safe_load((tmp_path / "r" / "config.yaml").read_text())
    epochs = int(out.split("-> train.epochs=")[1].split()[0])
    assert saved["train"]["epochs"] == epochs >= 1 and saved["train"]["minutes"] == 0.05
    assert f"epoch {epochs}" in out  # trained them all


def test_a_validation_holdout_never_touches_the_test_split() -> None:
    from ssl_toolkit.data import DataOptions, load_data

    plain = load_data("mnist", DataOptions(subset=None))
    held = load_data("mnist", DataOptions(holdout="validation"))
    assert len(held.train) + len(held.test) == len(plain.train) == 60000
    assert len(held.test) == 12000 and torch_equal_labels(held, plain)


def torch_equal_labels(held, plain) -> bool:
    import torch

    counts = torch.bincount(held.test.labels, minlength=10).float() / len(held.test)
    reference = torch.bincount(plain.train.labels, minlength=10).float() / len(plain.train)
    return bool((counts - reference).abs().max() < 0.005)  # stratified


def test_small_image_stems_keep_larger_maps() -> None:
    import torch

    from ssl_toolkit.backbones import create_backbone

    sizes = {
        s: create_backbone("resnet18", 3, stem=s).forward_features(torch.zeros(1, 3, 64, 64)).shape[-1]
        for s in ("default", "medium", "small")
    }
    assert sizes == {"default": 2, "medium": 4, "small": 8}
    half = create_backbone("resnet18", 3, stem="medium", width=0.5)
    assert half.num_features == 256 and half.forward_features(torch.zeros(1, 3, 64, 64)).shape[-1] == 4
    with pytest.raises(ValueError, match="backbone.stem and backbone.width apply to timm ResNets"):
        create_backbone("mnist_net", 1, stem="small")
