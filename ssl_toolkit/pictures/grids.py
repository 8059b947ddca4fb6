"""Image grids as PNG: pixels in [0, 1], (N, C, H, W); more than 3 channels show the first three. Captioned
image tables (``image_table``) for pictures that label each image."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
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
    store = folder / "progression.npy"
    rows = np.load(store, allow_pickle=False) if store.exists() else np.zeros((0, *row.shape), dtype=np.float32)
    rows = np.concatenate([rows[: epoch - 1], row.detach().float().cpu().numpy()[None]])
    with atomic.atomic_path(store) as tmp:
        with tmp.open("wb") as f:
            np.save(f, rows)
    save_grid(torch.from_numpy(rows).flatten(0, 1), folder / "progression.png", columns=row.shape[0])


def to_display(
    pixels: torch.Tensor,
    lo: torch.Tensor | None = None,
    hi: torch.Tensor | None = None,
    channels: list[int] | None = None,
) -> np.ndarray:
    """Pixels (N, C, H, W) -> (N, H, W, 3) in [0, 1]: channel range lo..hi to black..white (None: each image's
    own min..max); three or more channels show ``channels`` as red, green, blue (default the first three), fewer
    the first as grey."""
    x = pixels.detach().float().cpu()
    if lo is None or hi is None:
        low = x.flatten(1).min(1).values.view(-1, 1, 1, 1)
        high = x.flatten(1).max(1).values.view(-1, 1, 1, 1)
    else:
        low, high = lo.view(1, -1, 1, 1), hi.view(1, -1, 1, 1)
    x = ((x - low) / (high - low).clamp_min(1e-8)).clamp(0, 1)
    rgb = channels if channels is not None and len(channels) == 3 else [0, 1, 2]
    x = x[:, rgb] if x.shape[1] >= 3 else x[:, :1].expand(-1, 3, -1, -1)
    return x.permute(0, 2, 3, 1).numpy()


def figure_png(fig, dpi: int = 110, tight: bool = True) -> bytes:
    """A matplotlib figure as PNG bytes (the figure is closed); ``tight``: cropped to what is drawn."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight" if tight else None)
    plt.close(fig)
    return buffer.getvalue()


def image_table(cells: list[list[tuple[np.ndarray, str, str]]], title: str) -> bytes:
    """PNG of rows of (image H x W x 3 in [0, 1], caption, caption colour); short rows leave blank cells."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows, columns = len(cells), max(len(r) for r in cells)
    fig, axes = plt.subplots(rows, columns, figsize=(1.35 * columns, 1.55 * rows + 0.4), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for r, row in enumerate(cells):
        for c, (image, caption, colour) in enumerate(row):
            axes[r, c].imshow(image, interpolation="nearest")
            axes[r, c].set_title(caption, fontsize=6.5, color=colour)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return figure_png(fig)
