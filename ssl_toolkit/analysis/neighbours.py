"""Nearest training neighbours of test images by cosine similarity of their features (faiss; the index chosen
by the bank's size, ``probes.bank_index``), with precision@k and a picture of queries beside their neighbours."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from probes.bank_index import cosine_search
from ssl_toolkit import atomic
from ssl_toolkit.analysis.sample import Sample, load_images
from ssl_toolkit.pictures.grids import image_table


def nearest_neighbours(
    data: Any, x_train: torch.Tensor, y_train: torch.Tensor, sample: Sample, k: int, queries: int, out_dir: Path
) -> dict[str, Any]:
    """The k nearest training images of each sampled test image (cosine, faiss); the first ``queries`` drawn."""
    sims, nbrs, index = cosine_search(x_train.numpy(), sample.features.cpu().numpy(), k)
    k = nbrs.shape[1]
    neighbour_labels, labels = y_train.numpy()[nbrs], sample.labels.numpy()
    same = neighbour_labels == labels[:, None]
    queries = min(queries, len(labels))
    neighbour_images, _ = load_images(data.train, torch.from_numpy(nbrs[:queries].reshape(-1)).long())
    shown_queries = sample.shown(sample.images[:queries], data.pixel_scale)
    shown_nbrs = sample.shown(neighbour_images, data.pixel_scale).reshape(queries, k, *shown_queries.shape[1:])
    names = data.class_names
    cells = [
        [(shown_queries[q], f"query\n{names[labels[q]]}", "black")]
        + [
            (
                shown_nbrs[q, j],
                f"{names[neighbour_labels[q, j]]}\ncos {sims[q, j]:.3f}",
                "green" if same[q, j] else "red",
            )
            for j in range(k)
        ]
        for q in range(queries)
    ]
    title = f"test queries and their {k} nearest training images (cosine; green: same label)"
    atomic.write_bytes(out_dir / "neighbours.png", image_table(cells, title))
    return {
        "k": k,
        "queries": queries,
        "query_test_indices": sample.idx[:queries].tolist(),
        "precision_at_k": round(float(same[:queries].mean()), 6),
        "precision_at_k_all_samples": round(float(same.mean()), 6),
        "samples": len(labels),
        "similarity": "cosine on L2-normalised features, train split searched",
        "neighbour_index": index,
    }
