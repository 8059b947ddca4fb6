"""Random and geographic splits; k-means on the sphere."""

from __future__ import annotations

import torch

from ssl_toolkit.data.sphere_kmeans import assign, spherical_kmeans, to_lat_lon, to_unit_sphere
from ssl_toolkit.data.splitting import geographic_split, random_split


def test_unit_sphere_round_trip_and_known_points() -> None:
    lat = torch.tensor([0.0, 0.0, 90.0, -45.0])
    lon = torch.tensor([0.0, 90.0, 0.0, -120.0])
    xyz = to_unit_sphere(lat, lon)
    assert torch.allclose(
        xyz[:3], torch.tensor([[1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0]], dtype=torch.float64), atol=1e-12
    )
    back_lat, back_lon = to_lat_lon(xyz)
    assert torch.allclose(back_lat, lat.double(), atol=1e-9) and torch.allclose(
        back_lon[[0, 1, 3]], lon.double()[[0, 1, 3]]
    )


def test_kmeans_keeps_points_either_side_of_the_antimeridian_together() -> None:
    g = torch.Generator().manual_seed(0)
    near_date_line = torch.stack([torch.rand(40, generator=g) * 2 - 1, torch.rand(40, generator=g) * 1.0 + 179.5])
    near_date_line[1] = torch.where(near_date_line[1] > 180, near_date_line[1] - 360, near_date_line[1])
    africa = torch.stack([torch.rand(40, generator=g) * 2, torch.rand(40, generator=g) * 2 + 20])
    lat = torch.cat([near_date_line[0], africa[0]])
    lon = torch.cat([near_date_line[1], africa[1]])
    assert (lon[:40] < 0).any() and (lon[:40] > 0).any()  # the group really straddles +-180
    centres = spherical_kmeans(lat, lon, 2, seed=0)
    cluster = assign(lat, lon, centres)
    assert len(set(cluster[:40].tolist())) == 1 and len(set(cluster[40:].tolist())) == 1
    assert cluster[0] != cluster[40]
    assert torch.equal(centres, spherical_kmeans(lat, lon, 2, seed=0))  # seeded: the same centres again
    c_lat, c_lon = to_lat_lon(centres[cluster[0]].unsqueeze(0))
    assert abs(abs(float(c_lon)) - 180) < 1  # the centre sits on the date line, not at lon 0


def test_geographic_split_holds_out_whole_regions() -> None:
    g = torch.Generator().manual_seed(1)
    coords = torch.stack([torch.rand(600, generator=g) * 30 + 35, torch.rand(600, generator=g) * 50 - 10], dim=1)
    train, test, region = geographic_split(coords.double(), 0.2, regions=12)
    assert len(train) + len(test) == 600 and 0.08 < len(test) / 600 <= 0.2
    assert not set(region[train].tolist()) & set(region[test].tolist())
    again = geographic_split(coords.double(), 0.2, regions=12)
    assert (again[1] == test).all()


def test_random_split_is_stratified_and_fixed() -> None:
    labels = torch.arange(100) % 4
    train, test = random_split(labels, 0.2)
    assert torch.bincount(labels[test]).tolist() == [5, 5, 5, 5]
    assert (random_split(labels, 0.2)[1] == test).all()
