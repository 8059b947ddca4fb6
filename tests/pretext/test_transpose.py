import pytest
import torch

from pretext.transpose import Transpose
from ssl_toolkit.backbones import create_backbone


def test_label_one_iff_image_is_transposed() -> None:
    torch.manual_seed(0)
    task = Transpose(create_backbone("mnist_net", 1, 28))
    x = torch.randn(200, 3, 28, 28)
    inputs, targets = task.build_inputs(x, {})
    for i in range(200):
        expected = x[i].transpose(1, 2) if targets[i] == 1 else x[i]
        assert torch.equal(inputs[i], expected)
    assert 60 < int(targets.sum()) < 140  # p = 0.5


@pytest.mark.parametrize("p", [0.0, 1.0])
def test_probability_extremes(p: float) -> None:
    task = Transpose(create_backbone("mnist_net", 1, 28), p=p)
    _, targets = task.build_inputs(torch.randn(50, 1, 28, 28), {})
    assert targets.float().mean().item() == p


def test_bad_probability_is_refused() -> None:
    with pytest.raises(ValueError, match="p must be in"):
        Transpose(create_backbone("mnist_net", 1, 28), p=1.5)
