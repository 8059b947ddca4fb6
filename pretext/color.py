"""sRGB <-> CIE L*a*b* (D65 white), batched on any device, following the CIE formulas.

Used by colorization (damaged jigsaw): the net sees lightness L* and predicts chrominance a*, b*.
Shapes: (..., 3, H, W) with channels in the third-from-last dimension; RGB in [0, 1].
"""

from __future__ import annotations

import torch

# sRGB (linear) -> CIE XYZ, D65 (IEC 61966-2-1)
_RGB_TO_XYZ = torch.tensor(
    [[0.4124564, 0.3575761, 0.1804375], [0.2126729, 0.7151522, 0.0721750], [0.0193339, 0.1191920, 0.9503041]]
)
_XYZ_TO_RGB = torch.linalg.inv(_RGB_TO_XYZ.double())  # cast to the input dtype in _mix, as before
_WHITE_D65 = torch.tensor([0.95047, 1.0, 1.08883])
_DELTA = 6.0 / 29.0


def _mix(matrix: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return torch.einsum("ij,...jhw->...ihw", matrix.to(x), x)


def srgb_to_linear(c: torch.Tensor) -> torch.Tensor:
    return torch.where(c <= 0.04045, c / 12.92, ((c.clamp_min(0) + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(c: torch.Tensor) -> torch.Tensor:
    return torch.where(c <= 0.0031308, 12.92 * c, 1.055 * c.clamp_min(0) ** (1 / 2.4) - 0.055)


def rgb_to_lab(rgb: torch.Tensor) -> torch.Tensor:
    """(..., 3, H, W) sRGB in [0, 1] -> L* in [0, 100], a*, b* roughly in [-128, 127]."""
    xyz = _mix(_RGB_TO_XYZ, srgb_to_linear(rgb)) / _WHITE_D65.to(rgb).view(3, 1, 1)
    f = torch.where(xyz > _DELTA**3, xyz.clamp_min(1e-12) ** (1 / 3), xyz / (3 * _DELTA**2) + 4 / 29)
    fx, fy, fz = f.unbind(-3)
    return torch.stack([116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)], dim=-3)


def lab_to_rgb(lab: torch.Tensor) -> torch.Tensor:
    """Inverse of ``rgb_to_lab`` (no clipping: out-of-gamut colours come back outside [0, 1])."""
    L, a, b = lab.unbind(-3)
    fy = (L + 16) / 116
    f = torch.stack([fy + a / 500, fy, fy - b / 200], dim=-3)
    xyz = torch.where(f > _DELTA, f**3, 3 * _DELTA**2 * (f - 4 / 29)) * _WHITE_D65.to(lab).view(3, 1, 1)
    return linear_to_srgb(_mix(_XYZ_TO_RGB, xyz))


def gray_level(rgb: torch.Tensor) -> torch.Tensor:
    """(..., 3, H, W) sRGB -> (..., 1, H, W): the sRGB level of the gray with the same L* as each pixel.

    L* depends on the luminance Y alone, and a neutral colour of luminance Y has linear R = G = B = Y, so the
    gray is sRGB(Y): no round trip through Lab is needed.
    """
    y = torch.einsum("j,...jhw->...hw", _RGB_TO_XYZ[1].to(rgb), srgb_to_linear(rgb))
    return linear_to_srgb(y).unsqueeze(-3)


def luminance_gray(rgb: torch.Tensor) -> torch.Tensor:
    """Decolorize: the sRGB image whose every channel is the gray with the same L* (a* = b* = 0)."""
    return gray_level(rgb).expand_as(rgb)
