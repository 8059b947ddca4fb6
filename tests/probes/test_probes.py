from pathlib import Path

import torch
from torch import nn

from probes.linear import LinearFit, LinearProbe
from probes.seed_fc import SeedFcProbe
from ssl_toolkit.backbones import create_backbone
from ssl_toolkit.data import DataOptions, load_data
from tests.tiny import pretrain_tiny


def test_seed_fc_trains_only_fc_layers() -> None:
    torch.manual_seed(0)
    data = load_data("mnist", DataOptions(subset=256))
    net = create_backbone("mnist_net", 1, 28)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    result = SeedFcProbe(batch_size=32).run(net, data, torch.device("cpu"), seed=0)
    after = net.state_dict()
    for k in before:
        changed = not torch.equal(before[k], after[k])
        assert changed == k.startswith("fc1"), k
    assert result["trainable"] == ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]
    assert 0.0 <= result["accuracy"] <= 100.0


def test_linear_probe_learns_and_leaves_the_backbone_untouched() -> None:
    data = load_data("mnist", DataOptions(subset=1000))
    net = create_backbone("mnist_net", 1, 28)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    result = LinearProbe(epochs=20).run(net, data, torch.device("cpu"), seed=0)
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    assert result["accuracy"] > 70.0  # chance is 10%; random conv features are linearly useful on MNIST
    assert result["feature_dim"] == 128


def test_probe_cli_end_to_end_on_a_tiny_run(ssl, tmp_path: Path) -> None:
    run = tmp_path / "run"
    pretrain_tiny(ssl, run, "data.subset=300", task="transpose", max_steps=None)
    code, out, _ = ssl("probe", "--run", run, "--protocol", "seed-fc", "data.subset=300")
    assert code == 0 and "seed-fc probe accuracy:" in out
    import json

    record = json.loads((run / "probes" / "seed-fc-seed1" / "probe.json").read_text())
    assert record["protocol"] == "seed-fc" and record["init"] == "pretrained" and record["epochs"] == 1
    assert 0 <= record["accuracy"] <= 100 and record["test_size"] == 300
    code, out, _ = ssl(
        "probe",
        "--random-init",
        "--backbone",
        "mnist_net",
        "--protocol",
        "linear",
        "--epochs",
        2,
        "--out",
        tmp_path / "rand",
        "data.subset=300",
    )
    assert code == 0 and json.loads((tmp_path / "rand" / "probe.json").read_text())["init"] == "random"


def test_probe_on_an_image_folder_with_a_timm_backbone(ssl, image_folder: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    code, _, _ = ssl(
        "pretrain",
        "--task",
        "rotation",
        "--data",
        image_folder,
        "--backbone",
        "resnet18",
        "--out",
        run,
        "train.batch_size=9",
        "optim.name=adam",
        "optim.lr=1e-3",
    )
    assert code == 0
    code, out, _ = ssl("probe", "--run", run, "--protocol", "linear", "--epochs", 5)
    assert code == 0 and "linear probe accuracy" in out


def test_a_wgan_gp_critic_with_layer_norm_and_spectral_norm_is_probed(ssl, image_folder: Path, tmp_path: Path) -> None:
    """backbone.norm=auto gives the WGAN-GP critic layer norm; config.yaml records it, so the probe builds the
    same net, and the spectral-normalised weights load under plain names."""
    run = tmp_path / "run"
    args = ["--task", "gan", "--data", image_folder, "--backbone", "resnet18", "--out", run, "--max-steps", 2]
    flags = ["train.batch_size=9", "task.objective=wgan", "task.gp_weight=10", "task.spectral_norm=true"]
    assert ssl("pretrain", *args, *flags, "task.quality_samples=0")[0] == 0
    assert "norm: layer" in (run / "config.yaml").read_text()
    code, out, _ = ssl("probe", "--run", run, "--protocol", "linear", "--epochs", 2)
    assert code == 0 and "linear probe accuracy" in out


def test_folded_standardisation_gives_the_same_logits() -> None:
    torch.manual_seed(0)
    clf = nn.Linear(6, 3)
    features = torch.randn(10, 6) * 3 + 1
    mean, std = features.mean(0), features.std(0)
    fitted = LinearFit(clf, mean, std, weight_decay=0.0, validation_accuracy={})
    folded = fitted.folded()
    assert torch.allclose(folded(features), clf((features - mean) / std), atol=1e-5)
    assert torch.allclose(folded(features), clf(fitted.standardise(features)), atol=1e-5)
    assert not any(p.requires_grad for p in folded.parameters())
