"""Linear probe: the frozen backbone in eval mode, features extracted once, a linear classifier on them.

Features are standardised with the training set's mean and std, then a softmax regression is trained with
Adam on the cached features (mini-batches, cosine learning rate). Only the classifier sees gradients.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from probes.base import extract_features
from ssl_toolkit.backbones.base import Backbone
from ssl_toolkit.data import DataSource, Normalizer
from ssl_toolkit.registry import PROBES


@PROBES.register("linear")
class LinearProbe:
    """Frozen backbone, features cached once, softmax regression trained on them; test accuracy."""

    def __init__(self, epochs: int = 30, batch_size: int = 1024, lr: float = 1e-2, weight_decay: float = 1e-4) -> None:
        if epochs < 1 or batch_size < 1:
            raise ValueError(f"epochs and batch_size must be >= 1, got {epochs} and {batch_size}")
        if lr <= 0 or weight_decay < 0:
            raise ValueError(f"lr must be > 0 and weight_decay >= 0, got {lr} and {weight_decay}")
        self.epochs, self.batch_size, self.lr, self.weight_decay = epochs, batch_size, lr, weight_decay

    def run(self, backbone: Backbone, data: DataSource, device: torch.device, seed: int) -> dict[str, Any]:
        torch.manual_seed(seed)
        for p in backbone.parameters():
            p.requires_grad_(False)
        backbone.to(device)
        normalize = Normalizer.for_data(data, device)
        x_train, y_train = extract_features(backbone, data.train, normalize, device, desc="features train")
        x_test, y_test = extract_features(backbone, data.test, normalize, device, desc="features test")
        mean, std = x_train.mean(0), x_train.std(0).clamp_min(1e-6)
        x_train, x_test = (x_train - mean) / std, (x_test - mean) / std
        x_train, y_train = x_train.to(device), y_train.to(device)
        clf = nn.Linear(x_train.shape[1], data.num_classes).to(device)
        opt = torch.optim.Adam(clf.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        steps_per_epoch = math.ceil(len(x_train) / self.batch_size)
        total = self.epochs * steps_per_epoch
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * s / total)))
        g = torch.Generator().manual_seed(seed)
        for _ in range(self.epochs):
            perm = torch.randperm(len(x_train), generator=g).to(device)
            for idx in perm.split(self.batch_size):
                loss = F.cross_entropy(clf(x_train[idx]), y_train[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
        with torch.no_grad():
            pred = clf(x_test.to(device)).argmax(1).cpu()
            train_acc = (clf(x_train).argmax(1) == y_train).float().mean().item()
        return {
            "accuracy": 100.0 * (pred == y_test).float().mean().item(),
            "train_accuracy": 100.0 * train_acc,
            "feature_dim": int(x_train.shape[1]),
            "settings": {
                "epochs": self.epochs,
                "batch_size": self.batch_size,
                "lr": self.lr,
                "weight_decay": self.weight_decay,
                "optimizer": "adam",
            },
        }
