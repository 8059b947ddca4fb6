"""The command line: listing, help, and one-line errors (exit 2, no traceback) for user mistakes."""

import subprocess
import sys
from pathlib import Path

import pytest

from tests.tiny import pretrain_tiny


def test_tasks_lists_every_registry(ssl) -> None:
    code, out, _ = ssl("tasks")
    assert code == 0
    for name in ["rotation", "transpose", "mnist_net", "seed-fc", "linear"]:
        assert name in out


@pytest.mark.parametrize(
    ("command", "flags"),
    [
        (
            "pretrain",
            [
                "--task",
                "--config",
                "--data",
                "--backbone",
                "--epochs",
                "--max-steps",
                "--batch-size",
                "--seed",
                "--out",
                "--resume",
                "key=value",
            ],
        ),
        ("probe", ["--run", "--random-init", "--backbone", "--data", "--protocol", "--epochs", "--seed", "--out"]),
        ("show", ["--task", "--data", "--out"]),
        ("tasks", []),
    ],
)
def test_help_shows_the_contract_flags(ssl, command: str, flags: list[str]) -> None:
    code, out, _ = ssl(command, "--help")
    assert code == 0 and out.startswith(f"usage: ssl {command}")
    for flag in flags:
        assert flag in out, flag


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["pretrain", "--task", "jigsw"], "unknown task 'jigsw'"),
        (["pretrain", "--task", "rotatio"], "did you mean 'rotation'"),
        (["pretrain", "optim.lrr=0.1"], "unknown config key 'optim.lrr' (did you mean 'optim.lr'?)"),
        (["pretrain", "train.epochs=many"], "config key train.epochs: expected int, got 'many'"),
        (["pretrain", "--data", "/no/such/folder"], "data '/no/such/folder': not a built-in dataset"),
        (["pretrain", "--config", "/no/such.yaml"], "config file /no/such.yaml does not exist"),
        (["pretrain", "--resume"], "--resume needs --out"),
        (["probe"], "give exactly one of --run"),
        (["probe", "--run", "/no/such/run"], "/no/such/run is not a run folder"),
        (["probe", "--random-init", "--backbone", "resnet-18"], "unknown backbone 'resnet-18'"),
        (["pretrain", "--epochs", "abc"], "argument --epochs: invalid int value: 'abc'"),
        (["probe", "--protocol", "knnn"], "argument --protocol: invalid choice: 'knnn'"),
        (["bench"], "the following arguments are required: suite"),
        (["bench", "nope.yaml"], "nope.yaml does not exist"),
        (["pretrain", "optim.grad_clip=0"], "optim.grad_clip: expected a value >= 1e-12"),
        (["probe", "--random-init", "--backbone", "mnist_net", "probe.lr=-1"], "lr must be > 0"),
    ],
)
def test_user_mistakes_are_one_line_errors(ssl, args: list[str], message: str) -> None:
    code, _, err = ssl(*args)
    assert code == 2
    assert err.startswith("ssl: error: ") and message in err and err.count("\n") == 1


def test_corrupt_and_mismatched_run_weights(ssl, tmp_path: Path) -> None:
    run = tmp_path / "run"
    pretrain_tiny(ssl, run, task="transpose", max_steps=1)
    (run / "backbone.safetensors").write_bytes(b"\x00\x01 truncated")
    code, _, err = ssl("probe", "--run", run, "data.subset=64")
    assert code == 2 and "backbone.safetensors is not a readable safetensors file" in err
    (run / "config.yaml").write_text((run / "config.yaml").read_text().replace("mnist_net", "resnet18"))
    from ssl_toolkit.backbones import create_backbone
    from ssl_toolkit.runs import save_backbone

    save_backbone(run / "backbone.safetensors", create_backbone("mnist_net", 1), {})
    code, _, err = ssl("probe", "--run", run, "data.subset=64")
    assert code == 2 and "does not match backbone 'resnet18'" in err
    (run / "checkpoints" / "last.pt").write_bytes(b"garbage")
    code, _, err = ssl("pretrain", "--resume", "--out", run)
    assert code == 2 and "last.pt cannot be read" in err


def test_console_script_exits_2_without_traceback(tmp_path: Path) -> None:
    ssl_bin = Path(sys.executable).parent / "ssl"
    proc = subprocess.run([str(ssl_bin), "pretrain", "--task", "nope"], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and proc.stderr.startswith("ssl: error: unknown task 'nope'")
