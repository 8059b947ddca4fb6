"""A run stopped after N steps and resumed ends bit-identical to an uninterrupted run (on CPU)."""

from pathlib import Path

import pytest
from safetensors.torch import load_file

from ssl_toolkit.weights import state_equal

TINY = ["data.subset=200", "train.batch_size=8", "train.epochs=2", "train.log_every=5"]  # 25 steps per epoch


@pytest.mark.parametrize("task", ["transpose", "rotation"])
def test_stop_and_resume_equals_uninterrupted(ssl, tmp_path: Path, task: str) -> None:
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    assert ssl("pretrain", "--task", task, "--max-steps", 40, "--out", whole, *TINY)[0] == 0
    assert ssl("pretrain", "--task", task, "--max-steps", 12, "--out", parts, *TINY)[0] == 0
    assert ssl("pretrain", "--resume", "--max-steps", 31, "--out", parts)[0] == 0  # crosses the epoch boundary
    code, out, _ = ssl("pretrain", "--resume", "--max-steps", 40, "--out", parts)
    assert code == 0 and "step 40" in out
    a, b = load_file(str(whole / "backbone.safetensors")), load_file(str(parts / "backbone.safetensors"))
    assert state_equal(a, b)

    # the metrics of the resumed run are the same steps, each logged once
    def records(run: Path) -> list[str]:
        return [line.split('"elapsed_s"')[0] for line in (run / "metrics.jsonl").read_text().splitlines()]

    assert records(whole) == records(parts)


def test_without_resume_an_existing_run_is_not_overwritten(ssl, tmp_path: Path) -> None:
    assert ssl("pretrain", "--max-steps", 2, "--out", tmp_path / "r", *TINY)[0] == 0
    code, _, err = ssl("pretrain", "--max-steps", 2, "--out", tmp_path / "r", *TINY)
    assert code == 2 and "already holds a run; pass --resume" in err
