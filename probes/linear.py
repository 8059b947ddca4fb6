"""Linear probe: the frozen backbone in eval mode, features extracted once (and cached, see ``features``), a
softmax regression on them.

Features are standardised with the training set's mean and std. The classifier trains with Adam on mini-batches
(cosine learning rate). Its L2 regularisation (``weight_decay``) is chosen on a validation split carved from
train (``val_fraction``, stratified, seeded) among ``WEIGHT_DECAYS`` unless given; the classifier is then
trained again on the whole training split with the chosen value and measured once on test.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from probes.base import check_settings, percent
from probes.features import train_test_features
from ssl_toolkit.backbones.base import Backbone
from ssl_toolkit.data import DataSource
from ssl_toolkit.data.splitting import label_subset
from ssl_toolkit.registry import PROBES

WEIGHT_DECAYS = (0.0, 1e-5, 1e-4, 1e-3, 1e-2)
DEFAULT_WEIGHT_DECAY = 1e-4  # when there are too few labels to carve a validation split


def fit_softmax(
    x: torch.Tensor,
    y: torch.Tensor,
    num_classes: int,
    *,
    weight_decay: float,
    epochs: int = 30,
    batch_size: int = 1024,
    lr: float = 1e-2,
    seed: int = 0,
) -> nn.Linear:
    """A linear classifier trained on fixed features ``x`` (N, F) for labels ``y`` (N,), on x's device."""
    torch.manual_seed(seed)
    clf = nn.Linear(x.shape[1], num_classes).to(x.device)
    opt = torch.optim.Adam(clf.parameters(), lr=lr, weight_decay=weight_decay)
    total = epochs * math.ceil(len(x) / batch_size)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * s / total)))
    g = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        for idx in torch.randperm(len(x), generator=g).to(x.device).split(batch_size):
            loss = F.cross_entropy(clf(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
    return clf


def validation_split(labels: torch.Tensor, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(fit, validation) indices: ``fraction`` of each class (at least one) goes to validation, seeded; a class
    with a single sample stays in fit. Works for the few labels of low-shot probes."""
    val_idx = label_subset(labels, fraction, seed, min_class_size=2)
    return np.setdiff1d(np.arange(len(labels)), val_idx), val_idx


@torch.no_grad()
def accuracy(clf: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    return 100.0 * (clf(x).argmax(1) == y).float().mean().item()


@dataclass
class LinearFit:
    """A fitted linear probe: ``classifier`` on features standardised with the training ``mean`` and ``std``."""

    classifier: nn.Linear
    mean: torch.Tensor
    std: torch.Tensor
    weight_decay: float
    validation_accuracy: dict[str, float]

    def standardise(self, features: torch.Tensor) -> torch.Tensor:
        return (features.to(self.mean.device) - self.mean) / self.std

    def folded(self) -> nn.Linear:
        """One frozen linear layer on raw features: W' = W / std, b' = b - W' mean."""
        weight = self.classifier.weight.detach() / self.std
        layer = nn.Linear(weight.shape[1], weight.shape[0]).to(weight)
        with torch.no_grad():
            layer.weight.copy_(weight)
            layer.bias.copy_(self.classifier.bias.detach() - weight @ self.mean)
        return layer.requires_grad_(False)


@PROBES.register("linear")
class LinearProbe:
    """Frozen backbone, cached features, softmax regression with validation-chosen L2; test accuracy."""

    def __init__(
        self,
        epochs: int = 30,
        batch_size: int = 1024,
        lr: float = 1e-2,
        weight_decay: float | None = None,
        val_fraction: float = 0.1,
        cache: bool = True,
    ) -> None:
        """``weight_decay`` None: chosen on the validation split among WEIGHT_DECAYS. ``cache``: reuse and keep
        extracted features on disk."""
        check_settings(
            counts={"epochs": epochs, "batch_size": batch_size},
            positive={"lr": lr},
            non_negative={"weight_decay": weight_decay},
        )
        if not 0 < val_fraction < 1:
            raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
        self.epochs, self.batch_size, self.lr = epochs, batch_size, lr
        self.weight_decay, self.val_fraction, self.cache = weight_decay, val_fraction, cache

    def fit(
        self, x_train: torch.Tensor, y_train: torch.Tensor, num_classes: int, device: torch.device, seed: int
    ) -> LinearFit:
        """The classifier on standardised training features ``x_train`` (N, F), labels ``y_train`` (N,): L2
        chosen on the validation split (unless given), then trained on all of train."""
        mean, std = x_train.mean(0), x_train.std(0).clamp_min(1e-6)
        x, y = ((x_train - mean) / std).to(device), y_train.to(device)
        fit = dict(epochs=self.epochs, batch_size=self.batch_size, lr=self.lr, seed=seed)
        val_scores: dict[str, float] = {}
        chosen = self.weight_decay
        if chosen is None:
            fit_idx, val_idx = validation_split(y.cpu(), self.val_fraction, seed)
            if len(val_idx) == 0 or len(fit_idx) == 0:  # one label per class: nothing to validate on
                chosen = DEFAULT_WEIGHT_DECAY
            else:
                fit_idx, val_idx = torch.as_tensor(fit_idx, device=device), torch.as_tensor(val_idx, device=device)
                for wd in WEIGHT_DECAYS:
                    clf = fit_softmax(x[fit_idx], y[fit_idx], num_classes, weight_decay=wd, **fit)
                    val_scores[str(wd)] = percent(accuracy(clf, x[val_idx], y[val_idx]))
                chosen = max(WEIGHT_DECAYS, key=lambda wd: (val_scores[str(wd)], wd))  # ties: the stronger L2
        clf = fit_softmax(x, y, num_classes, weight_decay=chosen, **fit)
        return LinearFit(clf, mean.to(device), std.to(device), chosen, val_scores)

    def run(
        self, backbone: Backbone, data: DataSource, device: torch.device, seed: int, data_config: dict | None = None
    ) -> dict[str, Any]:
        for p in backbone.parameters():
            p.requires_grad_(False)
        backbone.to(device)
        x_train, y_train, x_test, y_test, cached = train_test_features(backbone, data, device, data_config, self.cache)
        fitted = self.fit(x_train, y_train, data.num_classes, device, seed)
        y_train, y_test = y_train.to(device), y_test.to(device)
        return {
            "accuracy": accuracy(fitted.classifier, fitted.standardise(x_test), y_test),
            "train_accuracy": accuracy(fitted.classifier, fitted.standardise(x_train), y_train),
            "feature_dim": int(x_train.shape[1]),
            "features_cached": cached,
            "settings": {
                "epochs": self.epochs,
                "batch_size": self.batch_size,
                "lr": self.lr,
                "weight_decay": fitted.weight_decay,
                "weight_decay_chosen_on_validation": bool(fitted.validation_accuracy),
                "validation_accuracy": fitted.validation_accuracy,
                "val_fraction": self.val_fraction,
                "optimizer": "adam",
            },
        }
