"""Small labelled image folders for tests: ROOT/<class>/<n>.png, one dominant colour per class on noise."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def colour_images(root: Path, per_class: int) -> Path:
    """3 classes (red, green, blue) x ``per_class`` noisy RGB images of 16x16, seeded."""
    rng = np.random.default_rng(0)
    for c, name in enumerate(["red", "green", "blue"]):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            pixels = rng.integers(0, 80, size=(16, 16, 3), dtype=np.uint8)
            pixels[..., c] = 200
            Image.fromarray(pixels).save(root / name / f"{i}.png")
    return root
