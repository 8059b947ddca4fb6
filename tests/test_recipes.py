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
