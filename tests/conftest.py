"""Shared fixtures: tiny sizes everywhere, real files (packaged MNIST, generated PNG folders)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ssl_toolkit.cli import main


@pytest.fixture(autouse=True)
def _few_threads() -> None:
    torch.set_num_threads(2)


@pytest.fixture(autouse=True)
def _session_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """One cache folder for the whole test session, never the user's (feature caches, judges, permutations)."""
    monkeypatch.setenv("SSL_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "ssl-cache"))


@pytest.fixture
def image_folder(tmp_path: Path) -> Path:
    """ROOT/<class>/<n>.png: 3 classes x 12 RGB images of 16x16, each class a different dominant colour."""
    root = tmp_path / "images"
    rng = np.random.default_rng(0)
    for c, name in enumerate(["red", "green", "blue"]):
        (root / name).mkdir(parents=True)
        for i in range(12):
            pixels = rng.integers(0, 80, size=(16, 16, 3), dtype=np.uint8)
            pixels[..., c] = 200
            Image.fromarray(pixels).save(root / name / f"{i}.png")
    return root


@pytest.fixture
def ssl(capsys: pytest.CaptureFixture[str]):
    """Run the `ssl` CLI in-process; returns (exit code, stdout, stderr)."""

    def run(*args: str) -> tuple[int, str, str]:
        code = main([str(a) for a in args])
        out, err = capsys.readouterr()
        return code, out, err

    return run
