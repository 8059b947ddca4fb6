"""The seed's network: the PyTorch MNIST example net, without its final classifier.

conv1 (C->32, 3x3) -> ReLU -> conv2 (32->64, 3x3) -> ReLU -> max-pool 2 -> dropout .25 -> flatten
-> fc1 (9216->128) -> ReLU -> dropout .5   => 128 features.
The example's ``fc2`` (128->10) is the head: pretext tasks put their own, the seed probe a fresh 10-way one.
Parameter names (conv1, conv2, fc1) match the example, so the seed protocol applies by name.

The pooling is adaptive: at the image size the net was built for it is exactly the example's 2x2 max-pool,
and smaller inputs (the patches and tiles of context and jigsaw tasks) still reach fc1 with the same shape,
so one backbone serves patch tasks and full-image probes.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ssl_toolkit.backbones.base import Backbone
from ssl_toolkit.registry import BACKBONES


@BACKBONES.register("mnist_net")
class MnistNet(Backbone):
    """The PyTorch MNIST example net (conv1, conv2, fc1; 128 features) used by the seed experiment."""

    def __init__(self, in_chans: int = 1, img_size: int = 28) -> None:
        super().__init__()
        if img_size < 6:
            raise ValueError(f"mnist_net needs images of at least 6 px, got {img_size}")
        self.name = "mnist_net"
        self.in_chans = in_chans
        self.num_features = 128
        self.conv1 = nn.Conv2d(in_chans, 32, 3, 1)
        self.conv2 = nn.Conv2d(32, 64, 3, 1)
        self.dropout1 = nn.Dropout(0.25)
        self.dropout2 = nn.Dropout(0.5)
        self.pool_side = (img_size - 4) // 2
        self.fc1 = nn.Linear(64 * self.pool_side * self.pool_side, 128)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The pooled conv maps before fc1: (B, 64, pool_side, pool_side)."""
        return self._pool(F.relu(self.conv2(F.relu(self.conv1(x)))))

    def _pool(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] == 2 * self.pool_side and x.shape[-2] == 2 * self.pool_side:
            return F.max_pool2d(x, 2)  # the example's pooling, at the size the net was built for
        return F.adaptive_max_pool2d(x, self.pool_side)

    def forward_pyramid(self, x: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        """conv1's maps, conv2's and the pooled ones (28 px: 26, 24 and 12 px); fc1's features."""
        first = F.relu(self.conv1(x))
        second = F.relu(self.conv2(first))
        pooled = self._pool(second)
        return [first, second, pooled], self._head(pooled)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._head(self.forward_features(x))

    def _head(self, maps: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.fc1(torch.flatten(self.dropout1(maps), 1)))
        return self.dropout2(x)
