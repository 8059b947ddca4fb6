"""The built-in eurosat-rgb dataset, read from the real files in ../shared/data."""

import torch

from ssl_toolkit.data import load_data
from ssl_toolkit.data.eurosat import channel_stats


def test_eurosat_rgb_split_is_fixed_stratified_and_complete() -> None:
    a = load_data("eurosat-rgb")
    assert a.num_classes == 10 and a.in_chans == 3 and a.img_size == 64
    assert len(a.train) == 21600 and len(a.test) == 5400
    assert a.train.images.shape[1:] == (3, 64, 64) and a.train.images.dtype == torch.uint8
    train_counts, test_counts = torch.bincount(a.train.labels), torch.bincount(a.test.labels)
    assert torch.allclose(test_counts.float() / (train_counts + test_counts), torch.full((10,), 0.2), atol=0.002)
    b = load_data("eurosat-rgb")  # a second load (from the decoded cache) gives the same split
    assert torch.equal(a.test.labels, b.test.labels) and torch.equal(a.test.images[:50], b.test.images[:50])


def test_channel_stats_match_a_direct_computation() -> None:
    images = torch.randint(0, 256, (10, 3, 8, 8), dtype=torch.uint8)
    mean, std = channel_stats(images)
    x = images.double() / 255
    assert torch.allclose(torch.tensor(mean), x.mean(dim=(0, 2, 3)).float(), atol=1e-6)
    assert torch.allclose(torch.tensor(std), x.std(dim=(0, 2, 3), correction=0).float(), atol=1e-6)
