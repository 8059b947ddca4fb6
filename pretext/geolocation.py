"""Geolocation pretext (Ayush et al., "Geography-Aware Self-Supervised Learning", ICCV 2021).

The training tiles' coordinates are clustered by k-means on the unit sphere (faiss; K=100 in the paper); the
task classifies which cluster a tile comes from, so the backbone learns what distinguishes regions. Needs
lat/lon for every training tile. The centres are a buffer (saved in checkpoints); the run folder gets
``geolocation/clusters.csv`` (centre lat/lon and size), ``geolocation/assignments.csv`` (each training tile's
cluster) and ``plots/geolocation_clusters.png``.

A tile's location does not change when it is turned, flipped, cropped or recoloured, so ``augment=True`` trains on
one augmented view of each tile (``views``: 90-degree turns, flips, crops of at least half the tile, mild colour
jitter): the classes are then harder to memorise, which is what stopped longer runs from helping.
"""

from __future__ import annotations

import csv
import io
import sys

import torch

from pretext.augment import Augment, Views, step_seed
from pretext.base import ClassificationPretext
from ssl_toolkit.backbones.base import Backbone
from ssl_toolkit.data.sphere_kmeans import assign, spherical_kmeans, to_lat_lon
from ssl_toolkit.data.splits import DataSource
from ssl_toolkit.pictures.maps import draw_map
from ssl_toolkit.registry import TASKS

# turns and flips (a location has no up), crops of half the tile or more, mild colour jitter, no grayscale
GEOLOCATION_VIEWS = Views(
    scale_min=0.5, hflip=0.5, vflip=0.5, rot90=1.0, brightness=0.4, contrast=0.4, saturation=0.2, hue=0.05,
    grayscale=0.0,
)  # fmt: skip


@TASKS.register("geolocation")
class Geolocation(ClassificationPretext):
    """Classify the k-means cluster (on the unit sphere) of each tile's location; K clusters, seeded."""

    needs_coords = True

    def __init__(
        self,
        backbone: Backbone,
        clusters: int = 100,
        seed: int = 0,
        iterations: int = 25,
        augment: bool = False,
        views: Views = GEOLOCATION_VIEWS,
    ) -> None:
        """``clusters``: K of the k-means; ``seed`` and ``iterations``: of faiss's k-means; ``augment``: classify
        one view of each tile drawn as ``views`` say, instead of the tile itself."""
        views.check()
        if clusters < 2:
            raise ValueError(f"clusters must be at least 2, got {clusters}")
        if iterations < 1:
            raise ValueError(f"iterations must be at least 1, got {iterations}")
        super().__init__(backbone, num_classes=clusters)
        self.seed, self.iterations = seed, iterations
        self.augment, self.views, self.draw = augment, views, Augment(rgb=True)
        self.size = 0  # the data's image size, set by fit_data
        self.register_buffer("centres", torch.zeros(clusters, 3, dtype=torch.float64))
        self._files: dict[str, str | bytes] = {}

    def fit_data(self, data: DataSource) -> None:
        self.draw, self.size = Augment(rgb=data.in_chans == 3), data.img_size
        split = data.train
        if split.coords is None or torch.isnan(split.coords).any():
            first = 0 if split.coords is None else int(torch.isnan(split.coords).any(dim=1).nonzero()[0])
            raise ValueError(f"geolocation needs lat/lon for every tile; {split.path(first)} has none")
        lat, lon = split.coords[:, 0].float(), split.coords[:, 1].float()  # as the batches carry them
        centres = spherical_kmeans(lat, lon, self.num_classes, self.seed, self.iterations)
        self.centres.copy_(centres)
        cluster = assign(lat, lon, centres)
        sizes = torch.bincount(cluster, minlength=self.num_classes)
        empty = int((sizes == 0).sum())
        if empty or len(split) < 3 * self.num_classes:
            print(
                f"warning: geolocation: {self.num_classes} clusters on {len(split)} training tiles leave {empty} "
                f"empty and {int((sizes == 1).sum())} of one tile; set task.clusters (about "
                f"{max(2, len(split) // 10)} for this data)",
                file=sys.stderr,
            )
        c_lat, c_lon = to_lat_lon(centres)
        clusters = ["cluster,lat,lon,x,y,z,tiles"] + [
            f"{k},{c_lat[k]:.6f},{c_lon[k]:.6f},{x:.8f},{y:.8f},{z:.8f},{int(sizes[k])}"
            for k, (x, y, z) in enumerate(centres.tolist())
        ]
        rows = io.StringIO()
        writer = csv.writer(rows, lineterminator="\n")  # quotes paths with commas (scene windows: path@col,row)
        writer.writerow(["path", "lat", "lon", "cluster"])
        for i, (la, lo, c) in enumerate(
            zip(split.coords[:, 0].tolist(), split.coords[:, 1].tolist(), cluster.tolist())
        ):
            writer.writerow([split.path(i), f"{la:.6f}", f"{lo:.6f}", c])
        plot = draw_map(
            split.coords[:, 0].numpy(),
            split.coords[:, 1].numpy(),
            cluster.numpy(),
            f"geolocation: {self.num_classes} k-means clusters on the sphere",
            "cluster",
            centres=(c_lat.numpy(), c_lon.numpy()),
        )
        self._files = {
            "geolocation/clusters.csv": "\n".join(clusters) + "\n",
            "geolocation/assignments.csv": rows.getvalue(),
            "plots/geolocation_clusters.png": plot,
        }

    def run_files(self) -> dict[str, str | bytes]:
        return dict(self._files)

    def build_inputs(self, images: torch.Tensor, meta: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        if "lat" not in meta or "lon" not in meta:
            raise ValueError("geolocation needs lat/lon for each tile; this data has no coordinates")
        if not self.centres.any():
            raise ValueError("geolocation has no clusters yet; fit_data(data) clusters the training coordinates")
        # on the CPU, as the saved assignments were computed: the same float64 arithmetic, the same clusters
        targets = assign(meta["lat"].cpu(), meta["lon"].cpu(), self.centres.cpu()).to(images.device)
        if self.augment and self.training:
            spec = self.views.spec(self.size or images.shape[-1])
            (images,) = self.draw(images, meta, [spec], step_seed(self.context), tuple(self.context.rows))
        return images, targets

    def examples(self, images: torch.Tensor, meta: dict[str, torch.Tensor]) -> tuple[list[torch.Tensor], list[str]]:
        """Each tile with its cluster and coordinates."""
        _, targets = self.build_inputs(images, meta)
        captions = [
            f"cluster {int(k)} ({float(la):.2f}, {float(lo):.2f})"
            for k, la, lo in zip(targets, meta["lat"], meta["lon"], strict=True)
        ]
        return [x.cpu() for x in images], captions
