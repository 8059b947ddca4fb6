"""Batched patch extraction: many square windows per image, each at its own position, in one gather.

No per-sample Python: positions are tensors on the images' device and one advanced-indexing op cuts all windows.
"""

from __future__ import annotations

import torch


def cut_windows(images: torch.Tensor, top: torch.Tensor, left: torch.Tensor, size: int) -> torch.Tensor:
    """images (B, C, H, W); top, left (B, K) int -> windows (B, K, C, size, size).

    Window k of image b is ``images[b, :, top[b,k]:top[b,k]+size, left[b,k]:left[b,k]+size]``.
    """
    b, k = top.shape
    ar = torch.arange(size, device=images.device)
    rows = (top.unsqueeze(-1) + ar).view(b, k, size, 1)  # (B, K, s, 1)
    cols = (left.unsqueeze(-1) + ar).view(b, k, 1, size)  # (B, K, 1, s)
    batch = torch.arange(b, device=images.device).view(b, 1, 1, 1)
    # advanced indices (batch, rows, cols) broadcast to (B, K, s, s); the channel slice goes last
    windows = images.permute(0, 2, 3, 1)[batch, rows, cols]  # (B, K, s, s, C)
    return windows.permute(0, 1, 4, 2, 3).contiguous()


def grid_geometry(image_size: int, grid: int, tile_fraction: float) -> tuple[int, int]:
    """Cell and tile side for a grid x grid puzzle on a square image; a too-small image is a ValueError."""
    cell = image_size // grid
    tile = int(round(cell * tile_fraction))
    if tile < 2 or tile > cell:
        raise ValueError(
            f"images of {image_size}x{image_size} px are too small for a {grid}x{grid} grid with tile_fraction "
            f"{tile_fraction}: cells of {cell} px give tiles of {tile} px (need at least 2)"
        )
    return cell, tile


def random_grid_tiles(
    images: torch.Tensor, grid: int, tile_fraction: float, jitter: bool = True
) -> tuple[torch.Tensor, int]:
    """Cut a grid x grid puzzle from each image: (B, grid*grid, C, t, t) tiles in row-major cell order.

    The grid of cells sits at a random offset inside the image; inside each cell the tile sits at a random
    offset (the gap between tiles, so edges cannot be matched). Returns the tiles and the tile side t.
    """
    b, _, h, w = images.shape
    if h != w:
        raise ValueError(f"puzzles need square images, got {h}x{w}")
    cell, tile = grid_geometry(h, grid, tile_fraction)
    dev = images.device
    slack = h - grid * cell
    origin = torch.randint(0, slack + 1, (b, 2), device=dev) if jitter else torch.full((b, 2), slack // 2, device=dev)
    n = grid * grid
    cell_idx = torch.arange(n, device=dev)
    base_top = (cell_idx // grid) * cell
    base_left = (cell_idx % grid) * cell
    if jitter:
        off = torch.randint(0, cell - tile + 1, (b, n, 2), device=dev)
    else:
        off = torch.full((b, n, 2), (cell - tile) // 2, device=dev)
    top = origin[:, :1] + base_top + off[..., 0]
    left = origin[:, 1:] + base_left + off[..., 1]
    return cut_windows(images, top, left, tile), tile


def normalize_tiles(tiles: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Each tile, each channel, to zero mean and unit std on its own (Noroozi & Favaro): (..., C, H, W)."""
    mean = tiles.mean(dim=(-2, -1), keepdim=True)
    std = tiles.std(dim=(-2, -1), keepdim=True)
    return (tiles - mean) / (std + eps)
