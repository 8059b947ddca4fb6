"""Layer norm in place of batch norm, and spectral norm folded into exported weights."""

from __future__ import annotations

import pytest
import timm
import torch
from timm.layers import BatchNormAct2d
from torch import nn

from ssl_toolkit.backbones import create_backbone
from ssl_toolkit.backbones.norms import LayerNorm2d, add_spectral_norm, use_layer_norm


def test_layer_norm_makes_each_sample_independent_of_its_batch() -> None:
    torch.manual_seed(0)
    net = create_backbone("resnet18", in_chans=3, norm="layer").train()
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in net.modules())
    x = torch.randn(4, 3, 32, 32)
    alone = net(x[:1])
    with_others = net(torch.cat([x[:1], 10 * x[1:]]))[:1]
    assert torch.allclose(alone, with_others, atol=1e-5)
    batch_norm = create_backbone("resnet18", in_chans=3).train()  # the contrast: batch norm mixes the batch
    assert not torch.allclose(batch_norm(x[:2])[:1], batch_norm(torch.cat([x[:1], 10 * x[1:2]]))[:1], atol=1e-3)


def test_layer_norm_weights_round_trip_through_export() -> None:
    net = create_backbone("resnet18", in_chans=2, norm="layer")
    with torch.no_grad():
        net.model.bn1.weight.fill_(0.5)
    again = create_backbone("resnet18", in_chans=2, norm="layer")
    again.load_export(net.export_state_dict())
    net.eval(), again.eval()
    x = torch.randn(2, 2, 32, 32)
    assert torch.equal(net(x), again(x))
    with pytest.raises(ValueError, match="missing keys"):  # no running statistics for a batch-norm net
        create_backbone("resnet18", in_chans=2).load_export(net.export_state_dict())


def test_a_fused_timm_norm_keeps_its_activation() -> None:
    block = nn.Sequential(BatchNormAct2d(4, act_layer=nn.ReLU))
    assert use_layer_norm(block) == 1 and isinstance(block[0], LayerNorm2d)
    out = block(torch.randn(2, 4, 5, 5))
    assert out.min() >= 0 and out.max() > 0  # normalised, then ReLU


def test_spectral_norm_exports_under_plain_timm_names() -> None:
    torch.manual_seed(0)
    net = create_backbone("resnet18", in_chans=3)
    assert add_spectral_norm(net) == 20  # every conv (num_classes=0 leaves no fc)
    net.train()
    for _ in range(3):
        net(torch.randn(2, 3, 32, 32))
    before = {k: v.clone() for k, v in net.state_dict().items()}
    state = net.export_state_dict()
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())  # exporting changed nothing
    plain = timm.create_model("resnet18", num_classes=0, in_chans=3)
    plain.load_state_dict(state)  # strict: the same names as a plain model
    net.eval(), plain.eval()
    x = torch.randn(2, 3, 32, 32)
    assert torch.allclose(plain(x), net(x), atol=1e-5)
