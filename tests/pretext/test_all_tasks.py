"""Every registered task: forward, backward, finite loss, gradients reach the shared backbone."""

import pytest
import torch

from ssl_toolkit.backbones import create_backbone
from ssl_toolkit.data import DataSource, TensorImages
from ssl_toolkit.registry import TASKS


def geotagged_mnist_like(n: int = 150) -> DataSource:
    """Random 1x28x28 images with labels and random coordinates all over the globe."""
    g = torch.Generator().manual_seed(0)
    coords = torch.stack([torch.rand(n, generator=g) * 180 - 90, torch.rand(n, generator=g) * 360 - 180], dim=1)
    split = TensorImages(
        torch.randint(0, 256, (n, 1, 28, 28), dtype=torch.uint8, generator=g),
        torch.randint(0, 10, (n,), generator=g),
        coords.double(),
        [f"tile{i}" for i in range(n)],
    )
    return DataSource("random", split, split, (0.5,), (0.25,), 1, 28, 10, tuple("0123456789"))


@pytest.mark.parametrize("name", TASKS.names())
def test_task_forward_backward_finite(name: str) -> None:
    torch.manual_seed(0)
    backbone = create_backbone("mnist_net", in_chans=1, img_size=28)
    task = TASKS.get(name)(backbone)
    data = geotagged_mnist_like()
    task.fit_data(data)
    images = torch.randn(6, 1, 28, 28)
    meta = data.train.batch_meta(torch.arange(6))
    out = task(images, meta)
    assert out["loss"].ndim == 0 and torch.isfinite(out["loss"])
    out["loss"].backward()
    grads = [p.grad for p in backbone.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)
    assert set(task.optimizer_groups()) == {"main"}
