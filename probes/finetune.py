"""Fine-tune probe: every backbone layer trains, with a small learning rate, under a fresh linear head.

AdamW, ``lr`` for the backbone and ``head_lr`` for the head, cosine schedule over ``epochs``; batch norm and
dropout in train mode while training, eval mode for the test. It measures how good a starting point the
representation is, not how linearly separable it is.
"""

from __future__ import annotations

import math
import time
from typing import Any

import torch
from torch import nn

from probes.base import check_settings, top1_accuracy, train_supervised
from ssl_toolkit.backbones.base import Backbone
from ssl_toolkit.data import DataSource, Normalizer, batches_per_epoch
from ssl_toolkit.registry import PROBES


@PROBES.register("finetune")
class FinetuneProbe:
    """All layers trained (small lr) with a fresh linear head; test accuracy."""

    def __init__(
        self,
        epochs: int = 1,
        batch_size: int = 64,
        lr: float = 1e-4,
        head_lr: float = 1e-3,
        weight_decay: float = 1e-4,
    ) -> None:
        check_settings(
            counts={"epochs": epochs, "batch_size": batch_size},
            positive={"lr": lr, "head_lr": head_lr},
            non_negative={"weight_decay": weight_decay},
        )
        self.epochs, self.batch_size, self.lr, self.head_lr = epochs, batch_size, lr, head_lr
        self.weight_decay = weight_decay

    def run(
        self, backbone: Backbone, data: DataSource, device: torch.device, seed: int, data_config: dict | None = None
    ) -> dict[str, Any]:
        torch.manual_seed(seed)
        for p in backbone.parameters():
            p.requires_grad_(True)
        head = nn.Linear(backbone.num_features, data.num_classes)
        model = nn.Sequential(backbone, head).to(device)
        optimizer = torch.optim.AdamW(
            [{"params": backbone.parameters(), "lr": self.lr}, {"params": head.parameters(), "lr": self.head_lr}],
            weight_decay=self.weight_decay,
        )
        steps = self.epochs * batches_per_epoch(len(data.train), self.batch_size)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 0.5 * (1 + math.cos(math.pi * s / steps)))
        t0 = time.time()
        model.train()
        train_supervised(
            model,
            data,
            device,
            optimizer,
            epochs=self.epochs,
            batch_size=self.batch_size,
            seed=seed,
            desc="finetune",
            after_step=scheduler.step,
        )
        train_s = time.time() - t0
        accuracy = top1_accuracy(model, data.test, Normalizer.for_data(data, device), device, 512)
        return {
            "accuracy": accuracy,
            "train_seconds": round(train_s, 2),
            "settings": {
                "epochs": self.epochs,
                "batch_size": self.batch_size,
                "lr": self.lr,
                "head_lr": self.head_lr,
                "weight_decay": self.weight_decay,
                "optimizer": "adamw",
                "schedule": "cosine",
            },
        }
