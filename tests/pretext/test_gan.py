"""GAN objectives against hand-written formulas, the gradient penalty on a known gradient, k:1 alternation."""

from __future__ import annotations

import math

import pytest
import torch

from pretext.diffaugment import diff_augment, translation
from pretext.gan import GAN
from pretext.gan_losses import discriminator_loss, generator_loss, gradient_penalty
from pretext.generators import normalise, pixels
from pretext.minibatch_discrimination import MinibatchDiscrimination
from pretext.multi import MultiTask
from pretext.rotation import Rotation
from pretext.vae import kl_to_standard_normal
from ssl_toolkit.backbones import create_backbone
from ssl_toolkit.data import DataSource, Normalizer, TensorImages
from ssl_toolkit.engine.optim import build_optimizer
from ssl_toolkit.engine.step import NonFiniteLoss, StepContext
from tests.tiny import geotagged_mnist_like

REAL = torch.tensor([2.0, -1.0, 0.5])
FAKE = torch.tensor([-3.0, 0.0, 1.5])


def sig(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def mean(values) -> float:
    values = list(values)
    return sum(values) / len(values)


def test_discriminator_objectives_match_their_formulas() -> None:
    bce = -mean(math.log(sig(r)) for r in REAL.tolist()) - mean(math.log(1 - sig(f)) for f in FAKE.tolist())
    assert discriminator_loss("non_saturating", REAL, FAKE).item() == pytest.approx(bce, rel=1e-6)
    assert discriminator_loss("minimax", REAL, FAKE).item() == pytest.approx(bce, rel=1e-6)
    smoothed = -mean(0.9 * math.log(sig(r)) + 0.1 * math.log(1 - sig(r)) for r in REAL.tolist()) - mean(
        math.log(1 - sig(f)) for f in FAKE.tolist()
    )
    assert discriminator_loss("minimax", REAL, FAKE, real_label=0.9).item() == pytest.approx(smoothed, rel=1e-6)
    ls = 0.5 * mean((r - 1) ** 2 for r in REAL.tolist()) + 0.5 * mean(f**2 for f in FAKE.tolist())
    assert discriminator_loss("lsgan", REAL, FAKE).item() == pytest.approx(ls, rel=1e-6)
    assert discriminator_loss("wgan", REAL, FAKE).item() == pytest.approx(mean(FAKE.tolist()) - mean(REAL.tolist()))
    hinge = mean(max(0, 1 - r) for r in REAL.tolist()) + mean(max(0, 1 + f) for f in FAKE.tolist())
    assert discriminator_loss("hinge", REAL, FAKE).item() == pytest.approx(hinge, rel=1e-6)


def test_generator_objectives_match_their_formulas() -> None:
    f = FAKE.tolist()
    assert generator_loss("minimax", FAKE).item() == pytest.approx(mean(math.log(1 - sig(x)) for x in f), rel=1e-6)
    assert generator_loss("non_saturating", FAKE).item() == pytest.approx(-mean(math.log(sig(x)) for x in f), rel=1e-6)
    assert generator_loss("lsgan", FAKE).item() == pytest.approx(0.5 * mean((x - 1) ** 2 for x in f), rel=1e-6)
    assert generator_loss("wgan", FAKE).item() == pytest.approx(-mean(f))
    assert generator_loss("hinge", FAKE).item() == pytest.approx(-mean(f))
    with pytest.raises(ValueError, match="objective must be one of"):
        generator_loss("wasserstein", FAKE)


def test_gradient_penalty_on_a_linear_critic_with_a_known_gradient() -> None:
    # D(x) = w . x has gradient w everywhere: the penalty is (||w|| - 1)^2 wherever x_hat falls
    w = torch.tensor([3.0, 4.0])  # ||w|| = 5
    penalty = gradient_penalty(lambda x: x @ w, torch.randn(8, 2), torch.randn(8, 2))
    assert penalty.item() == pytest.approx(16.0)
    unit = w / 5
    assert gradient_penalty(lambda x: x @ unit, torch.randn(8, 2), torch.randn(8, 2)).item() == pytest.approx(
        0.0, abs=1e-10
    )


def test_vae_kl_matches_the_closed_form() -> None:
    mu, logvar = torch.tensor([[0.5, -1.0]]), torch.tensor([[0.2, -0.3]])
    expected = sum(0.5 * (math.exp(lv) + m * m - 1 - lv) for m, lv in zip([0.5, -1.0], [0.2, -0.3], strict=True))
    assert kl_to_standard_normal(mu, logvar).item() == pytest.approx(expected, rel=1e-6)
    assert kl_to_standard_normal(torch.zeros(1, 4), torch.zeros(1, 4)).item() == 0.0


@pytest.mark.parametrize(("d_steps", "g_steps", "expected_g"), [(1, 1, 6), (3, 1, 2), (1, 2, 12)])
def test_the_engine_takes_exactly_k_discriminator_steps_per_generator_step(d_steps, g_steps, expected_g) -> None:
    torch.manual_seed(0)
    task = GAN(create_backbone("mnist_net", in_chans=1, img_size=28), d_steps=d_steps, g_steps=g_steps)
    data = geotagged_mnist_like()
    task.fit_data(data)
    optimizers = {g: build_optimizer("adam", p, 2e-4, 0.0, 0.9) for g, p in task.optimizer_groups().items()}
    ctx = StepContext(task, optimizers, torch.device("cpu"))
    meta = {"pixel_mean": torch.tensor(0.5).view(1, 1, 1, 1), "pixel_std": torch.tensor(0.25).view(1, 1, 1, 1)}
    for _ in range(6):
        task.training_step(torch.randn(4, 1, 28, 28), meta, ctx)
    assert ctx.steps_taken == {"discriminator": 6, "generator": expected_g}


def test_weight_clipping_keeps_the_critic_in_the_box() -> None:
    torch.manual_seed(0)
    task = GAN(create_backbone("mnist_net", in_chans=1, img_size=28), objective="wgan", clip=0.01, generator="mlp")
    task.fit_data(geotagged_mnist_like())
    optimizers = {g: build_optimizer("adam", p, 1e-2, 0.0, 0.9) for g, p in task.optimizer_groups().items()}
    ctx = StepContext(task, optimizers, torch.device("cpu"))
    meta = {"pixel_mean": torch.tensor(0.5).view(1, 1, 1, 1), "pixel_std": torch.tensor(0.25).view(1, 1, 1, 1)}
    task.training_step(torch.randn(4, 1, 28, 28), meta, ctx)
    assert all(p.abs().max() <= 0.01 for p in [*task.backbone.parameters(), *task.head.parameters()])


def test_a_gan_cannot_be_combined_with_other_tasks() -> None:
    backbone = create_backbone("mnist_net", in_chans=1, img_size=28)
    with pytest.raises(ValueError, match="'gan' takes its own optimizer steps"):
        MultiTask(backbone, {"gan": GAN(backbone), "rotation": Rotation(backbone)}, {})


META = {"pixel_mean": torch.tensor(0.5).view(1, 1, 1, 1), "pixel_std": torch.tensor(0.25).view(1, 1, 1, 1)}


def gan_with_context(**kwargs) -> tuple[GAN, StepContext]:
    torch.manual_seed(0)
    task = GAN(create_backbone("mnist_net", in_chans=1, img_size=28), **kwargs)
    task.fit_data(geotagged_mnist_like())
    optimizers = {g: build_optimizer("adam", p, 2e-4, 0.0, 0.9) for g, p in task.optimizer_groups().items()}
    return task, StepContext(task, optimizers, torch.device("cpu"))


def test_replay_mixes_the_requested_share_of_past_fakes() -> None:
    task, _ = gan_with_context(replay=0.25, replay_size=10)
    task.eval()  # batch norm in eval mode: the generator's output does not depend on the batch
    fakes, old = task.discriminator_fakes(8, META, torch.device("cpu"))
    assert old == 0 and len(fakes) == 8 and int(task.replay_filled) == 8  # nothing to replay yet
    stored = {tuple(x.flatten()[:5].tolist()) for x in task.replay_images[:8]}
    fakes, old = task.discriminator_fakes(8, META, torch.device("cpu"))
    assert old == 2 and len(fakes) == 8 and int(task.replay_filled) == 10  # 25% of 8 from the buffer, now full
    assert {tuple(x.flatten()[:5].tolist()) for x in fakes[6:]} <= stored  # the old ones come from the buffer


def test_rollback_restores_the_last_good_state_on_a_non_finite_loss() -> None:
    task, ctx = gan_with_context(rollback=1, snapshot_every=100)
    task.training_step(torch.randn(4, 1, 28, 28), META, ctx)  # the snapshot is the state before this step
    with torch.no_grad():
        task.head.weight.fill_(float("nan"))  # inject: every score and the loss become NaN
    out = task.training_step(torch.randn(4, 1, 28, 28), META, ctx)
    assert out["rollback"].item() == 1.0 and task.rollbacks_used == 1
    snapshot = task._snapshot["model"]
    assert all(torch.equal(task.state_dict()[k], snapshot[k]) for k in snapshot)
    assert torch.isfinite(task.head.weight).all()
    with torch.no_grad():
        task.head.weight.fill_(float("nan"))
    with pytest.raises(NonFiniteLoss, match="1 rollback"):  # the retries are limited
        task.training_step(torch.randn(4, 1, 28, 28), META, ctx)


VARIANTS = [
    {"objective": "minimax"},
    {"objective": "lsgan", "real_label": 0.9},
    {"objective": "wgan", "d_steps": 2},
    {"objective": "wgan", "gp_weight": 10.0},
    {"objective": "hinge", "label_noise": 0.1},
    {"generator": "mlp", "replay": 0.5},
    {"feature_matching": True},
    {"diffaugment": True},
    {"minibatch": 8},
    {"conditional": True, "objective": "hinge"},
    {"auxiliary": True},
    {"conditional": True, "auxiliary": True, "gp_weight": 10.0, "objective": "wgan"},
    {"spectral_norm": True, "auxiliary": True},
]


@pytest.mark.parametrize("kwargs", VARIANTS, ids=lambda k: "-".join(f"{a}={b}" for a, b in k.items()))
def test_every_gan_variant_trains_with_finite_losses(kwargs: dict) -> None:
    task, ctx = gan_with_context(**kwargs)
    meta = {**META, "label": torch.tensor([0, 3, 3, 9])}
    for _ in range(2):
        out = task.training_step(torch.randn(4, 1, 28, 28), meta, ctx)
    assert all(torch.isfinite(v).all() for v in out.values()), out
    if kwargs.get("auxiliary"):
        assert "aux_loss" in out


def test_diffaugment_keeps_shapes_and_passes_gradients() -> None:
    x = torch.rand(5, 3, 16, 16, requires_grad=True)
    y = diff_augment(x)
    assert y.shape == x.shape
    y.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    shifted = translation(torch.ones(1, 1, 8, 8))
    assert shifted.sum() >= 36  # at most one pixel (1/8 of 8) cut from each side


def test_minibatch_discrimination_matches_its_formula() -> None:
    layer = MinibatchDiscrimination(3, kernels=2, kernel_dim=2)
    x = torch.randn(4, 3)
    m = (x @ layer.T).view(4, 2, 2)
    expected = torch.zeros(4, 2)
    for i in range(4):
        for j in range(4):
            if i != j:
                expected[i] += torch.exp(-(m[i] - m[j]).abs().sum(dim=1))
    assert torch.allclose(layer(x), expected, atol=1e-6)


def test_a_conditional_generator_draws_the_requested_class_rows() -> None:
    task, _ = gan_with_context(conditional=True)
    assert task.num_classes == 10 and task.fixed_labels[:16].tolist() == [0] * 8 + [1] * 8
    with pytest.raises(ValueError, match="replay keeps no labels"):
        GAN(create_backbone("mnist_net", in_chans=1, img_size=28), conditional=True, replay=0.5)


def test_spectral_norm_bounds_every_discriminator_layer_and_exports_plain_weights() -> None:
    task, ctx = gan_with_context(spectral_norm=True)
    for _ in range(30):  # the power iteration converges over training forwards
        task.training_step(torch.randn(4, 1, 28, 28), META, ctx)
    exported = task.backbone.export_state_dict()
    assert sorted(exported) == ["conv1.bias", "conv1.weight", "conv2.bias", "conv2.weight", "fc1.bias", "fc1.weight"]
    for name in ("conv1.weight", "conv2.weight", "fc1.weight"):
        sigma = torch.linalg.matrix_norm(exported[name].flatten(1), 2)
        assert 0.9 < float(sigma) < 1.1, (name, float(sigma))
    assert task.training  # exporting runs in eval mode and restores the mode
    plain = create_backbone("mnist_net", in_chans=1, img_size=28)
    plain.load_export(exported)
    x = torch.randn(3, 1, 28, 28)
    task.eval(), plain.eval()
    assert torch.allclose(plain(x), task.backbone(x), atol=1e-6)


def test_a_gradient_penalty_refuses_a_batch_norm_critic_and_auto_picks_layer_norm() -> None:
    from ssl_toolkit.build import resolve_config

    with pytest.raises(ValueError, match="backbone.norm=layer"):
        GAN(create_backbone("resnet18", in_chans=1), objective="wgan", gp_weight=10.0)
    assert resolve_config({}, [("task.name", "gan"), ("task.gp_weight", 10.0)])["backbone"]["norm"] == "layer"
    assert resolve_config({}, [("task.name", "gan")])["backbone"]["norm"] == "batch"
    assert resolve_config({}, [("task.name", "rotation")])["backbone"]["norm"] == "batch"
    critic = create_backbone("resnet18", in_chans=1, norm="layer")
    GAN(critic, objective="wgan", gp_weight=10.0)  # accepted


def test_generated_values_map_onto_each_bands_range_and_back() -> None:
    meta = Normalizer((0.02, 0.5), (0.004, 0.1), torch.device("cpu"), 65535.0).stats()
    u = torch.rand(2, 2, 3, 3)
    x = normalise(u, meta)
    assert torch.allclose(x, 6 * u - 3, atol=1e-5)  # [0, 1] is mean +- 3 std: normalised -3 .. 3
    assert torch.allclose(pixels(x, meta), u, atol=1e-5)
    assert torch.allclose(normalise(u[:, 1:], meta, [1]), x[:, 1:], atol=1e-5)  # one band's own statistics
    grey = {"pixel_mean": torch.full((1, 1, 1, 1), 0.13), "pixel_std": torch.full((1, 1, 1, 1), 0.31)}
    assert torch.equal(normalise(u[:, :1], grey), (u[:, :1] - 0.13) / 0.31)  # no range in meta: the stored [0, 1]


def test_a_gan_on_16_bit_reflectances_starts_among_the_real_tiles() -> None:
    """Sentinel-2-like bands at 0.02 of 65,535 (std 0.004): a new generator's samples normalise to within 3 stds
    of the band means, as real tiles do, not 120 stds away at the dtype's middle."""
    torch.manual_seed(0)
    values = (torch.randn(8, 4, 16, 16) * 0.004 + 0.02).clamp(min=0) * 65535
    split = TensorImages(values.to(torch.int32), torch.arange(8) % 2)
    data = DataSource("ms", split, split, (0.02,) * 4, (0.004,) * 4, 4, 16, 2, ("a", "b"), pixel_scale=65535.0)
    gan = GAN(create_backbone("resnet18", 4), conditional=True, quality_samples=0)
    gan.fit_data(data)
    gan.eval()
    with torch.no_grad():
        fakes = gan.generate(16, Normalizer.for_data(data, torch.device("cpu")).stats(), torch.device("cpu"))
    assert fakes.abs().max() <= 3.0 + 1e-4 and fakes.mean().abs() < 1.5
