"""Minibatch discrimination (Salimans et al. 2016): features that tell the discriminator how close each sample
is to the others in its batch, so a generator that collapses to one mode is easy to spot.

features (B, A) -> M = features @ T, (B, kernels, kernel_dim); for each kernel b,
o(i)_b = sum over j != i of exp(-||M_i,b - M_j,b||_1); returns (B, kernels), concatenated to the features.
"""

from __future__ import annotations

import torch
from torch import nn


class MinibatchDiscrimination(nn.Module):
    def __init__(self, in_features: int, kernels: int = 16, kernel_dim: int = 8) -> None:
        super().__init__()
        self.kernels, self.kernel_dim = kernels, kernel_dim
        self.T = nn.Parameter(torch.randn(in_features, kernels * kernel_dim) * 0.1)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        m = (features @ self.T).view(-1, self.kernels, self.kernel_dim)
        distances = (m.unsqueeze(0) - m.unsqueeze(1)).abs().sum(dim=3)  # (B, B, kernels)
        return torch.exp(-distances).sum(dim=1) - 1  # minus each sample's similarity to itself, exp(0) = 1
