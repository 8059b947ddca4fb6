"""Mode collapse and sample quality on labelled data, without downloaded Inception weights.

A small classifier (the "judge") is trained by the toolkit on the real training split and cached on disk, keyed
by the dataset. For generated samples it gives: ``classes_covered``, the number of classes the judge assigns to
at least 1% of the samples (a collapsed generator covers few); ``class_kl``, KL(generated class histogram ||
real test histogram) in nats; ``frechet``, the Frechet distance between Gaussians fitted to the judge's
128-dimensional features of real test images and of the samples (the FID recipe in this classifier's space).
"""

from __future__ import annotations

import contextlib
import hashlib
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ssl_toolkit import atomic
from ssl_toolkit.cache import cache_dir
from ssl_toolkit.data import DataSource, Normalizer, epoch_order, iterate, sequential_order
from ssl_toolkit.errors import UserError

COVERED_SHARE = 0.01


class Judge(nn.Module):
    def __init__(self, in_chans: int, num_classes: int) -> None:
        super().__init__()
        self.trunk = nn.Sequential(
            nn.Conv2d(in_chans, 32, 3, 2, 1),
            nn.ReLU(),
            nn.Conv2d(32, 64, 3, 2, 1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(4),
            nn.Flatten(),
            nn.Linear(64 * 16, 128),
            nn.ReLU(),
        )
        self.head = nn.Linear(128, num_classes)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.trunk(x)
        return features, self.head(features)


JUDGE_IMAGES = 60_000  # the judge trains on a fixed seeded sample of the whole training split, whatever a run's subset
REFERENCE_IMAGES = 2000


def _judge_train(data: DataSource):
    return (data.full_train if data.full_train is not None else data.train).sample(JUDGE_IMAGES, 0)


def _key(data: DataSource) -> str:
    sample = len(_judge_train(data))
    text = (
        f"{data.name}|{data.split}|{sample}|{data.in_chans}|{data.img_size}|{data.num_classes}|{data.mean}|{data.std}"
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def trained_judge(data: DataSource, device: torch.device, epochs: int = 1) -> Judge:
    """The judge for ``data``: from the cache, or trained now (Adam, one epoch, batches of 128, on a fixed sample
    of ``JUDGE_IMAGES`` of the training split before any ``data.subset``, so runs of any budget are judged by the
    same classifier) and cached."""
    from safetensors.torch import load_file, save_file

    judge = Judge(data.in_chans, data.num_classes)
    path = cache_dir() / f"judge-{_key(data)}.safetensors"
    if path.exists():
        judge.load_state_dict(load_file(path))
        return judge.to(device).eval()
    judge.to(device).train()
    normalize = Normalizer.for_data(data, device)
    optimizer = torch.optim.Adam(judge.parameters(), lr=1e-3)
    with torch.enable_grad():
        for epoch in range(epochs):
            train = _judge_train(data)
            for images, meta in iterate(train, epoch_order(len(train), 128, 0, epoch)):
                _, logits = judge(normalize(images.to(device)))
                loss = F.cross_entropy(logits, meta["label"].to(device))
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
    with contextlib.suppress(UserError):  # a read-only or full cache folder only costs time
        with atomic.atomic_path(path) as tmp:
            save_file({k: v.contiguous().cpu() for k, v in judge.state_dict().items()}, str(tmp))
    return judge.eval()


@dataclass
class Reference:
    """The judge's view of real test images: feature mean and covariance, class histogram, accuracy."""

    mean: np.ndarray
    cov: np.ndarray
    histogram: np.ndarray
    accuracy: float


@torch.no_grad()
def reference(judge: Judge, data: DataSource, device: torch.device, n: int = REFERENCE_IMAGES) -> Reference:
    """The judge on ``n`` real test images (of the test split before any ``data.subset``)."""
    normalize = Normalizer.for_data(data, device)
    split = (data.full_test if data.full_test is not None else data.test).head(n)
    feats, preds, labels = [], [], []
    for images, meta in iterate(split, sequential_order(len(split), 500)):
        f, logits = judge(normalize(images.to(device)))
        feats.append(f.double().cpu())
        preds.append(logits.argmax(1).cpu())
        labels.append(meta["label"])
    x = torch.cat(feats).numpy()
    hist = np.bincount(torch.cat(labels).numpy(), minlength=data.num_classes) / len(x)
    accuracy = float((torch.cat(preds) == torch.cat(labels)).double().mean())
    return Reference(x.mean(0), np.cov(x, rowvar=False), hist, accuracy)


def frechet_distance(mu1: np.ndarray, cov1: np.ndarray, mu2: np.ndarray, cov2: np.ndarray) -> float:
    """||mu1 - mu2||^2 + Tr(cov1 + cov2 - 2 (cov1 cov2)^(1/2))."""
    import warnings

    from scipy import linalg

    with warnings.catch_warnings():  # a singular product (few samples, dead features) is handled below
        warnings.simplefilter("ignore")
        root, _ = linalg.sqrtm(cov1 @ cov2, disp=False)
    if not np.isfinite(root).all():  # nearly singular product: regularise, as the FID reference code does
        eps = np.eye(len(cov1)) * 1e-6
        root, _ = linalg.sqrtm((cov1 + eps) @ (cov2 + eps), disp=False)
    return float(((mu1 - mu2) ** 2).sum() + np.trace(cov1 + cov2 - 2 * root.real))


@torch.no_grad()
def sample_quality(judge: Judge, samples: torch.Tensor, ref: Reference) -> dict[str, float]:
    """``samples``: generated images, normalised like the data, (N, C, H, W)."""
    feats, logits = zip(*(judge(chunk) for chunk in samples.split(500)), strict=True)
    x = torch.cat(feats).double().cpu().numpy()
    counts = np.bincount(torch.cat(logits).argmax(1).cpu().numpy(), minlength=len(ref.histogram))
    share = counts / counts.sum()
    eps = 1e-6
    kl = float((share * (np.log(share + eps) - np.log(ref.histogram + eps))).sum())
    return {
        "classes_covered": float((share >= COVERED_SHARE).sum()),
        "class_kl": kl,
        "frechet": frechet_distance(x.mean(0), np.cov(x, rowvar=False), ref.mean, ref.cov),
    }
