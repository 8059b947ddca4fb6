"""Pictures of a task's training examples with their labels, so a person can check a puzzle by eye.

Each task draws its own ``examples(images, meta) -> (panels, captions)`` (puzzles, patch layouts; classification
tasks show their inputs with the target class). NaN pixels are drawn blank. Used by ``ssl show`` and by every
pretraining run (``plots/examples.png``).
"""

from __future__ import annotations

from pathlib import Path

import torch

from ssl_toolkit import atomic
from ssl_toolkit.data import DataSource, Normalizer, epoch_order, iterate


def draw_examples(
    task: torch.nn.Module,
    data: DataSource,
    normalize: Normalizer,
    device: torch.device,
    seed: int,
    path: Path,
    title: str,
    n: int = 4,
) -> int:
    """Draw the task's examples for ``n`` training images (the first batch of a seeded order) into ``path``.

    Runs under a forked RNG, so drawing does not change a training run's randomness. Returns the panel count.
    """
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices), torch.no_grad():
        torch.manual_seed(seed)
        images, batch_meta = next(iterate(data.train, epoch_order(len(data.train), n, seed, 0)[:1]))
        meta = {k: v.to(device) for k, v in batch_meta.items()}
        meta |= normalize.stats()
        panels, captions = task.examples(normalize(images.to(device)), meta)
    save_examples(panels, captions, path, title, channels=data.display_channels)
    return len(panels)


def _displayable(panel: torch.Tensor, channels: list[int] | None = None) -> torch.Tensor:
    """(C, H, W) any range -> (H, W, 3) in [0, 1], min-max scaled per panel, NaN -> white; three or more channels
    show ``channels`` as red, green, blue (default the first three), fewer the first as grey."""
    x = panel.float()
    if x.shape[0] >= 3:
        picked = channels if channels is not None and len(channels) == 3 and max(channels) < x.shape[0] else [0, 1, 2]
        x = x[picked]
    else:
        x = x[:1].expand(3, -1, -1)
    valid = ~torch.isnan(x)
    lo = x[valid].min() if valid.any() else torch.tensor(0.0)
    hi = x[valid].max() if valid.any() else torch.tensor(1.0)
    x = (x - lo) / (hi - lo).clamp_min(1e-8)
    return torch.where(valid, x, torch.ones_like(x)).permute(1, 2, 0).clamp(0, 1)


def save_examples(
    panels: list[torch.Tensor],
    captions: list[str],
    path: Path,
    title: str,
    columns: int = 4,
    channels: list[int] | None = None,
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(panels)
    rows = (n + columns - 1) // columns
    fig, axes = plt.subplots(rows, columns, figsize=(2.6 * columns, 2.9 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, panel, caption in zip(axes.flat, panels, captions):
        ax.imshow(_displayable(panel, channels).numpy(), interpolation="nearest")
        ax.set_title(caption, fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    with atomic.atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
