"""Cosine nearest neighbours in a bank of features, with the faiss index chosen by the bank's size.

Below ``flat_below`` rows the search is exact (``IndexFlatIP`` on L2-normalised copies). From there up, an
inverted-file index (IVF: ``nlist`` = sqrt(N) k-means cells, trained on a seeded sample of the bank) searches only
the ``nprobe`` cells nearest each query. Its recall is measured, never assumed: a seeded sample of the queries is
searched exactly too, and ``nprobe`` is doubled until the mean recall@k (the share of the exact k nearest that the
index returns) reaches ``recall_target``; the recall reached is in the report. With sqrt(N) cells, assigning the
bank costs about N^1.5 * d and each query about (sqrt(N) + nprobe * sqrt(N)) * d, against N * d for exact search:
the index pays once there are many more queries than cells. A query whose probed cells hold fewer than k rows is
searched exactly, so every query gets k neighbours.

On GPU where faiss-gpu finds one (``faiss.get_num_gpus() > 0``), both indexes are moved there.
"""

from __future__ import annotations

import math
import time
from typing import Any

import faiss
import numpy as np

INDEXES = ("auto", "flat", "ivf")
FLAT_BELOW = 200_000  # bank rows; below this exact search is cheap enough for any probe here
RECALL_TARGET = 0.95
RECALL_QUERIES = 500
TRAIN_POINTS_PER_CELL = 64  # k-means sample for the IVF cells (faiss warns below 39 per cell)
START_NPROBE = 8


def normalised(x: np.ndarray) -> np.ndarray:
    """An L2-normalised float32 copy (the input is left alone)."""
    x = np.ascontiguousarray(x, dtype=np.float32).copy()
    faiss.normalize_L2(x)
    return x


def on_gpu(index: faiss.Index) -> faiss.Index:
    """``index`` on all GPUs faiss finds; itself when there is none (faiss-cpu, or no device)."""
    if getattr(faiss, "get_num_gpus", lambda: 0)() > 0:
        return faiss.index_cpu_to_all_gpus(index)
    return index


def recall_at_k(found: np.ndarray, exact: np.ndarray) -> float:
    """Mean share, over queries, of the exact neighbours (rows of ``exact``) that ``found`` also returns."""
    k = exact.shape[1]
    if k == 0:
        return 1.0
    hits = [len(np.intersect1d(f[f >= 0], e)) for f, e in zip(found, exact, strict=True)]
    return float(np.sum(hits)) / (k * len(exact))


def cells_for(n: int) -> int:
    """IVF cells for a bank of ``n`` rows: sqrt(n), at least 1."""
    return max(1, int(math.sqrt(n)))


def set_nprobe(index: faiss.Index, nprobe: int) -> None:
    if hasattr(faiss, "GpuParameterSpace") and not isinstance(index, faiss.IndexIVF):
        faiss.GpuParameterSpace().set_index_parameter(index, "nprobe", nprobe)
    else:
        faiss.extract_index_ivf(index).nprobe = nprobe


def build_ivf(bank: np.ndarray, seed: int) -> tuple[faiss.Index, int]:
    """An IVF inner-product index over the (normalised) ``bank``, its cells trained on a seeded sample."""
    n, dim = bank.shape
    nlist = cells_for(n)
    quantizer = faiss.IndexFlatIP(dim)
    index = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
    index.cp.seed = seed
    sample = np.random.default_rng(seed).choice(n, size=min(n, TRAIN_POINTS_PER_CELL * nlist), replace=False)
    index.train(bank[np.sort(sample)])
    index.add(bank)
    return index, nlist


def cosine_search(
    bank: np.ndarray,
    queries: np.ndarray,
    k: int,
    *,
    index: str = "auto",
    flat_below: int = FLAT_BELOW,
    recall_target: float = RECALL_TARGET,
    recall_queries: int = RECALL_QUERIES,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """(similarities, indices into ``bank``), each (Q, min(k, N)), most similar first, of each query's nearest
    bank rows by cosine similarity, and a report of the index used (kind, sizes, device, for IVF its cells,
    nprobe and the recall@k measured against exact search on a sample of the queries)."""
    if index not in INDEXES:
        raise ValueError(f"index must be one of {', '.join(INDEXES)}, got {index!r}")
    bank, queries = normalised(bank), normalised(queries)
    n, k = len(bank), min(k, len(bank))
    kind = index if index != "auto" else ("flat" if n < flat_below else "ivf")
    device = "gpu" if getattr(faiss, "get_num_gpus", lambda: 0)() > 0 else "cpu"
    report: dict[str, Any] = {"index": kind, "bank": n, "queries": len(queries), "k": k, "device": device}
    t0 = time.perf_counter()
    flat = faiss.IndexFlatIP(bank.shape[1])
    flat.add(bank)
    if kind == "flat":
        sims, idx = on_gpu(flat).search(queries, k)
        report["search_s"] = round(time.perf_counter() - t0, 3)
        return sims, idx, report
    ivf, nlist = build_ivf(bank, seed)
    ivf = on_gpu(ivf)
    report["build_s"] = round(time.perf_counter() - t0, 3)
    rng = np.random.default_rng(seed + 1)
    picked = np.sort(rng.choice(len(queries), size=min(len(queries), recall_queries), replace=False))
    _, exact = on_gpu(flat).search(queries[picked], k)
    nprobe = min(START_NPROBE, nlist)
    while True:
        set_nprobe(ivf, nprobe)
        recall = recall_at_k(ivf.search(queries[picked], k)[1], exact)
        if recall >= recall_target or nprobe >= nlist:
            break
        nprobe = min(2 * nprobe, nlist)
    t1 = time.perf_counter()
    sims, idx = ivf.search(queries, k)
    short = np.flatnonzero((idx < 0).any(axis=1))  # the probed cells held fewer than k rows: search those exactly
    if len(short):
        sims[short], idx[short] = on_gpu(flat).search(queries[short], k)
    report.update(
        nlist=nlist,
        nprobe=nprobe,
        recall_at_k=round(recall, 4),
        recall_target=recall_target,
        recall_queries=len(picked),
        search_s=round(time.perf_counter() - t1, 3),
        exact_fallback_queries=len(short),
    )
    return sims, idx, report
