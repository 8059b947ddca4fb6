"""Sample-quality measures: the Frechet distance against its closed form, class coverage and KL, and the GAN's
end-of-epoch pictures and metrics through the engine."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from pretext.gan import GAN
from ssl_toolkit.analysis.sample_quality import Reference, frechet_distance, sample_quality
from ssl_toolkit.backbones import create_backbone
from ssl_toolkit.engine.loop import train
from ssl_toolkit.engine.settings import TrainSettings
from tests.tiny import geotagged_mnist_like


def test_frechet_distance_of_diagonal_gaussians() -> None:
    mu1, mu2 = np.array([0.0, 1.0]), np.array([3.0, -1.0])
    a, b = np.array([4.0, 1.0]), np.array([1.0, 9.0])
    expected = 9 + 4 + ((np.sqrt(a) - np.sqrt(b)) ** 2).sum()
    assert frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(expected)
    assert frechet_distance(mu1, np.diag(a), mu1, np.diag(a)) == pytest.approx(0.0, abs=1e-9)


class FixedJudge(torch.nn.Module):
    """Features = the first 2 pixels; class = the first pixel rounded (0..3)."""

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        flat = x.flatten(1)
        return flat[:, :2], torch.nn.functional.one_hot(flat[:, 0].round().long(), 4).float()


def test_collapsed_samples_cover_one_class_and_diverge_from_the_real_histogram() -> None:
    ref = Reference(np.zeros(2), np.eye(2), np.full(4, 0.25), 1.0)
    collapsed = torch.zeros(100, 1, 2, 2)  # every sample the same: class 0
    out = sample_quality(FixedJudge(), collapsed, ref)
    assert out["classes_covered"] == 1 and out["class_kl"] == pytest.approx(np.log(4), rel=1e-4)
    spread = torch.arange(100).remainder(4).float().view(100, 1, 1, 1).expand(100, 1, 2, 2).contiguous()
    out = sample_quality(FixedJudge(), spread, ref)
    assert out["classes_covered"] == 4 and out["class_kl"] == pytest.approx(0.0, abs=1e-4)


def test_gan_epoch_end_draws_pictures_and_logs_quality(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("SSL_CACHE_DIR", str(tmp_path / "cache"))
    torch.manual_seed(0)
    data = geotagged_mnist_like(64)
    task = GAN(create_backbone("mnist_net", in_chans=1, img_size=28), quality_samples=50, generator="mlp")
    task.fit_data(data)
    settings = TrainSettings(optimizer="adam", lr=2e-4, epochs=2, batch_size=32)
    train(task, data, tmp_path / "run", settings, device=torch.device("cpu"))
    folder = tmp_path / "run" / "plots" / "gan"
    names = {p.name for p in folder.iterdir()}
    assert {"samples_epoch_0001.png", "samples_epoch_0002.png", "progression.png", "real_vs_fake.png"} <= names
    assert np.load(folder / "progression.npy").shape == (2, 8, 1, 28, 28)
    epochs = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    epochs = [r for r in epochs if r["kind"] == "epoch"]
    assert len(epochs) == 2 and all({"classes_covered", "class_kl", "frechet"} <= set(r) for r in epochs)
    assert all(np.isfinite(r["frechet"]) and 0 <= r["classes_covered"] <= 10 for r in epochs)
