"""Progressive growing and the StyleGAN-style mapping network: resolutions keyed on the image size, the fade-in
weight at given image counts, the fade itself, real images lowered as fakes are, the mapping network's shapes,
and a growing GAN that resumes at the same stage, bit for bit."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from pretext.gan import GAN
from pretext.growing_generators import GrowingGenerator, ProgressiveSchedule, lower_resolution, resolutions_for
from ssl_toolkit.backbones import create_backbone
from tests.tiny import TINY_RUN, geotagged_mnist_like, state_equal


def test_resolutions_halve_the_image_size_while_even_and_at_least_4() -> None:
    assert resolutions_for(28) == [7, 14, 28]
    assert resolutions_for(64) == [4, 8, 16, 32, 64]
    assert resolutions_for(48) == [6, 12, 24, 48]


def test_the_fade_in_weight_at_given_image_counts() -> None:
    schedule = ProgressiveSchedule(stages=3, stage_images=1000, fade_images=500)
    # stage 0 for 1000 images; stage 1 fades in over 1000-1500, trains at full weight to 2500; stage 2 from 2500
    expected = {0: (0, 1.0), 999: (0, 1.0), 1000: (1, 0.0), 1250: (1, 0.5), 1499: (1, 0.998), 1500: (1, 1.0)}
    expected |= {2499: (1, 1.0), 2500: (2, 0.0), 2600: (2, 0.2), 3000: (2, 1.0), 10**6: (2, 1.0)}
    for images, (stage, alpha) in expected.items():
        got = schedule.at(images)
        assert got[0] == stage and got[1] == pytest.approx(alpha), images


def test_a_new_stage_at_fade_zero_draws_exactly_the_previous_stage_upsampled() -> None:
    torch.manual_seed(0)
    for style in (False, True):
        gen = GrowingGenerator(8, 1, 28, style=style).eval()
        z = torch.randn(3, 8)
        previous = gen(z, stage=0)  # 7 px, upsampled to 28 by nearest
        assert previous.shape == (3, 1, 28, 28)
        assert torch.equal(previous[..., ::4, ::4].repeat_interleave(4, -1).repeat_interleave(4, -2), previous)
        assert torch.allclose(gen(z, stage=1, alpha=0.0), previous, atol=1e-6)
        half = 0.5 * gen(z, stage=1, alpha=1.0) + 0.5 * previous
        assert torch.allclose(gen(z, stage=1, alpha=0.5), half, atol=1e-6)


def test_real_images_are_lowered_to_the_stage_and_blended_like_fakes() -> None:
    x = torch.rand(2, 1, 28, 28)
    sizes = resolutions_for(28)
    at_14 = F.avg_pool2d(x, 2).repeat_interleave(2, -1).repeat_interleave(2, -2)  # 2x2 block means
    at_7 = F.avg_pool2d(x, 4).repeat_interleave(4, -1).repeat_interleave(4, -2)
    assert torch.allclose(lower_resolution(x, sizes, 1, 1.0), at_14, atol=1e-6)
    assert torch.allclose(lower_resolution(x, sizes, 1, 0.25), 0.25 * at_14 + 0.75 * at_7, atol=1e-6)
    assert torch.equal(lower_resolution(x, sizes, 2, 1.0), x)


def test_the_mapping_network_maps_z_to_w_and_styles_every_block() -> None:
    gen = GrowingGenerator(16, 3, 64, style=True, w_dim=32, mapping_layers=4)
    w = gen.mapping(torch.randn(5, 16))
    assert w.shape == (5, 32)
    assert sum(isinstance(m, torch.nn.Linear) for m in gen.mapper) == 4
    assert len(gen.styles) == len(gen.sizes) == 5  # one AdaIN per block: 4, 8, 16, 32, 64 px
    assert all(
        s.affine.in_features == 32 and s.affine.out_features == 2 * c.out_channels
        for s, c in zip(gen.styles, gen.convs)
    )
    assert gen.synthesis(w).shape == (5, 3, 64, 64)
    with pytest.raises(ValueError, match="only the style generator"):
        GrowingGenerator(16, 3, 64).mapping(torch.randn(1, 16))


def test_progressive_needs_a_growing_generator() -> None:
    with pytest.raises(ValueError, match="progressive growing needs generator=pggan or style"):
        GAN(create_backbone("mnist_net", 1, None, 28), progressive=True)


def test_a_growing_gan_counts_real_images_and_logs_its_stage() -> None:
    from ssl_toolkit.engine.optim import build_optimizer
    from ssl_toolkit.engine.step import StepContext

    torch.manual_seed(0)
    gan = GAN(
        create_backbone("mnist_net", 1, None, 28), generator="style", progressive=True, stage_images=6, fade_images=12
    )
    gan.fit_data(geotagged_mnist_like(20))
    ctx = StepContext(
        gan,
        {g: build_optimizer("adam", p, 1e-3, 0.0, 0.5) for g, p in gan.optimizer_groups().items()},
        torch.device("cpu"),
    )
    meta = {"pixel_mean": torch.tensor(0.5).view(1, 1, 1, 1), "pixel_std": torch.tensor(0.25).view(1, 1, 1, 1)}
    seen = [
        (float(out["stage"]), float(out["fade"]))
        for out in (gan.training_step(torch.randn(6, 1, 28, 28), meta, ctx) for _ in range(3))
    ]
    assert seen == [(0.0, 1.0), (1.0, 0.0), (1.0, 0.5)] and int(gan.images_seen) == 18


def test_a_progressive_style_gan_resumes_at_the_same_stage_bit_for_bit(ssl, tmp_path: Path) -> None:
    args = ["--task", "gan", *TINY_RUN, "train.epochs=2", "task.generator=style", "task.progressive=true"]
    args += ["task.stage_images=96", "task.fade_images=128", "task.quality_samples=0"]
    assert ssl("pretrain", *args, "--out", tmp_path / "whole")[0] == 0
    assert ssl("pretrain", *args, "--max-steps", 5, "--out", tmp_path / "parts")[0] == 0  # inside the first fade
    assert ssl("pretrain", "--resume", "--out", tmp_path / "parts")[0] == 0
    a, b = (
        torch.load(tmp_path / r / "checkpoints" / "last.pt", weights_only=True)["model"] for r in ("whole", "parts")
    )
    assert state_equal(a, b) and int(a["images_seen"]) == 2 * 200  # two epochs of 200 images
    assert (tmp_path / "whole" / "plots" / "gan" / "interpolation_z_vs_w.png").stat().st_size > 0


def test_an_untrained_style_generator_already_draws_different_images_for_different_latents() -> None:
    torch.manual_seed(0)
    gen = GrowingGenerator(16, 1, 28, style=True).eval()
    images = gen(torch.randn(4, 16))
    assert (images[0] - images[1:]).abs().amax() > 1e-3  # not one image for every z
