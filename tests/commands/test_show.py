"""`ssl show` draws a task's training examples; every pretraining run saves one such picture."""

from pathlib import Path

import pytest

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("task", ["rotation", "transpose", "context", "jigsaw", "damaged_jigsaw"])
def test_show_writes_a_png_for_every_task(ssl, tmp_path: Path, task: str) -> None:
    out = tmp_path / f"{task}.png"
    extra = ["task.num_permutations=10"] if "jigsaw" in task else []
    code, stdout, _ = ssl("show", "--task", task, "--n", 2, "--out", out, "data.subset=50", *extra)
    assert code == 0 and "examples of" in stdout
    assert out.read_bytes()[:8] == PNG


def test_show_names_a_size_problem(ssl, tmp_path: Path, image_folder: Path) -> None:
    code, _, err = ssl(
        "show",
        "--task",
        "jigsaw",
        "--data",
        image_folder,
        "--out",
        tmp_path / "x.png",
        "task.tile_fraction=0.05",
        "task.num_permutations=10",
    )
    assert code == 2 and "too small" in err
