"""AdaGAN: the data weights against a hand computation, the mixture weights, the phases at their steps, data
reweighted towards what the critic says the mixture misses, and a bit-exact resume across a phase change."""

from __future__ import annotations

from pathlib import Path

import torch

from pretext.adagan import AdaGAN, adagan_weights
from ssl_toolkit.backbones import create_backbone
from tests.tiny import TINY_RUN, geotagged_mnist_like, state_equal


def test_the_data_weights_match_a_hand_computation() -> None:
    # h = (0.5, 1, 2, 4), beta = 0.5: (1 - beta) h = (0.25, 0.5, 1, 2); with the three smallest active,
    # lambda = (beta N + 0.25 + 0.5 + 1) / 3 = 1.25 > 1 while 4 active would need lambda = 1.4375 > 2 (false);
    # w = (1.25 - (0.25, 0.5, 1, 2))_+ / (beta N) = (0.5, 0.375, 0.125, 0)
    weights = adagan_weights(torch.tensor([0.5, 1.0, 2.0, 4.0]), 0.5)
    assert torch.allclose(weights, torch.tensor([0.5, 0.375, 0.125, 0.0]))
    assert torch.allclose(adagan_weights(torch.ones(5), 0.3), torch.full((5,), 0.2))  # a perfect mixture: uniform
    shuffled = adagan_weights(torch.tensor([4.0, 0.5, 2.0, 1.0]), 0.5)
    assert torch.allclose(shuffled, torch.tensor([0.0, 0.5, 0.125, 0.375]))  # each weight stays with its image


def test_components_join_with_weights_that_keep_the_mixture_uniform() -> None:
    gan = AdaGAN(create_backbone("mnist_net", 1, None, 28), components=3)
    gan.fit_data(geotagged_mnist_like(20))
    assert torch.allclose(gan.joined(0), torch.tensor([1.0, 0, 0]))
    gan.mixture.copy_(gan.joined(0))
    assert torch.allclose(gan.joined(1), torch.tensor([0.5, 0.5, 0]))
    gan.mixture.copy_(gan.joined(1))
    assert torch.allclose(gan.joined(2), torch.full((3,), 1 / 3))
    fixed = AdaGAN(create_backbone("mnist_net", 1, None, 28), components=2, beta=0.25)
    fixed.fit_data(geotagged_mnist_like(20))
    fixed.mixture.copy_(fixed.joined(0))
    assert torch.allclose(fixed.joined(1), torch.tensor([0.75, 0.25]))


def test_a_mixture_sample_is_each_drawn_generator_on_the_whole_batch_even_for_one_row() -> None:
    gan = AdaGAN(create_backbone("mnist_net", 1, None, 28), components=2)
    gan.fit_data(geotagged_mnist_like(20))
    z, weights = torch.randn(8, gan.latent_dim), torch.tensor([0.9, 0.1])

    def draws(seed: int) -> torch.Tensor:  # the generators mixture_sample draws after torch.manual_seed(seed)
        torch.manual_seed(seed)
        return torch.multinomial(weights, 8, replacement=True)

    seed = next(s for s in range(100) if draws(s).sum() == 1)  # one row from the second generator
    which = draws(seed)
    torch.manual_seed(seed)
    with torch.no_grad():  # training mode: BatchNorm on batch statistics, one row alone would have none
        mixed = gan.mixture_sample(z, weights)
        whole = [gan.generator[k](z) for k in range(2)]
    assert int(which.sum()) == 1
    for row, k in enumerate(which.tolist()):
        assert torch.equal(mixed[row], whole[k][row])


class MeanPixelLogit(torch.nn.Module):
    """A ratio critic by hand: its logit log(dP_data / dP_model) is 4 x the image's mean normalised pixel."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 4 * x.mean(dim=(1, 2, 3)).unsqueeze(1)


def test_a_phase_change_weights_the_images_the_critic_finds_unlike_the_mixture() -> None:
    gan = AdaGAN(create_backbone("mnist_net", 1, None, 28), components=2)
    data = geotagged_mnist_like(40)
    gan.fit_data(data)
    gan.ratio_critic = MeanPixelLogit()
    gan.finish_phase(torch.device("cpu"))
    logits = 4 * ((data.train.images.float() / 255 - 0.5) / 0.25).mean(dim=(1, 2, 3))
    assert int(gan.phase) == 1 and torch.allclose(gan.mixture, torch.tensor([1.0, 0.0]))
    assert torch.allclose(gan.data_weights, adagan_weights(torch.exp(-logits), 0.5), atol=1e-6)  # beta 1/2
    order = logits.argsort()  # the brighter (more data-like: less covered by the mixture), the heavier
    assert (gan.data_weights[order].diff() >= -1e-7).all() and gan.data_weights[order[-1]] > gan.data_weights[order[0]]


def test_adagan_runs_its_phases_and_resumes_bit_for_bit(ssl, tmp_path: Path) -> None:
    args = ["--task", "adagan", *TINY_RUN, "train.epochs=2", "task.components=2", "task.quality_samples=0"]
    assert ssl("pretrain", *args, "--out", tmp_path / "whole")[0] == 0
    assert ssl("pretrain", *args, "--max-steps", 5, "--out", tmp_path / "parts")[0] == 0  # stops in phase 0
    assert ssl("pretrain", "--resume", "--out", tmp_path / "parts")[0] == 0
    a, b = (
        torch.load(tmp_path / r / "checkpoints" / "last.pt", weights_only=True)["model"] for r in ("whole", "parts")
    )
    assert state_equal(a, b)  # every generator, the critic, the phase, mixture and data weights
    assert int(a["phase"]) == 1 and torch.allclose(a["mixture"], torch.tensor([1.0, 0.0]))
