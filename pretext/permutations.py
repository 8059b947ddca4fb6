"""Permutation sets for jigsaw puzzles, chosen greedily for large Hamming distance (Noroozi & Favaro 2016, Alg. 1).

Start from a random permutation of 9; then repeatedly add the permutation, among all 9! not yet chosen, whose
Hamming distance to the chosen set is largest. Here "distance to the set" is the minimum distance to any chosen
permutation (ties broken by the larger mean distance), which keeps the set's minimum distance high; the paper's
variant uses the mean alone. Deterministic for (N, seed); cached on disk because N = 1000 takes a few seconds.
"""

from __future__ import annotations

import itertools

import numpy as np

from ssl_toolkit.cache import cache_dir, load_array, save_array


def all_permutations(n: int = 9) -> np.ndarray:
    return np.array(list(itertools.permutations(range(n))), dtype=np.int8)


def max_hamming_set(size: int, seed: int = 0, n: int = 9) -> np.ndarray:
    """(size, n) int64 array of distinct permutations of range(n)."""
    pool = all_permutations(n)
    if not 1 <= size <= len(pool):
        raise ValueError(f"permutation set size must be in [1, {len(pool)}], got {size}")
    rng = np.random.default_rng(seed)
    first = int(rng.integers(len(pool)))
    chosen = [first]
    min_dist = (pool != pool[first]).sum(1).astype(np.int32)
    sum_dist = min_dist.astype(np.int64).copy()
    min_dist[first] = -1  # never pick a permutation twice
    for _ in range(size - 1):
        best = min_dist.max()
        candidates = np.flatnonzero(min_dist == best)
        j = int(candidates[np.argmax(sum_dist[candidates])])
        chosen.append(j)
        d = (pool != pool[j]).sum(1)
        np.minimum(min_dist, d, out=min_dist, where=min_dist >= 0)
        sum_dist += d
        min_dist[j] = -1
    return pool[chosen].astype(np.int64)


def load_or_build(size: int, seed: int = 0) -> np.ndarray:
    """The set from the disk cache, built and cached on first use."""
    path = cache_dir() / "permutations" / f"hamming9_n{size}_seed{seed}.npy"
    cached = load_array(path)
    if cached is not None and cached.shape == (size, 9):
        return cached.astype(np.int64)
    perms = max_hamming_set(size, seed)
    save_array(path, perms)
    return perms


def hamming_stats(perms: np.ndarray) -> tuple[int, float]:
    """Minimum and mean pairwise Hamming distance of a set."""
    d = (perms[:, None, :] != perms[None, :, :]).sum(-1)
    off = ~np.eye(len(perms), dtype=bool)
    return int(d[off].min()), float(d[off].mean())
