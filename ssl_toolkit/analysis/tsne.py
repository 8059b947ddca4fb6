"""A t-SNE map (van der Maaten & Hinton 2008) of test features, coloured by label."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ssl_toolkit import atomic
from ssl_toolkit.analysis.sample import Sample
from ssl_toolkit.pictures.plots import class_scatter


def tsne_map(data: Any, sample: Sample, seed: int, title: str, out_dir: Path) -> dict[str, Any]:
    from sklearn.manifold import TSNE
    from threadpoolctl import threadpool_limits

    n = len(sample.labels)
    perplexity = float(min(30.0, (n - 1) / 3))
    tsne = TSNE(n_components=2, perplexity=perplexity, init="pca", learning_rate="auto", random_state=seed)
    # one OpenMP thread: beside another busy process, sklearn's threaded Barnes-Hut gradient took 45 s instead
    # of 5 s for 1000 points on 2 cores
    with threadpool_limits(limits=1, user_api="openmp"):
        points = tsne.fit_transform(sample.features.cpu().numpy().astype(np.float64))
    title = f"t-SNE of {title}: {n} test images of {data.name} (perplexity {perplexity:g})"
    atomic.write_bytes(out_dir / "tsne.png", class_scatter(points, sample.labels.numpy(), data.class_names, title))
    return {"points": n, "perplexity": perplexity, "init": "pca", "seed": seed}
