"""The geolocation pretext: clusters of the training coordinates, targets that match the saved assignments."""

from __future__ import annotations

import csv
import io

import pytest
import torch

from pretext.geolocation import Geolocation
from ssl_toolkit.backbones import create_backbone
from ssl_toolkit.data import DataSource, TensorImages
from ssl_toolkit.data.sphere_kmeans import to_unit_sphere


def geotagged(n: int = 60, coords: torch.Tensor | None = None) -> DataSource:
    g = torch.Generator().manual_seed(0)
    if coords is None:
        coords = torch.stack([torch.rand(n, generator=g) * 40 + 30, torch.rand(n, generator=g) * 60 - 20], dim=1)
    split = TensorImages(
        torch.randint(0, 256, (n, 1, 28, 28), dtype=torch.uint8, generator=g),
        torch.zeros(n, dtype=torch.long),
        coords.double(),
        [f"tiles/{i}.tif" for i in range(n)],
    )
    return DataSource("geo", split, split, (0.5,), (0.25,), 1, 28, 1, ("x",))


def test_targets_are_the_saved_cluster_of_each_tile() -> None:
    data = geotagged()
    task = Geolocation(create_backbone("mnist_net", in_chans=1, img_size=28), clusters=5)
    task.fit_data(data)
    files = task.run_files()
    assert set(files) == {"geolocation/clusters.csv", "geolocation/assignments.csv", "plots/geolocation_clusters.png"}
    assert files["plots/geolocation_clusters.png"][:4] == b"\x89PNG"
    saved = list(csv.DictReader(io.StringIO(files["geolocation/assignments.csv"])))
    assert [r["path"] for r in saved] == data.train.paths
    idx = torch.arange(len(data.train))
    _, targets = task.build_inputs(torch.zeros(len(idx), 1, 28, 28), data.train.batch_meta(idx))
    assert targets.tolist() == [int(r["cluster"]) for r in saved]
    # every tile's cluster is its nearest centre on the sphere (a brute-force check in float64)
    xyz = to_unit_sphere(data.train.coords[:, 0].float(), data.train.coords[:, 1].float())
    distances = torch.cdist(xyz, task.centres)
    assert torch.equal(distances.argmin(dim=1), targets)
    clusters = list(csv.DictReader(io.StringIO(files["geolocation/clusters.csv"])))
    assert len(clusters) == 5 and sum(int(r["tiles"]) for r in clusters) == len(data.train)


def test_tiles_without_coordinates_are_named() -> None:
    data = geotagged()
    data.train.coords[7] = float("nan")
    task = Geolocation(create_backbone("mnist_net", in_chans=1, img_size=28), clusters=5)
    with pytest.raises(ValueError, match=r"tiles/7.tif has none"):
        task.fit_data(data)


def test_too_few_places_for_the_clusters() -> None:
    coords = torch.tensor([[10.0, 20.0]] * 30 + [[11.0, 21.0]] * 30)
    task = Geolocation(create_backbone("mnist_net", in_chans=1, img_size=28), clusters=5)
    with pytest.raises(ValueError, match=r"k=5 clusters need at least 5 distinct locations, the data has 2"):
        task.fit_data(geotagged(coords=coords))


def test_augment_trains_on_a_view_of_each_tile_with_the_tile_s_cluster() -> None:
    data = geotagged()
    task = Geolocation(create_backbone("mnist_net", in_chans=1, img_size=28), clusters=5, augment=True)
    task.fit_data(data)
    idx = torch.arange(len(data.train))
    images = torch.randn(len(idx), 1, 28, 28)
    meta = {**data.train.batch_meta(idx), "pixel_mean": torch.tensor([0.5]), "pixel_std": torch.tensor([0.25])}
    task.eval()
    plain, targets = task.build_inputs(images, meta)
    assert torch.equal(plain, images)  # evaluation (pictures, probes) sees the tiles themselves
    task.train()
    views, view_targets = task.build_inputs(images, meta)
    again, _ = task.build_inputs(images, meta)
    assert views.shape == images.shape and not torch.allclose(views, images)
    assert torch.equal(view_targets, targets)  # a turned, cropped or recoloured tile is still where it was
    assert torch.equal(views, again)  # drawn from (run seed, step): a resumed run sees the same views
    out = task(images, meta)
    out["loss"].backward()
    assert torch.isfinite(out["loss"]) and task.backbone.parameters().__next__().grad is not None
