"""Train/test splits that every run and probe agree on: a seeded stratified random split and a geographic one.

The random split is stratified by class with a fixed seed (independent of the training seed), so pretraining
and probing see the same test set. It flatters models on geotagged data: neighbouring tiles look alike
(spatial autocorrelation), and a random split puts neighbours on both sides. The geographic split clusters
the tiles' locations into regions (spherical k-means) and holds out whole regions, chosen in a seeded order
until the test fraction is reached, so no test tile shares a region with a training tile.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.model_selection import train_test_split

from ssl_toolkit.data.sphere_kmeans import assign, spherical_kmeans, to_lat_lon, to_unit_sphere

SPLIT_SEED = 0


def random_split(labels: torch.Tensor, test_fraction: float, seed: int = SPLIT_SEED) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, test), stratified by label when every sample is labelled."""
    y = labels.numpy()
    stratify = y if (y >= 0).all() and len(np.unique(y)) > 1 else None
    train, test = train_test_split(np.arange(len(y)), test_size=test_fraction, random_state=seed, stratify=stratify)
    return np.asarray(train), np.asarray(test)


def group_split(groups: torch.Tensor, test_fraction: float, seed: int = SPLIT_SEED) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, test) with every group (a scene's windows) on one side: whole groups go to test in a
    seeded order until ``test_fraction`` of the samples is reached. At least two groups are needed."""
    g = groups.numpy()
    names = np.unique(g)
    if len(names) < 2:
        raise ValueError(f"{len(names)} scene(s): a split by scene needs at least 2")
    order = np.random.default_rng(seed).permutation(names)
    test_groups, count = [], 0
    for name in order[:-1]:  # at least one group stays in train
        if count >= test_fraction * len(g):
            break
        test_groups.append(name)
        count += int((g == name).sum())
    test = np.isin(g, test_groups)
    return np.flatnonzero(~test), np.flatnonzero(test)


def label_subset(labels: torch.Tensor, fraction: float, seed: int, min_class_size: int = 1) -> np.ndarray:
    """Sorted indices of ``fraction`` of the samples of each class (at least one per class), drawn with ``seed``:
    the labelled part of a low-shot evaluation. Classes with fewer than ``min_class_size`` samples give none."""
    y = labels.numpy()
    rng = np.random.default_rng(seed)
    picked = [
        rng.choice(members, size=max(1, int(round(fraction * len(members)))), replace=False)
        for members in (np.flatnonzero(y == c) for c in np.unique(y))
        if len(members) >= min_class_size
    ]
    return np.sort(np.concatenate(picked)) if picked else np.zeros(0, dtype=np.int64)


def geographic_split(
    coords: torch.Tensor,
    test_fraction: float,
    regions: int,
    seed: int = SPLIT_SEED,
    groups: torch.Tensor | None = None,
) -> tuple[np.ndarray, np.ndarray, torch.Tensor]:
    """Indices (train, test) holding out whole regions, and each sample's region id.

    Regions are taken in a seeded random order and added to the test set while it stays at or below
    ``test_fraction`` of the samples (the first region always goes, so the test set is never empty). Samples
    of one group (the windows of one scene, which may overlap) go to the region of the group's mean location,
    so no pixel is on both sides.
    """
    lat, lon = coords[:, 0], coords[:, 1]
    if groups is not None:
        xyz = torch.zeros(int(groups.max()) + 1, 3, dtype=torch.float64).index_add_(0, groups, to_unit_sphere(lat, lon))
        g_lat, g_lon = to_lat_lon(xyz)
        lat, lon = g_lat[groups], g_lon[groups]
    centres = spherical_kmeans(lat, lon, regions, seed=seed)
    region = assign(lat, lon, centres)
    sizes = torch.bincount(region, minlength=regions)
    order = torch.randperm(regions, generator=torch.Generator().manual_seed(seed)).tolist()
    held, count, target = [], 0, test_fraction * len(coords)
    for r in order:
        if sizes[r] == 0:
            continue
        if held and count + int(sizes[r]) > target:
            continue
        held.append(r)
        count += int(sizes[r])
    test_mask = torch.isin(region, torch.tensor(held)).numpy()
    return np.flatnonzero(~test_mask), np.flatnonzero(test_mask), region
