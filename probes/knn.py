"""kNN probe (Wu et al. 2018; the DINO protocol): cosine similarity between L2-normalised frozen features,
the k nearest training features found by faiss (exact below a bank size, an IVF index with measured recall
above it: ``probes.bank_index``), each casting a vote of weight exp(similarity / temperature) for its label; the
class with the largest summed vote wins."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from probes.bank_index import FLAT_BELOW, INDEXES, RECALL_TARGET, cosine_search
from probes.base import check_settings
from probes.features import train_test_features
from ssl_toolkit.backbones.base import Backbone
from ssl_toolkit.data import DataSource
from ssl_toolkit.registry import PROBES


def cosine_neighbours(train: np.ndarray, queries: np.ndarray, k: int, **index: Any) -> tuple[np.ndarray, np.ndarray]:
    """(similarities, indices into ``train``), each (Q, min(k, N)), of each query's nearest training rows by
    cosine similarity, most similar first."""
    sims, idx, _ = cosine_search(train, queries, k, **index)
    return sims, idx


def knn_vote(sims: np.ndarray, idx: np.ndarray, train_labels: np.ndarray, num_classes: int, temperature: float):
    """Predicted class of each query from its neighbours' labels, each weighted exp(similarity / T)."""
    weights = np.exp((sims - 1.0) / temperature)  # exp(s/T) up to a per-query factor, without overflow
    votes = np.zeros((len(idx), num_classes), dtype=np.float64)
    np.add.at(votes, (np.arange(len(idx))[:, None], train_labels[idx]), weights)
    return votes.argmax(1)


def knn_predict(
    train: np.ndarray,
    train_labels: np.ndarray,
    queries: np.ndarray,
    num_classes: int,
    k: int,
    temperature: float,
    **index: Any,
) -> np.ndarray:
    """Predicted class of each query (rows of float features; normalised here), by faiss kNN vote."""
    sims, idx = cosine_neighbours(train, queries, k, **index)
    return knn_vote(sims, idx, train_labels, num_classes, temperature)


@PROBES.register("knn")
class KnnProbe:
    """Frozen backbone, cached features, faiss cosine kNN with a temperature-weighted vote; test accuracy.
    ``index``: auto (exact below ``flat_below`` training features, IVF above), flat or ivf; an IVF index is
    searched wide enough for ``recall_target`` recall@k against exact search, measured on a sample."""

    def __init__(
        self,
        k: int = 20,
        temperature: float = 0.07,
        cache: bool = True,
        index: str = "auto",
        flat_below: int = FLAT_BELOW,
        recall_target: float = RECALL_TARGET,
    ) -> None:
        check_settings(counts={"k": k, "flat_below": flat_below}, positive={"temperature": temperature})
        if index not in INDEXES:
            raise ValueError(f"index must be one of {', '.join(INDEXES)}, got {index!r}")
        if not 0 < recall_target <= 1:
            raise ValueError(f"recall_target must be in (0, 1], got {recall_target}")
        self.k, self.temperature, self.cache = k, temperature, cache
        self.index = {"index": index, "flat_below": flat_below, "recall_target": recall_target}

    def run(
        self, backbone: Backbone, data: DataSource, device: torch.device, seed: int, data_config: dict | None = None
    ) -> dict[str, Any]:
        backbone.to(device)
        x_train, y_train, x_test, y_test, cached = train_test_features(backbone, data, device, data_config, self.cache)
        sims, idx, report = cosine_search(x_train.numpy(), x_test.numpy(), self.k, seed=seed, **self.index)
        pred = knn_vote(sims, idx, y_train.numpy(), data.num_classes, self.temperature)
        return {
            "accuracy": 100.0 * float((pred == y_test.numpy()).mean()),
            "feature_dim": int(x_train.shape[1]),
            "features_cached": cached,
            "neighbour_index": report,
            "settings": {"k": self.k, "temperature": self.temperature, "similarity": "cosine", **self.index},
        }
