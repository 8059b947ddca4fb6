"""Backbones by name: our registered nets (``mnist_net``) or any timm model name."""

from __future__ import annotations

import timm

from ssl_toolkit.backbones.base import Backbone
from ssl_toolkit.backbones.mnist_net import MnistNet
from ssl_toolkit.backbones.norms import apply_norm
from ssl_toolkit.backbones.timm_backbone import TimmBackbone
from ssl_toolkit.backbones.vit import ViT
from ssl_toolkit.errors import UserError, did_you_mean
from ssl_toolkit.registry import BACKBONES

__all__ = ["Backbone", "MnistNet", "TimmBackbone", "ViT", "create_backbone"]


def create_backbone(
    name: str,
    in_chans: int,
    img_size: int | None = None,
    data_img_size: int | None = None,
    norm: str = "batch",
    stem: str = "default",
    width: float = 1.0,
) -> Backbone:
    """Create a backbone by name.

    ``img_size`` (set by the user) goes to any model; ``data_img_size`` (the dataset's) only to our own nets,
    which size their layers from it. timm models adapt to the input size by themselves. ``norm``: ``batch``
    (as built) or ``layer`` (every batch norm replaced, see ``norms``). ``stem``: ``default``, or for ResNets
    ``medium`` / ``small`` (see ``timm_backbone``).
    """
    if (stem != "default" or width != 1.0) and (name in BACKBONES or not timm.is_model(name)):
        raise ValueError(f"backbone.stem and backbone.width apply to timm ResNets (e.g. resnet18), not {name}")
    if name in BACKBONES:
        size = img_size or data_img_size
        factory = BACKBONES.get(name)
        return apply_norm(factory(in_chans=in_chans, img_size=size) if size else factory(in_chans=in_chans), norm)
    if timm.is_model(name):
        return apply_norm(TimmBackbone(name, in_chans=in_chans, img_size=img_size, stem=stem, width=width), norm)
    known = [*BACKBONES.names(), *timm.list_models()]
    raise UserError(
        f"unknown backbone '{name}'{did_you_mean(name, known)}; use one of {', '.join(BACKBONES.names())} "
        "or any timm model name (timm.list_models())"
    )
