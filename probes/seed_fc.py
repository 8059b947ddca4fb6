"""The seed protocol: freeze every backbone parameter whose name does not start with ``fc``, put a fresh
10-way ``fc2`` on top, train with Adadelta for one epoch, report test accuracy.

With ``mnist_net`` this retrains ``fc1`` and the new ``fc2`` on frozen ``conv1``/``conv2``, in train mode
(dropout on), exactly as the seed experiment did: batch 64, Adadelta lr 1.0, StepLR gamma 0.7, log-softmax +
NLL loss. On backbones with no ``fc*`` parameters (most timm models) only the new ``fc2`` trains, and their
frozen batch-norm layers stay in eval mode so that "frozen" also holds for their running statistics.
"""

from __future__ import annotations

import time
from typing import Any

import torch
from torch import nn

from probes.base import check_settings, top1_accuracy, train_supervised
from ssl_toolkit.backbones.base import Backbone
from ssl_toolkit.data import DataSource, Normalizer
from ssl_toolkit.registry import PROBES


@PROBES.register("seed-fc")
class SeedFcProbe:
    """Seed protocol: frozen non-fc layers, fresh fc2, Adadelta, 1 epoch, test accuracy."""

    def __init__(
        self, epochs: int = 1, batch_size: int = 64, lr: float = 1.0, gamma: float = 0.7, test_batch_size: int = 1000
    ) -> None:
        check_settings(
            counts={"epochs": epochs, "batch_size": batch_size, "test_batch_size": test_batch_size},
            positive={"lr": lr, "gamma": gamma},
        )
        self.epochs, self.batch_size, self.lr, self.gamma = epochs, batch_size, lr, gamma
        self.test_batch_size = test_batch_size

    def run(
        self, backbone: Backbone, data: DataSource, device: torch.device, seed: int, data_config: dict | None = None
    ) -> dict[str, Any]:
        torch.manual_seed(seed)
        trainable = []
        for name, p in backbone.export_named_parameters():
            p.requires_grad_(name.startswith("fc"))
            if p.requires_grad:
                trainable.append(name)
        fc2 = nn.Linear(backbone.num_features, data.num_classes)
        model = nn.Sequential(backbone, fc2).to(device)
        params = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.Adadelta(params, lr=self.lr)
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=self.gamma)
        t0 = time.time()

        def modes() -> None:
            model.train()  # dropout on, as in the seed
            for module in backbone.modules():  # but frozen batch-norm layers keep their statistics
                if isinstance(module, nn.modules.batchnorm._BatchNorm) and not any(
                    p.requires_grad for p in module.parameters()
                ):
                    module.eval()

        train_supervised(
            model,
            data,
            device,
            optimizer,
            epochs=self.epochs,
            batch_size=self.batch_size,
            seed=seed,
            desc="seed-fc",
            before_epoch=modes,
            after_epoch=scheduler.step,
        )
        train_s = time.time() - t0
        accuracy = top1_accuracy(model, data.test, Normalizer.for_data(data, device), device, self.test_batch_size)
        return {
            "accuracy": accuracy,
            "trainable": trainable + ["fc2.weight", "fc2.bias"],
            "train_seconds": round(train_s, 2),
            "settings": {
                "epochs": self.epochs,
                "batch_size": self.batch_size,
                "lr": self.lr,
                "gamma": self.gamma,
                "optimizer": "adadelta",
            },
        }
