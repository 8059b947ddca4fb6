"""Image grids as PNG: pixels in [0, 1], (N, C, H, W); more than 3 channels show the first three."""

from __future__ import annotations

from pathlib import Path

import torch

from ssl_toolkit import atomic


def save_grid(images: torch.Tensor, path: Path, columns: int = 8) -> None:
    from torchvision.utils import save_image

    x = images.detach().float().cpu().clamp(0, 1)
    if x.shape[1] > 3:
        x = x[:, :3]
    with atomic.atomic_path(path) as tmp:
        save_image(x, tmp, nrow=columns, padding=2, pad_value=1.0, format="png")


def save_progression(row: torch.Tensor, folder: Path, epoch: int) -> None:
    """Append this epoch's row (N, C, H, W in [0, 1]) to ``progression.npy`` and draw all rows, one per epoch,
    as ``progression.png``. Rows of later epochs (from a run that is being redone) are replaced."""
    import numpy as np

    store = folder / "progression.npy"
    rows = np.load(store, allow_pickle=False) if store.exists() else np.zeros((0, *row.shape), dtype=np.float32)
    rows = np.concatenate([rows[: epoch - 1], row.detach().float().cpu().numpy()[None]])
    with atomic.atomic_path(store) as tmp:
        with tmp.open("wb") as f:
            np.save(f, rows)
    save_grid(torch.from_numpy(rows).flatten(0, 1), folder / "progression.png", columns=row.shape[0])
