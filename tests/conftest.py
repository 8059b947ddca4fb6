"""Shared fixtures: tiny sizes everywhere, real files (packaged MNIST, generated PNG folders)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from ssl_toolkit.cli import main
from tests.images import colour_images


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
    return colour_images(tmp_path / "images", 12)


@pytest.fixture
def ssl(capsys: pytest.CaptureFixture[str]):
    """Run the `ssl` CLI in-process; returns (exit code, stdout, stderr)."""

    def run(*args: str) -> tuple[int, str, str]:
        code = main([str(a) for a in args])
        out, err = capsys.readouterr()
        return code, out, err

    return run
