"""Batched patch extraction: many square windows per image, each at its own position, in one gather.

No per-sample Python: positions are tensors on the images' device and one advanced-indexing op cuts all windows.
"""

from __future__ import annotations

import torch

# What ``task.align`` is for, said once. A lossy codec leaves a periodic trace in every image: a JPEG's 8 px
# blocks, its chroma stored at half resolution, 16 px in all. When a patch layout nearly fills a small image, each
# label puts a patch at its own place, so the phase of that trace inside the patch tells the label without
# looking at the picture. Steps between patches (cells of a puzzle) that are multiples of the period put every
# patch at the same phase; random jitter on top is harmless (it does not depend on the label).


def cut_windows(images: torch.Tensor, top: torch.Tensor, left: torch.Tensor, size: int) -> torch.Tensor:
    """images (B, C, H, W); top, left (B, K) int -> windows (B, K, C, size, size).

    Window k of image b is ``images[b, :, top[b,k]:top[b,k]+size, left[b,k]:left[b,k]+size]``. The image is
    viewed (without a copy) as all its size x size windows, and one advanced index picks K of them per image.
    """
    windows = images.unfold(2, size, 1).unfold(3, size, 1)  # (B, C, H-size+1, W-size+1, size, size), a view
    batch = torch.arange(images.shape[0], device=images.device).unsqueeze(1)
    return windows[batch, :, top, left]  # advanced indices first: (B, K, C, size, size)


def grid_geometry(image_size: int, grid: int, tile_fraction: float, align: int = 1) -> tuple[int, int]:
    """Cell and tile side for a grid x grid puzzle on a square image; a too-small image is a ValueError.

    ``align`` > 1 rounds the cell down to a multiple of that many pixels, so every tile sits at the same phase of
    a compression grid of that period (the note at the top)."""
    cell = image_size // grid
    if align > 1:
        if cell < align:
            raise ValueError(f"cells of {cell} px ({image_size} px / {grid}) are smaller than task.align={align} px")
        cell -= cell % align
    tile = int(round(cell * tile_fraction))
    if tile < 2 or tile > cell:
        raise ValueError(
            f"images of {image_size}x{image_size} px are too small for a {grid}x{grid} grid with tile_fraction "
            f"{tile_fraction}: cells of {cell} px give tiles of {tile} px (need at least 2)"
        )
    return cell, tile


def grid_positions(
    images: torch.Tensor, grid: int, tile_fraction: float, jitter: bool = True, align: int = 1
) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Top-left corners (B, grid*grid) of a puzzle's tiles in row-major cell order, and the tile side.

    The grid of cells sits at a random offset inside the image; inside each cell the tile sits at a random
    offset (the gap between tiles, so edges cannot be matched).
    """
    b, _, h, w = images.shape
    if h != w:
        raise ValueError(f"puzzles need square images, got {h}x{w}")
    cell, tile = grid_geometry(h, grid, tile_fraction, align)
    dev = images.device
    slack = h - grid * cell
    origin = torch.randint(0, slack + 1, (b, 2), device=dev) if jitter else torch.full((b, 2), slack // 2, device=dev)
    n = grid * grid
    cell_idx = torch.arange(n, device=dev)
    if jitter:
        off = torch.randint(0, cell - tile + 1, (b, n, 2), device=dev)
    else:
        off = torch.full((b, n, 2), (cell - tile) // 2, device=dev)
    top = origin[:, :1] + (cell_idx // grid) * cell + off[..., 0]
    left = origin[:, 1:] + (cell_idx % grid) * cell + off[..., 1]
    return top, left, tile


def random_grid_tiles(
    images: torch.Tensor, grid: int, tile_fraction: float, jitter: bool = True, align: int = 1
) -> tuple[torch.Tensor, int]:
    """Cut a grid x grid puzzle from each image: (B, grid*grid, C, t, t) tiles in row-major cell order."""
    top, left, tile = grid_positions(images, grid, tile_fraction, jitter, align)
    return cut_windows(images, top, left, tile), tile


def normalize_tiles(tiles: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Each tile, each channel, to zero mean and unit std on its own (Noroozi & Favaro): (..., C, H, W).

    The sums come from one matrix product each (much faster on CPU than a reduction over small windows).
    """
    flat = tiles.reshape(-1, tiles.shape[-2] * tiles.shape[-1])
    n = flat.shape[1]
    ones = torch.ones(n, 1, dtype=flat.dtype, device=flat.device)
    s1, s2 = flat @ ones, (flat * flat) @ ones
    mean = s1 / n
    std = ((s2 - s1 * mean) / max(n - 1, 1)).clamp_min(0).sqrt()
    return ((flat - mean) / (std + eps)).view_as(tiles)


def tile_mosaic(tiles: torch.Tensor) -> torch.Tensor:
    """(9, C, t, t) -> (C, 3t+2, 3t+2): a 3x3 layout with a blank line between tiles, for pictures."""
    c, t = tiles.shape[1], tiles.shape[-1]
    canvas = torch.full((c, 3 * t + 2, 3 * t + 2), float("nan"))
    for i, tile in enumerate(tiles):
        r, col = divmod(i, 3)
        canvas[:, r * (t + 1) : r * (t + 1) + t, col * (t + 1) : col * (t + 1) + t] = tile.cpu()
    return canvas
