"""The faiss kNN probe against a brute-force reference; the feature cache's hits and invalidation; low-shot."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from probes.features import cached_features
from probes.finetune import FinetuneProbe
from probes.knn import KnnProbe, knn_predict
from probes.linear import LinearProbe
from ssl_toolkit.backbones import create_backbone
from ssl_toolkit.data import DataOptions, load_data
from ssl_toolkit.data.splitting import label_subset


def brute_force_knn(train, labels, queries, num_classes, k, temperature):
    """The definition, written out: cosine similarity to every training row, top k, exp(s/T)-weighted vote."""
    a = train / np.linalg.norm(train, axis=1, keepdims=True)
    q = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    sims = q @ a.T
    preds = []
    for row in sims:
        nearest = np.argsort(-row, kind="stable")[:k]
        votes = np.zeros(num_classes)
        for j in nearest:
            votes[labels[j]] += np.exp(row[j] / temperature)
        preds.append(int(np.argmax(votes)))
    return np.array(preds)


@pytest.mark.parametrize(("k", "temperature"), [(1, 0.07), (5, 0.07), (20, 0.5), (200, 1.0)])
def test_faiss_knn_matches_the_brute_force_reference(k: int, temperature: float) -> None:
    rng = np.random.default_rng(k)
    train = rng.normal(size=(300, 16)).astype(np.float32)
    labels = rng.integers(0, 7, size=300)
    queries = rng.normal(size=(80, 16)).astype(np.float32)
    ours = knn_predict(train, labels, queries, 7, k, temperature)
    assert np.array_equal(ours, brute_force_knn(train, labels, queries, 7, k, temperature))


def test_knn_with_k_one_returns_the_nearest_label_and_leaves_inputs_alone() -> None:
    train = np.eye(4, dtype=np.float32) * 3
    before = train.copy()
    assert knn_predict(train, np.array([0, 1, 2, 3]), np.eye(4, dtype=np.float32)[::-1], 4, 1, 0.1).tolist() == [
        3,
        2,
        1,
        0,
    ]
    assert np.array_equal(train, before)  # normalised on a copy


def test_features_are_cached_per_weights_and_invalidated_when_they_change() -> None:
    data = load_data("mnist", DataOptions(subset=200))
    net = create_backbone("mnist_net", 1, 28)
    device = torch.device("cpu")
    x1, y1, hit = cached_features(net, data, "train", device, {"subset": 200})
    assert not hit and x1.shape == (len(data.train), 128) and torch.equal(y1, data.train.labels)
    x2, _, hit = cached_features(net, data, "train", device, {"subset": 200})
    assert hit and torch.equal(x1, x2)
    _, _, hit = cached_features(net, data, "test", device, {"subset": 200})
    assert not hit  # another split is another entry
    with torch.no_grad():
        net.fc1.bias.add_(1.0)  # a changed checkpoint
    x3, _, hit = cached_features(net, data, "train", device, {"subset": 200})
    assert not hit and not torch.equal(x1, x3)
    fewer = dataclasses.replace(data, train=data.train.select(torch.arange(50)))
    _, _, hit = cached_features(net, fewer, "train", device, {"subset": 200})
    assert not hit  # other samples are another entry


def test_a_damaged_cache_entry_is_extracted_again(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SSL_CACHE_DIR", str(tmp_path))
    data = load_data("mnist", DataOptions(subset=100))
    net = create_backbone("mnist_net", 1, 28)
    x, _, _ = cached_features(net, data, "test", torch.device("cpu"))
    (entry,) = (tmp_path / "features").glob("*.npz")
    entry.write_bytes(b"not an npz")
    again, _, hit = cached_features(net, data, "test", torch.device("cpu"))
    assert not hit and torch.equal(x, again)


def test_linear_and_knn_probes_reuse_cached_features_and_report_settings() -> None:
    data = load_data("mnist", DataOptions(subset=600))
    net = create_backbone("mnist_net", 1, 28)
    first = LinearProbe(epochs=5).run(net, data, torch.device("cpu"), seed=0)
    assert not first["features_cached"]
    settings = first["settings"]
    assert settings["weight_decay_chosen_on_validation"] and len(settings["validation_accuracy"]) == 5
    assert str(settings["weight_decay"]) in settings["validation_accuracy"]
    knn = KnnProbe(k=10).run(net, data, torch.device("cpu"), seed=0)
    assert knn["features_cached"] and knn["accuracy"] > 50.0  # chance is 10%
    fixed = LinearProbe(epochs=5, weight_decay=0.0).run(net, data, torch.device("cpu"), seed=0)
    assert fixed["features_cached"] and fixed["settings"]["validation_accuracy"] == {}


def test_finetune_trains_every_layer() -> None:
    data = load_data("mnist", DataOptions(subset=256))
    net = create_backbone("mnist_net", 1, 28)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    result = FinetuneProbe(batch_size=32).run(net, data, torch.device("cpu"), seed=0)
    assert all(not torch.equal(before[k], v) for k, v in net.state_dict().items())
    assert 0.0 <= result["accuracy"] <= 100.0 and result["settings"]["optimizer"] == "adamw"


def test_low_shot_subsets_are_stratified_seeded_and_nested_in_train() -> None:
    labels = torch.arange(1000) % 10
    one = label_subset(labels, 0.01, seed=3)
    assert len(one) == 10 and sorted(labels[one].tolist()) == list(range(10))  # one per class
    assert np.array_equal(one, label_subset(labels, 0.01, seed=3))
    assert not np.array_equal(one, label_subset(labels, 0.01, seed=4))
    ten = label_subset(labels, 0.1, seed=3)
    assert len(ten) == 100 and np.bincount(labels[ten].numpy()).tolist() == [10] * 10


def test_low_shot_probe_cli_writes_its_own_folder(ssl, tmp_path) -> None:
    code, out, _ = ssl(
        "probe",
        "--random-init",
        "--backbone",
        "mnist_net",
        "--protocol",
        "knn",
        "--out",
        tmp_path / "p",
        "data.subset=500",
        "probe.label_fraction=0.1",
    )
    assert code == 0
    import json

    record = json.loads((tmp_path / "p" / "probe.json").read_text())
    assert record["label_fraction"] == 0.1 and record["train_size"] < record["train_pool"]
    code, _, err = ssl("probe", "--random-init", "--backbone", "mnist_net", "probe.label_fraction=2")
    assert code != 0 and "label_fraction" in err


def test_a_file_named_with_an_at_sign_is_keyed_on_its_own_content(tmp_path, monkeypatch) -> None:
    """The window marker ``@col,row`` of GeoTIFF tiles never swallows a real ``@`` in a file name: a changed
    image named ``img@home.png`` is extracted again, not served from the cache."""
    import time

    from PIL import Image

    from tests.images import colour_images

    monkeypatch.setenv("SSL_CACHE_DIR", str(tmp_path / "cache"))
    root = colour_images(tmp_path / "images", 4)
    target = root / "red" / "img@home.png"
    Image.new("RGB", (16, 16), (200, 0, 0)).save(target)
    net = create_backbone("mnist_net", 3, 16)
    data = load_data(str(root))
    split = "train" if any("@" in p for p in data.train.paths) else "test"
    _, _, hit = cached_features(net, data, split, torch.device("cpu"))
    assert not hit and cached_features(net, data, split, torch.device("cpu"))[2]
    time.sleep(0.01)
    Image.new("RGB", (16, 16), (0, 0, 200)).save(target)  # new content, same name
    _, _, hit = cached_features(net, load_data(str(root)), split, torch.device("cpu"))
    assert not hit


def test_window_markers_still_key_on_their_scene_file() -> None:
    from probes.features import source_file

    assert source_file("/nowhere/scene.tif@64,128") == "/nowhere/scene.tif"
    assert source_file(__file__) == __file__
