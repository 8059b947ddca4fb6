from pathlib import Path

import pytest

from ssl_toolkit import config as cfg
from ssl_toolkit.build import resolve_config
from ssl_toolkit.errors import UserError


def test_defaults_are_the_seed_recipe() -> None:
    c = resolve_config({}, [])
    assert c["task"] == {"name": "transpose", "p": 0.5}
    assert c["optim"]["name"] == "adadelta" and c["optim"]["lr"] == 1.0
    assert c["train"]["batch_size"] == 64 and c["train"]["epochs"] == 1


def test_file_then_overrides_take_precedence(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text("task: {name: rotation}\noptim: {lr: 0.5, name: sgd}\n")
    c = resolve_config(cfg.load_yaml(f), [cfg.parse_override("optim.lr=1e-3"), ("train.epochs", 3)])
    assert c["task"] == {"name": "rotation", "all_rotations": True}
    assert c["optim"]["name"] == "sgd"
    assert c["optim"]["lr"] == pytest.approx(1e-3)  # "1e-3" is a string to YAML; coerced to float
    assert c["train"]["epochs"] == 3


def test_unknown_key_names_the_closest_key() -> None:
    with pytest.raises(UserError, match=r"unknown config key 'optim\.lrr' \(did you mean 'optim\.lr'\?\)"):
        resolve_config({}, [cfg.parse_override("optim.lrr=0.1")])


def test_task_parameters_come_from_the_constructor_signature() -> None:
    c = resolve_config({}, [("task.name", "transpose"), cfg.parse_override("task.p=0.25")])
    assert c["task"]["p"] == 0.25
    with pytest.raises(UserError, match="did you mean 'task.p'"):
        resolve_config({}, [cfg.parse_override("task.pp=0.25")])
    with pytest.raises(UserError, match="task.all_rotations: expected bool"):
        resolve_config({}, [("task.name", "rotation"), cfg.parse_override("task.all_rotations=maybe")])


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("train.epochs=two", "train.epochs: expected int, got 'two'"),
        ("train.epochs=1.5", "train.epochs: expected int, got 1.5"),
        ("train.batch_size=0", "train.batch_size: expected a value >= 1"),
        ("optim.name=lamb", "optim.name: expected one of adadelta, sgd, adam, adamw"),
        ("train.seed=null", "train.seed: expected int, got null"),
        ("train.epochs", "expected key=value"),
    ],
)
def test_wrong_values_are_rejected_with_the_key(override: str, message: str) -> None:
    with pytest.raises(UserError, match=message.replace(".", r"\.").replace("(", r"\(")):
        resolve_config({}, [cfg.parse_override(override)])


def test_malformed_yaml_names_the_file(tmp_path: Path) -> None:
    f = tmp_path / "bad.yaml"
    f.write_text("optim: [unclosed\n")
    with pytest.raises(UserError, match="bad.yaml line"):
        cfg.load_yaml(f)
    f.write_text("- a list\n")
    with pytest.raises(UserError, match="expected a mapping"):
        cfg.load_yaml(f)


def test_saved_config_round_trips(tmp_path: Path) -> None:
    c = resolve_config({}, [("task.name", "rotation")])
    cfg.save(c, tmp_path / "config.yaml")
    assert resolve_config(cfg.load_yaml(tmp_path / "config.yaml"), []) == c


def test_every_shipped_config_resolves() -> None:
    configs = sorted((Path(__file__).parents[1] / "configs").glob("*.yaml"))
    assert configs, "configs/ holds no YAML files"
    for path in configs:
        resolve_config(cfg.load_yaml(path), [])
