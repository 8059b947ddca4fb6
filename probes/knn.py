"""kNN probe (Wu et al. 2018; the DINO protocol): cosine similarity between L2-normalised frozen features,
the k nearest training features found by faiss (exact inner-product search), each casting a vote of weight
exp(similarity / temperature) for its label; the class with the largest summed vote wins."""

from __future__ import annotations

from typing import Any

import faiss
import numpy as np
import torch

from probes.base import check_settings
from probes.features import train_test_features
from ssl_toolkit.backbones.base import Backbone
from ssl_toolkit.data import DataSource
from ssl_toolkit.registry import PROBES


def cosine_neighbours(train: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(similarities, indices into ``train``), each (Q, min(k, N)), of each query's nearest training rows by
    cosine similarity: faiss exact inner product on L2-normalised copies, most similar first."""
    train = np.ascontiguousarray(train, dtype=np.float32).copy()
    queries = np.ascontiguousarray(queries, dtype=np.float32).copy()
    faiss.normalize_L2(train)
    faiss.normalize_L2(queries)
    index = faiss.IndexFlatIP(train.shape[1])
    index.add(train)
    return index.search(queries, min(k, len(train)))


def knn_predict(
    train: np.ndarray, train_labels: np.ndarray, queries: np.ndarray, num_classes: int, k: int, temperature: float
) -> np.ndarray:
    """Predicted class of each query (rows of float features; normalised here), by faiss kNN vote."""
    sims, idx = cosine_neighbours(train, queries, k)
    weights = np.exp((sims - 1.0) / temperature)  # exp(s/T) up to a per-query factor, without overflow
    votes = np.zeros((len(queries), num_classes), dtype=np.float64)
    np.add.at(votes, (np.arange(len(queries))[:, None], train_labels[idx]), weights)
    return votes.argmax(1)


@PROBES.register("knn")
class KnnProbe:
    """Frozen backbone, cached features, faiss cosine kNN with a temperature-weighted vote; test accuracy."""

    def __init__(self, k: int = 20, temperature: float = 0.07, cache: bool = True) -> None:
        check_settings(counts={"k": k}, positive={"temperature": temperature})
        self.k, self.temperature, self.cache = k, temperature, cache

    def run(
        self, backbone: Backbone, data: DataSource, device: torch.device, seed: int, data_config: dict | None = None
    ) -> dict[str, Any]:
        backbone.to(device)
        x_train, y_train, x_test, y_test, cached = train_test_features(backbone, data, device, data_config, self.cache)
        pred = knn_predict(x_train.numpy(), y_train.numpy(), x_test.numpy(), data.num_classes, self.k, self.temperature)
        return {
            "accuracy": 100.0 * float((pred == y_test.numpy()).mean()),
            "feature_dim": int(x_train.shape[1]),
            "features_cached": cached,
            "settings": {"k": self.k, "temperature": self.temperature, "similarity": "cosine", "index": "faiss flat"},
        }
