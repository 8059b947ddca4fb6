import gzip
from pathlib import Path

import pytest
import torch

from ssl_toolkit.data import DataOptions, Normalizer, TensorImages, epoch_order, load_data
from ssl_toolkit.data.mnist import PACKAGED, read_idx
from ssl_toolkit.errors import UserError


def test_packaged_mnist_is_complete_and_offline() -> None:
    mnist = load_data("mnist")
    assert isinstance(mnist.train, TensorImages)
    assert mnist.train.images.shape == (60000, 1, 28, 28) and mnist.test.images.shape == (10000, 1, 28, 28)
    # published class counts of the MNIST training set
    assert torch.bincount(mnist.train.labels).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert mnist.in_chans == 1 and mnist.num_classes == 10


def test_subset_is_a_seeded_sample_of_every_class(image_folder: Path) -> None:
    mnist = load_data("mnist", DataOptions(subset=100))
    assert len(mnist.train) == 100 and len(mnist.test) == 100
    again = load_data("mnist", DataOptions(subset=100))
    assert torch.equal(mnist.train.images, again.train.images) and torch.equal(mnist.test.labels, again.test.labels)
    # the folder's files are sorted by class: the first 9 would be one class, a sample covers all three
    folder = load_data(str(image_folder), DataOptions(test_fraction=0.25, split="random"))
    ordered = folder.train.select(torch.argsort(folder.train.labels, stable=True))
    assert ordered.head(9).labels.unique().tolist() == [0]
    assert ordered.sample(9, seed=0).labels.unique().tolist() == [0, 1, 2]
    assert ordered.sample(100, seed=0) is ordered


def test_truncated_idx_file_is_a_clear_error(tmp_path: Path) -> None:
    data = gzip.decompress((PACKAGED / "t10k-labels-idx1-ubyte.gz").read_bytes())
    bad = tmp_path / "labels-idx1-ubyte"
    bad.write_bytes(data[:500])
    with pytest.raises(UserError, match="truncated"):
        read_idx(bad)


def test_image_folder_with_a_stratified_split(image_folder: Path) -> None:
    data = load_data(str(image_folder), DataOptions(test_fraction=0.25))
    assert data.in_chans == 3 and data.img_size == 16 and data.num_classes == 3
    assert len(data.train) == 27 and len(data.test) == 9
    test_labels = sorted(data.test.labels.tolist())
    assert test_labels == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    image = data.train[0]
    assert image.dtype == torch.uint8 and image.shape == (3, 16, 16)


def test_missing_data_path_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="not a built-in dataset .* and no such path"):
        load_data(str(tmp_path / "nowhere"))


def test_epoch_order_depends_only_on_seed_and_epoch() -> None:
    a = torch.cat(epoch_order(100, 7, seed=3, epoch=2))
    assert torch.equal(a, torch.cat(epoch_order(100, 7, seed=3, epoch=2)))
    assert not torch.equal(a, torch.cat(epoch_order(100, 7, seed=3, epoch=1)))
    assert sorted(a.tolist()) == list(range(100))


def test_normalizer_matches_the_formula() -> None:
    x = torch.randint(0, 256, (2, 3, 4, 4), dtype=torch.uint8)
    mean, std = (0.1, 0.2, 0.3), (0.5, 0.25, 0.2)
    expected = (x.float() / 255 - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
    assert torch.allclose(Normalizer(mean, std, torch.device("cpu"))(x), expected, atol=1e-6)


def test_generated_pixels_span_the_stored_range_of_8_bit_images_and_mean_plus_minus_3_std_of_wider_rasters() -> None:
    mean, std = (0.1, 0.03), (0.2, 0.004)
    eight = Normalizer(mean, std, torch.device("cpu"), 255.0)
    assert eight.low.flatten().tolist() == [0.0, 0.0] and eight.high.flatten().tolist() == [1.0, 1.0]
    wide = Normalizer(mean, std, torch.device("cpu"), 65535.0)
    assert torch.allclose(wide.low.flatten(), torch.tensor([0.1 - 0.6, 0.03 - 0.012]))
    assert torch.allclose(wide.high.flatten(), torch.tensor([0.1 + 0.6, 0.03 + 0.012]))
    assert set(wide.stats()) == {"pixel_mean", "pixel_std", "pixel_low", "pixel_high"}


def test_a_truncated_image_is_a_bad_file_found_when_the_folder_opens(image_folder: Path) -> None:
    broken = image_folder / "red" / "0.png"
    broken.write_bytes(broken.read_bytes()[:200])
    with pytest.raises(UserError, match=r"red/0.png: cannot read image"):
        load_data(str(image_folder))
    data = load_data(str(image_folder), DataOptions(on_bad_file="skip"))
    assert len(data.train) + len(data.test) == 35 and data.skipped[0][0] == str(broken)
