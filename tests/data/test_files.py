"""Finding a dataset's files: each image once, links followed without loops, only regular files read, images
that declare absurd sizes refused before decoding; and ``data.image_size`` on in-memory datasets."""

from __future__ import annotations

import os
from pathlib import Path

from ssl_toolkit.data import DataOptions, load_data
from tests.images import colour_images, png_declaring


def test_a_folder_link_in_a_loop_adds_no_image(tmp_path: Path) -> None:
    """``red/loop -> ..`` once turned 36 images into hundreds, each test image also in train."""
    root = colour_images(tmp_path / "images", 12)
    os.symlink("..", root / "red" / "loop")
    os.symlink(root / "green" / "0.png", root / "blue" / "same-as-green-0.png")  # a second path to one file
    data = load_data(str(root))
    paths = [os.path.realpath(p) for p in data.train.paths + data.test.paths]
    assert len(paths) == 36 and len(set(paths)) == 36


def test_unreadable_entries_are_bad_files_that_skip_lists(ssl, tmp_path: Path) -> None:
    root = colour_images(tmp_path / "images", 6)
    os.mkfifo(root / "red" / "pipe.png")
    png_declaring(root / "green" / "bomb.png", 20000, 20000)
    data = load_data(str(root), DataOptions(on_bad_file="skip"))
    reasons = dict(data.skipped)
    assert reasons[str(root / "red" / "pipe.png")] == "is not a regular file"
    assert "decompression bomb" in reasons[str(root / "green" / "bomb.png")]
    assert len(data.train) + len(data.test) == 18
    code, out, _ = ssl("data", "index", root, "--out", tmp_path / "index.csv")
    assert code == 0 and "bad files: 2" in out


def test_image_size_resizes_in_memory_data() -> None:
    data = load_data("mnist", DataOptions(subset=20, image_size=32))
    assert data.img_size == 32 and tuple(data.train.images.shape[1:]) == (1, 32, 32)
