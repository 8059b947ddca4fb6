"""Online monitors: representation quality seen during pretraining, not only after it (lightly, solo-learn and
stable-pretraining have them). Off with ``train.online_probe=false``; only where the data has labels.

- A linear head trained alongside on the detached backbone features a task reports (``online_features`` in its
  step outputs, rows aligned with the batch's images): its own Adam optimizer, never a gradient into the
  backbone. Its accuracy on each training batch (before its step) is logged as ``online_acc``.
- At every epoch end, a kNN accuracy (k 20, cosine, temperature-weighted vote, faiss) of the backbone's features
  of a fixed labelled sample: ``KNN_TRAIN`` training images as the bank, ``KNN_TEST`` test images as queries,
  logged as ``online_knn`` in the epoch record.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ssl_toolkit.data import DataSource, Normalizer, iterate, sequential_order

KNN_TRAIN, KNN_TEST, KNN_K, KNN_TEMPERATURE = 2000, 1000, 20, 0.07
HEAD_LR = 1e-3


class OnlineProbe:
    def __init__(self, data: DataSource, device: torch.device) -> None:
        self.classes = data.num_classes
        self.head: nn.Linear | None = None
        self.optimizer: torch.optim.Optimizer | None = None
        self.device = device
        self._saved: dict[str, Any] | None = None
        self.bank = data.train.sample(KNN_TRAIN, 0) if self.classes else None
        self.queries = data.test.head(KNN_TEST) if self.classes else None
        self.normalize = Normalizer.for_data(data, device)

    def step(self, features: torch.Tensor | None, labels: torch.Tensor | None) -> dict[str, torch.Tensor]:
        """Train the head one step on ``features`` (B, F) of labelled rows; returns ``online_acc`` (or nothing)."""
        if features is None or labels is None or not self.classes:
            return {}
        keep = labels >= 0
        if not bool(keep.any()):
            return {}
        x, y = features.detach().float()[keep], labels[keep]
        if self.head is None:
            self._build(x.shape[1])
        with torch.enable_grad():
            logits = self.head(x)
            loss = F.cross_entropy(logits, y)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
        return {"online_acc": (logits.argmax(1) == y).float().mean().detach()}

    def _build(self, dim: int) -> None:
        generator = torch.Generator().manual_seed(0)  # its own randomness: the run's RNG is not touched
        self.head = nn.utils.skip_init(nn.Linear, dim, self.classes)
        with torch.no_grad():
            bound = 1 / dim**0.5
            self.head.weight.uniform_(-bound, bound, generator=generator)
            self.head.bias.uniform_(-bound, bound, generator=generator)
        self.head.to(self.device)
        self.optimizer = torch.optim.Adam(self.head.parameters(), lr=HEAD_LR)
        if self._saved is not None:
            self.head.load_state_dict(self._saved["head"])
            self.optimizer.load_state_dict(self._saved["optimizer"])

    @torch.no_grad()
    def knn_accuracy(self, backbone: nn.Module) -> dict[str, float]:
        """``online_knn`` of the backbone (in eval mode) on the fixed sample, in percent."""
        if not self.classes or len(self.bank) == 0 or len(self.queries) == 0:
            return {}
        from probes.knn import knn_predict

        bank, bank_labels = self._features(backbone, self.bank)
        queries, query_labels = self._features(backbone, self.queries)
        pred = knn_predict(bank, bank_labels, queries, self.classes, KNN_K, KNN_TEMPERATURE)
        return {"online_knn": round(100.0 * float((pred == query_labels).mean()), 2)}

    def _features(self, backbone: nn.Module, split: Any):
        feats, labels = [], []
        for images, meta in iterate(split, sequential_order(len(split), 256)):
            feats.append(backbone(self.normalize(images.to(self.device))).float().cpu())
            labels.append(meta["label"])
        return torch.cat(feats).numpy(), torch.cat(labels).numpy()

    def state(self) -> dict[str, Any] | None:
        if self.head is None:
            return self._saved
        return {"head": self.head.state_dict(), "optimizer": self.optimizer.state_dict()}

    def load(self, state: dict[str, Any] | None) -> None:
        """A checkpoint's head; built when the first features arrive (their size is known then)."""
        self._saved = state
        if state is not None and self.head is not None:
            self.head.load_state_dict(state["head"])
            self.optimizer.load_state_dict(state["optimizer"])
