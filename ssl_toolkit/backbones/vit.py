"""Vision transformers sized for the data: ``vit_tiny`` (ViT-Ti: 192 wide, 12 blocks, 3 heads; Touvron et al.
2021) and ``vit_small`` (384, 12, 6), built with timm's ``VisionTransformer`` at the data's image size, with a
patch size keyed on it so an image is about 8 x 8 patches (8 px patches at 64 px, 4 px at 28 or 32 px, 16 px at
128 px and above). Pooled features are the class token (timm's ``global_pool="token"``).

The token path, for masked image modelling (``mae``): ``encode_visible(images, keep)`` embeds the patches, adds
their positions, keeps the ``keep`` (B, K) patch indices and runs the blocks on those with the class token;
``patch_size`` and ``grid`` say how images are cut. Weights are exported under timm's names, so
``backbone.safetensors`` loads into the same ``VisionTransformer``.
"""

from __future__ import annotations

import torch
from timm.models.vision_transformer import VisionTransformer
from torch import nn

from ssl_toolkit.backbones.base import Backbone
from ssl_toolkit.registry import BACKBONES

PATCH_SIZES = (4, 7, 8, 14, 16, 32)
PATCHES_PER_SIDE = 8


def patch_size_for(img_size: int) -> int:
    """The patch size among PATCH_SIZES that divides ``img_size`` and gives closest to 8 patches per side."""
    fitting = [p for p in PATCH_SIZES if img_size % p == 0 and img_size // p >= 2]
    if not fitting:
        raise ValueError(f"no patch size of {PATCH_SIZES} divides images of {img_size} px into at least 2x2 patches")
    return min(fitting, key=lambda p: (abs(img_size // p - PATCHES_PER_SIDE), p))


class ViT(Backbone):
    def __init__(self, name: str, in_chans: int, img_size: int, embed_dim: int, depth: int, heads: int) -> None:
        super().__init__()
        self.name, self.in_chans = name, in_chans
        self.patch_size = patch_size_for(img_size)
        self.grid = img_size // self.patch_size
        self.model = VisionTransformer(
            img_size=img_size,
            patch_size=self.patch_size,
            in_chans=in_chans,
            num_classes=0,
            embed_dim=embed_dim,
            depth=depth,
            num_heads=heads,
        )
        self.num_features = embed_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.forward_features(x)

    def forward_pyramid(self, x: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        """The last four blocks' tokens as maps (timm's ``forward_intermediates``), all at the patch grid's size,
        and the class token's features."""
        final, maps = self.model.forward_intermediates(x, indices=4)
        return list(maps), self.model.forward_head(final)

    def encode_visible(self, images: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        """Tokens (B, 1 + K, D) of the class token and the kept patches (``keep``: (B, K) patch indices)."""
        m = self.model
        x = m._pos_embed(m.patch_embed(images))
        prefix = m.num_prefix_tokens
        patches = x[:, prefix:].gather(1, keep[..., None].expand(-1, -1, x.shape[-1]))
        x = m.norm_pre(torch.cat([x[:, :prefix], patches], dim=1))
        return m.norm(m.blocks(x))

    def _export_module(self) -> nn.Module:
        return self.model


@BACKBONES.register("vit_tiny")
def vit_tiny(in_chans: int = 3, img_size: int = 64) -> ViT:
    """ViT-Tiny (192 wide, 12 blocks, 3 heads) at the data's size, patches keyed on it (about 8x8 per image)."""
    return ViT("vit_tiny", in_chans, img_size, 192, 12, 3)


@BACKBONES.register("vit_small")
def vit_small(in_chans: int = 3, img_size: int = 64) -> ViT:
    """ViT-Small (384 wide, 12 blocks, 6 heads) at the data's size, patches keyed on it (about 8x8 per image)."""
    return ViT("vit_small", in_chans, img_size, 384, 12, 6)
