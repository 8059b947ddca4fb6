"""Frozen features, extracted once per (weights, dataset, split) and cached on disk.

The key hashes the backbone's exported weights (so any change to the checkpoint, or another random init, is a
new entry), the backbone's name, the dataset's identity (its config keys, normalisation, and a fingerprint of
the split: labels, paths with their size and modification time, or the pixels of an in-memory split) and the
split's name. Entries live in ``$SSL_CACHE_DIR/features/<key>.npz`` (features float32, labels int64). Caching
is an optimisation: a damaged or unwritable entry only costs the extraction.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from typing import Any

import numpy as np
import torch

from probes.base import extract_features
from ssl_toolkit import atomic
from ssl_toolkit.backbones.base import Backbone
from ssl_toolkit.cache import cache_dir
from ssl_toolkit.data import DataSource, Normalizer
from ssl_toolkit.data.splits import Split, TensorImages
from ssl_toolkit.errors import UserError


def weights_hash(backbone: Backbone) -> str:
    """sha256 over the exported weights' names, dtypes, shapes and bytes."""
    h = hashlib.sha256()
    for name, tensor in sorted(backbone.export_state_dict().items()):
        t = tensor.detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def source_file(sample_path: str) -> str:
    """The file a sample's path names: the path itself when such a file exists (its name may hold an ``@``),
    else the path less a trailing window marker ``@col,row`` (a tile of a larger GeoTIFF, see ``raster.Tile``)."""
    if os.path.exists(sample_path):
        return sample_path
    match = re.fullmatch(r"(.+)@\d+,\d+", sample_path)
    return match.group(1) if match else sample_path


def split_fingerprint(split: Split) -> str:
    """What identifies a split's samples: labels, paths (with each file's size and mtime) or its pixels."""
    h = hashlib.sha256(split.labels.numpy().tobytes())
    if split.paths is not None:
        for p in split.paths:
            h.update(p.encode())
            try:
                st = os.stat(source_file(p))
                h.update(f"|{st.st_size}|{st.st_mtime_ns}".encode())
            except OSError:
                h.update(b"|?")
    if isinstance(split, TensorImages):
        h.update(split.images.contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    elif hasattr(split, "source_index"):
        h.update(split.source_index.numpy().tobytes())
    return h.hexdigest()


def features_key(
    backbone: Backbone, data: DataSource, split_name: str, data_config: dict[str, Any], weights: str | None = None
) -> str:
    """The cache key; ``weights`` is ``weights_hash(backbone)`` when the caller has it already."""
    split = getattr(data, split_name)
    identity = {
        "weights": weights or weights_hash(backbone),
        "backbone": backbone.name,
        "data": data.name,
        "data_config": data_config,
        "mean": list(data.mean),
        "std": list(data.std),
        "pixel_scale": data.pixel_scale,
        "split": split_name,
        "samples": split_fingerprint(split),
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()[:32]


def cached_features(
    backbone: Backbone,
    data: DataSource,
    split_name: str,
    device: torch.device,
    data_config: dict[str, Any] | None = None,
    use_cache: bool = True,
    weights: str | None = None,
) -> tuple[torch.Tensor, torch.Tensor, bool]:
    """(features (N, F) float32, labels (N,), whether they came from the cache) of ``data.<split_name>``."""
    key = features_key(backbone, data, split_name, data_config or {}, weights) if use_cache else ""
    path = cache_dir() / "features" / f"{key}.npz"
    if use_cache and path.is_file():
        try:
            with np.load(path, allow_pickle=False) as saved:
                return torch.from_numpy(saved["features"]), torch.from_numpy(saved["labels"]), True
        except (OSError, ValueError, KeyError):
            pass  # damaged: extract again
    split = getattr(data, split_name)
    x, y = extract_features(backbone, split, Normalizer.for_data(data, device), device, desc=f"features {split_name}")
    if not torch.isfinite(x).all():
        bad = int((~torch.isfinite(x)).any(dim=1).sum())
        raise UserError(
            f"the backbone's features of {bad} of {len(x)} {split_name} images of '{data.name}' are NaN or infinite; "
            "its weights or this data's pixels are broken"
        )
    if use_cache:
        try:
            with atomic.atomic_path(path) as tmp, open(tmp, "wb") as f:
                np.savez(f, features=x.numpy(), labels=y.numpy())
        except (OSError, UserError):
            pass
    return x, y, False


def train_test_features(
    backbone: Backbone,
    data: DataSource,
    device: torch.device,
    data_config: dict[str, Any] | None = None,
    use_cache: bool = True,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, bool]:
    """(train features, train labels, test features, test labels, whether both came from the cache); the
    weights are hashed once for both splits."""
    weights = weights_hash(backbone) if use_cache else None
    x_train, y_train, hit_train = cached_features(backbone, data, "train", device, data_config, use_cache, weights)
    x_test, y_test, hit_test = cached_features(backbone, data, "test", device, data_config, use_cache, weights)
    return x_train, y_train, x_test, y_test, hit_train and hit_test
