"""RGB <-> Lab against the CIE formulas: known colours and an exact round trip."""

import pytest
import torch

from pretext.color import lab_to_rgb, luminance_gray, rgb_to_lab

# Reference L*a*b* (D65) of sRGB primaries and greys, computed with the CIE formulas (e.g. Bruce Lindbloom's
# calculator gives the same to 0.01).
KNOWN = [
    ((1.0, 1.0, 1.0), (100.0, 0.0, 0.0)),
    ((0.0, 0.0, 0.0), (0.0, 0.0, 0.0)),
    ((1.0, 0.0, 0.0), (53.24, 80.09, 67.20)),
    ((0.0, 1.0, 0.0), (87.73, -86.18, 83.18)),
    ((0.0, 0.0, 1.0), (32.30, 79.19, -107.86)),
    ((0.5, 0.5, 0.5), (53.39, 0.0, 0.0)),
]


@pytest.mark.parametrize(("rgb", "lab"), KNOWN)
def test_known_colours(rgb: tuple, lab: tuple) -> None:
    got = rgb_to_lab(torch.tensor(rgb, dtype=torch.float64).view(3, 1, 1)).view(3)
    assert torch.allclose(got, torch.tensor(lab, dtype=torch.float64), atol=0.02), got


def test_round_trip_is_exact_to_1e4() -> None:
    rgb = torch.rand(4, 5, 3, 8, 8, dtype=torch.float64)
    assert (lab_to_rgb(rgb_to_lab(rgb)) - rgb).abs().max() < 1e-4
    rgb32 = torch.rand(2, 3, 16, 16)
    assert (lab_to_rgb(rgb_to_lab(rgb32)) - rgb32).abs().max() < 1e-4


def test_decolorized_tiles_keep_lightness_and_lose_chroma() -> None:
    rgb = torch.rand(3, 3, 6, 6, dtype=torch.float64)
    gray = luminance_gray(rgb)
    assert torch.allclose(gray[:, 0], gray[:, 1]) and torch.allclose(gray[:, 1], gray[:, 2])
    lab_gray, lab = rgb_to_lab(gray), rgb_to_lab(rgb)
    assert torch.allclose(lab_gray[:, 0], lab[:, 0], atol=1e-6)
    # ~1e-5 remains because the sRGB matrix's rows sum to the D65 white only to 6 digits (a*, b* span +-128)
    assert lab_gray[:, 1:].abs().max() < 1e-4
