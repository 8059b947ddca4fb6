from pathlib import Path

import pytest
import timm
import torch

from ssl_toolkit.backbones import MnistNet, create_backbone
from ssl_toolkit.errors import UserError
from ssl_toolkit.runs import load_backbone_weights, save_backbone
from tests.tiny import state_equal


def test_mnist_net_is_the_seed_net() -> None:
    net = create_backbone("mnist_net", in_chans=1)
    shapes = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    assert shapes == {
        "conv1.weight": (32, 1, 3, 3),
        "conv1.bias": (32,),
        "conv2.weight": (64, 32, 3, 3),
        "conv2.bias": (64,),
        "fc1.weight": (128, 9216),
        "fc1.bias": (128,),
    }
    assert net(torch.randn(2, 1, 28, 28)).shape == (2, net.num_features) == (2, 128)


def test_mnist_net_sizes_fc1_from_image_size_and_channels() -> None:
    net = create_backbone("mnist_net", in_chans=3, data_img_size=32)
    assert net(torch.randn(2, 3, 32, 32)).shape == (2, 128)


def test_timm_backbone_any_channel_count_and_feature_size() -> None:
    net = create_backbone("resnet18", in_chans=13)
    assert net.num_features == 512
    assert net(torch.randn(2, 13, 32, 32)).shape == (2, 512)


def test_exported_weights_load_into_a_plain_timm_model(tmp_path: Path) -> None:
    net = create_backbone("resnet18", in_chans=5)
    save_backbone(tmp_path / "b.safetensors", net, {})
    plain = timm.create_model("resnet18", num_classes=0, in_chans=5)
    from safetensors.torch import load_file

    plain.load_state_dict(load_file(str(tmp_path / "b.safetensors")))
    assert state_equal(plain.state_dict(), net.export_state_dict())


def test_mismatched_weights_are_a_clear_error(tmp_path: Path) -> None:
    save_backbone(tmp_path / "b.safetensors", MnistNet(in_chans=1), {})
    with pytest.raises(UserError, match="does not match backbone 'mnist_net'"):
        load_backbone_weights(tmp_path / "b.safetensors", MnistNet(in_chans=3))
    (tmp_path / "junk.safetensors").write_bytes(b"\x00garbage")
    with pytest.raises(UserError, match="not a readable safetensors file"):
        load_backbone_weights(tmp_path / "junk.safetensors", MnistNet())


def test_unknown_backbone_suggests_a_name() -> None:
    with pytest.raises(UserError, match="did you mean 'resnet18'"):
        create_backbone("resnet-18", in_chans=3)
