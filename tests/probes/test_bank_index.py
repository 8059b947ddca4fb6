"""The faiss index chosen by bank size: exact below the threshold, IVF above with its recall measured against exact
search and reaching the target; every query gets k neighbours; the probe writes the index report."""

from __future__ import annotations

import numpy as np
import pytest

from probes.bank_index import cosine_search, recall_at_k
from probes.knn import KnnProbe


def clustered(n: int, dim: int, seed: int) -> np.ndarray:
    """Rows near a low-dimensional mixture, as learned features are: 20 centres in 8 dims, lifted to ``dim``."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(20, 8))
    z = centres[rng.integers(0, 20, size=n)] + 0.3 * rng.normal(size=(n, 8))
    return (z @ rng.normal(size=(8, dim)) + 0.05 * rng.normal(size=(n, dim))).astype(np.float32)


def exact_cosine(bank: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    a = bank / np.linalg.norm(bank, axis=1, keepdims=True)
    q = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    return np.argsort(-(q @ a.T), axis=1, kind="stable")[:, :k]


def test_recall_at_k_counts_the_shared_neighbours() -> None:
    exact = np.array([[0, 1, 2, 3], [4, 5, 6, 7]])
    found = np.array([[3, 2, 9, 8], [4, 5, 6, 7]])  # 2 of 4, then 4 of 4
    assert recall_at_k(found, exact) == pytest.approx(0.75)


def test_auto_picks_flat_below_the_threshold_and_it_is_exact() -> None:
    bank, queries = clustered(2_000, 16, 0), clustered(50, 16, 1)
    _, idx, report = cosine_search(bank, queries, 10, flat_below=5_000)
    assert report["index"] == "flat" and report["bank"] == 2_000 and "recall_at_k" not in report
    assert recall_at_k(idx, exact_cosine(bank, queries, 10)) > 0.999  # ties aside, the exact neighbours


def test_auto_picks_ivf_above_the_threshold_and_reaches_the_recall_it_reports() -> None:
    bank, queries = clustered(20_000, 32, 0), clustered(400, 32, 1)
    _, idx, report = cosine_search(bank, queries, 10, flat_below=10_000, recall_target=0.95, recall_queries=200)
    assert report["index"] == "ivf" and report["nlist"] == 141  # sqrt(20,000) cells
    assert report["recall_at_k"] >= 0.95 and report["recall_queries"] == 200
    assert 1 <= report["nprobe"] <= report["nlist"]
    true_recall = recall_at_k(idx, exact_cosine(bank, queries, 10))  # on every query, not only the sample
    assert true_recall >= 0.9
    assert idx.shape == (400, 10) and (idx >= 0).all()


def test_a_recall_target_of_one_widens_the_search_until_exact() -> None:
    bank, queries = clustered(3_000, 16, 2), clustered(100, 16, 3)
    _, idx, report = cosine_search(bank, queries, 5, index="ivf", recall_target=1.0, recall_queries=100)
    assert report["recall_at_k"] == 1.0
    assert recall_at_k(idx, exact_cosine(bank, queries, 5)) > 0.999


def test_queries_in_sparse_cells_still_get_k_neighbours() -> None:
    bank, queries = clustered(400, 8, 4), clustered(30, 8, 5)
    sims, idx, report = cosine_search(bank, queries, 200, index="ivf", recall_target=0.1, recall_queries=5)
    assert (idx >= 0).all() and np.isfinite(sims).all() and idx.shape == (30, 200)
    assert report["exact_fallback_queries"] >= 1  # cells of about 20 rows cannot hold 200 neighbours


def test_probe_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="index must be one of"):
        KnnProbe(index="hnsw")
    with pytest.raises(ValueError, match="recall_target"):
        KnnProbe(recall_target=1.5)


def test_the_knn_probe_writes_the_index_it_used_and_its_recall_into_probe_json(ssl, tmp_path) -> None:
    import json

    args = ["probe", "--random-init", "--backbone", "mnist_net", "--protocol", "knn", "data.subset=600"]
    code, _, err = ssl(*args, "--out", tmp_path / "ivf", "probe.index=ivf", "probe.recall_target=0.9")
    assert code == 0, err
    record = json.loads((tmp_path / "ivf" / "probe.json").read_text())
    index = record["neighbour_index"]
    assert index["index"] == "ivf" and index["bank"] == record["train_size"] and index["recall_at_k"] >= 0.9
    assert record["settings"]["recall_target"] == 0.9
    code, _, err = ssl(*args, "--out", tmp_path / "flat")
    assert code == 0, err
    assert json.loads((tmp_path / "flat" / "probe.json").read_text())["neighbour_index"]["index"] == "flat"
    code, _, err = ssl(*args, "--out", tmp_path / "bad", "probe.index=hnsw")
    assert code != 0 and "index must be one of auto, flat, ivf" in err
