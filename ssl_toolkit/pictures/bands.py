"""Multispectral images band by band: real beside generated, each band in grey and the colour composites."""

from __future__ import annotations

import torch

from ssl_toolkit.pictures.grids import image_table, to_display


def band_table(
    real: torch.Tensor,
    fake: torch.Tensor,
    band_labels: list[str],
    natural: list[int],
    false_colour: list[int] | None,
    title: str,
) -> bytes:
    """PNG: one row per image (real ones, then generated), one column per band in grey, then natural colour and
    (when the bands hold near infrared) the NIR-red-green false colour. ``real``/``fake`` (N, C, H, W) pixels;
    every band is stretched between the real images' 2nd and 98th percentiles, so real and generated rows
    compare on one scale."""
    values = real.detach().float().cpu().transpose(0, 1).flatten(1)  # (C, N*H*W)
    lo, hi = values.quantile(0.02, dim=1), values.quantile(0.98, dim=1)
    rows = []
    for kind, images, colour in (("real", real, "black"), ("generated", fake, "tab:red")):
        for image in images:
            x = image.unsqueeze(0)
            cells = [
                (to_display(x[:, b : b + 1], lo[b : b + 1], hi[b : b + 1])[0], f"{kind} {name}", colour)
                for b, name in enumerate(band_labels)
            ]
            cells.append((to_display(x, lo, hi, natural)[0], f"{kind} natural colour", colour))
            if false_colour is not None:
                cells.append((to_display(x, lo, hi, false_colour)[0], f"{kind} NIR-R-G", colour))
            rows.append(cells)
    return image_table(rows, title)
