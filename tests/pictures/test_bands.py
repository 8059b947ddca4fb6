"""Multispectral pictures: which bands are natural and false colour, and a conditional GAN's band-by-band picture
of real against generated 13-band images."""

from __future__ import annotations

from pathlib import Path

import torch

from pretext.base import EpochContext
from pretext.gan import GAN
from ssl_toolkit.backbones import create_backbone
from ssl_toolkit.data import DataSource, Normalizer, TensorImages
from ssl_toolkit.data.splits import false_colour, natural_colour


def test_colour_composites_by_band_name_and_for_13_unnamed_sentinel2_bands() -> None:
    assert natural_colour(("B02", "B03", "B04", "B08"), 4) == [2, 1, 0]
    assert false_colour(("B02", "B03", "B04", "B08"), 4) == [3, 2, 1]  # NIR, red, green
    assert natural_colour((None,) * 13, 13) == [3, 2, 1]  # EuroSAT-MS: B04, B03, B02
    assert false_colour((None,) * 13, 13) == [7, 3, 2]  # B08, B04, B03
    assert natural_colour((None,) * 4, 4) == [0, 1, 2] and false_colour((None,) * 4, 4) is None


def test_a_conditional_gan_on_13_bands_draws_real_and_generated_band_by_band(tmp_path: Path) -> None:
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    split = TensorImages(torch.randint(0, 4000, (8, 13, 16, 16), dtype=torch.int32, generator=g), torch.arange(8) % 2)
    data = DataSource("ms", split, split, (0.03,) * 13, (0.01,) * 13, 13, 16, 2, ("a", "b"), pixel_scale=65535.0)
    assert data.band_labels[7] == "B08"
    gan = GAN(create_backbone("resnet18", 13), conditional=True, quality_samples=0)
    gan.fit_data(data)
    gan.eval()
    normalize = Normalizer.for_data(data, torch.device("cpu"))
    stats = normalize.mean, normalize.std, torch.device("cpu"), normalize.low, normalize.high
    with torch.no_grad():
        gan.epoch_end(EpochContext(1, tmp_path, data, *stats))
    picture = tmp_path / "plots" / "gan" / "bands_real_vs_fake.png"
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and picture.stat().st_size > 10_000
