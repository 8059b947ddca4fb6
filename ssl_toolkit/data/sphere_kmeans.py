"""k-means of geographic coordinates on the unit sphere, with faiss.

Points are clustered as (x, y, z) on the unit sphere, not as raw (lat, lon): longitude 179.9 and -179.9 are
neighbours there, and the poles are single points (Ayush et al. 2021 cluster tile coordinates for their
geolocation pretext; K=100). faiss's spherical k-means keeps the centres on the sphere, so a point belongs to
the centre of largest dot product, which ``assign`` computes the same way everywhere (run files and training).
"""

from __future__ import annotations

import numpy as np
import torch


def to_unit_sphere(lat: torch.Tensor, lon: torch.Tensor) -> torch.Tensor:
    """lat, lon (N,) degrees -> (N, 3) unit vectors (x towards lon 0 on the equator, z towards the north pole)."""
    phi, lam = torch.deg2rad(lat.double()), torch.deg2rad(lon.double())
    return torch.stack([phi.cos() * lam.cos(), phi.cos() * lam.sin(), phi.sin()], dim=1)


def to_lat_lon(xyz: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, 3) vectors (any length) -> lat, lon (N,) degrees."""
    x, y, z = xyz.double().unbind(dim=1)
    return torch.rad2deg(torch.atan2(z, torch.hypot(x, y))), torch.rad2deg(torch.atan2(y, x))


def spherical_kmeans(lat: torch.Tensor, lon: torch.Tensor, k: int, seed: int, niter: int = 25) -> torch.Tensor:
    """faiss k-means of the points on the unit sphere; returns the (k, 3) unit-length centres (float64).

    Deterministic for a seed (one thread, so summation order is fixed). Needs at least ``k`` distinct points.
    """
    import faiss

    xyz = to_unit_sphere(lat, lon)
    distinct = len(torch.unique(xyz.float(), dim=0))
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    if distinct < k:
        raise ValueError(f"k={k} clusters need at least {k} distinct locations, the data has {distinct}")
    points = np.ascontiguousarray(xyz.numpy(), dtype=np.float32)
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        km = faiss.Kmeans(
            3, k, niter=niter, seed=seed, spherical=True, min_points_per_centroid=1, max_points_per_centroid=100_000
        )
        km.train(points)
    finally:
        faiss.omp_set_num_threads(threads)
    centres = torch.from_numpy(km.centroids.astype(np.float64))
    return centres / centres.norm(dim=1, keepdim=True)


def assign(lat: torch.Tensor, lon: torch.Tensor, centres: torch.Tensor) -> torch.Tensor:
    """Index (N,) of the nearest centre on the sphere (largest dot product) for each point."""
    xyz = to_unit_sphere(lat, lon).to(centres.device, centres.dtype)
    return (xyz @ centres.T).argmax(dim=1)
