import pytest
import torch

from pretext.rotation import Rotation, rotate90
from ssl_toolkit.backbones import create_backbone


@pytest.mark.parametrize("k", range(4))
def test_rotate90_matches_torch_rot90(k: int) -> None:
    x = torch.randn(3, 2, 5, 5)
    assert torch.equal(rotate90(x, k), torch.rot90(x, k, dims=(-2, -1)))


def test_all_rotations_in_one_batch_with_labels() -> None:
    task = Rotation(create_backbone("mnist_net", 1, 28))
    x = torch.randn(5, 1, 28, 28)
    inputs, targets = task.build_inputs(x, {})
    assert inputs.shape == (20, 1, 28, 28)
    for i in range(20):
        k, src = divmod(i, 5)
        assert targets[i] == k
        assert torch.equal(inputs[i], torch.rot90(x[src], k, dims=(-2, -1)))


def test_one_random_rotation_per_image_matches_its_label() -> None:
    torch.manual_seed(3)
    task = Rotation(create_backbone("mnist_net", 1, 28), all_rotations=False)
    x = torch.randn(64, 1, 28, 28)
    inputs, targets = task.build_inputs(x, {})
    assert inputs.shape == x.shape and set(targets.tolist()) == {0, 1, 2, 3}
    for i in range(64):
        assert torch.equal(inputs[i], torch.rot90(x[i], int(targets[i]), dims=(-2, -1)))


def test_non_square_images_are_refused() -> None:
    task = Rotation(create_backbone("mnist_net", 1, 28))
    with pytest.raises(ValueError, match="square"):
        task.build_inputs(torch.randn(2, 1, 28, 30), {})
