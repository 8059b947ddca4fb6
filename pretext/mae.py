"""MAE (He, Chen, Xie, Li, Dollar & Girshick, CVPR 2022, "Masked Autoencoders Are Scalable Vision Learners"): a
ViT encoder sees a random 25% of an image's patches (``mask_ratio`` 0.75), a light transformer decoder fills in
the rest from mask tokens, and the loss is the mean squared error on the masked patches' pixels, each patch
normalised by its own mean and variance (``norm_pix``). Needs a ViT backbone with the token path (``vit_tiny``,
``vit_small``, see ``backbones.vit``). Published recipe: AdamW, lr 1.5e-4 x batch / 256, betas (0.9, 0.95),
weight decay 0.05, a decoder 512 wide and 8 deep (128 wide and 2 deep here, for small images), cosine schedule.
Light augmentation only (a random resized crop of 0.2-1 and a flip), as in the paper.
"""

from __future__ import annotations

import torch
from timm.models.vision_transformer import Block
from torch import nn

from pretext.augment import Views
from pretext.joint import JointEmbedding
from ssl_toolkit.backbones.base import Backbone
from ssl_toolkit.registry import TASKS

MAE_VIEWS = Views(scale_min=0.2, jitter=0.0, grayscale=0.0, blur=0.0)


def patchify(images: torch.Tensor, patch: int) -> torch.Tensor:
    """(B, C, H, W) -> (B, N, patch * patch * C), patches row by row."""
    b, c, h, w = images.shape
    x = images.reshape(b, c, h // patch, patch, w // patch, patch)
    return x.permute(0, 2, 4, 3, 5, 1).reshape(b, (h // patch) * (w // patch), patch * patch * c)


@TASKS.register("mae")
class MAE(JointEmbedding):
    """Masked autoencoder: a ViT encodes 25% of the patches, a light decoder reconstructs the rest (He et al. 2022)."""

    optimizer_recipe = {
        "optim.name": "adamw",
        "optim.lr_per_256": 1.5e-4,
        "optim.momentum": 0.9,
        "optim.weight_decay": 0.05,
        "optim.decay_norms_and_biases": False,
        "schedule.name": "cosine",
        "schedule.warmup_steps": 0,
    }
    default_backbone = "vit_tiny"
    loss_over_ranks = False  # a mean over this rank's patches: the engine weights it by the rank's share

    def __init__(
        self,
        backbone: Backbone,
        mask_ratio: float = 0.75,
        decoder_dim: int = 128,
        decoder_depth: int = 2,
        decoder_heads: int = 4,
        norm_pix: bool = True,
        views: Views = MAE_VIEWS,
    ) -> None:
        super().__init__(backbone, views)
        if not hasattr(backbone, "encode_visible"):
            raise ValueError(f"mae needs a vision transformer backbone (vit_tiny, vit_small), not {backbone.name}")
        if not 0 < mask_ratio < 1:
            raise ValueError(f"mask_ratio must be in (0, 1), got {mask_ratio}")
        self.mask_ratio, self.norm_pix = mask_ratio, norm_pix
        patches = backbone.grid**2
        self.decoder_embed = nn.Linear(backbone.num_features, decoder_dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, decoder_dim))
        self.decoder_pos = nn.Parameter(torch.zeros(1, patches + 1, decoder_dim))
        nn.init.trunc_normal_(self.mask_token, std=0.02)
        nn.init.trunc_normal_(self.decoder_pos, std=0.02)
        self.decoder = nn.Sequential(*[Block(decoder_dim, decoder_heads, mlp_ratio=4.0) for _ in range(decoder_depth)])
        self.decoder_norm = nn.LayerNorm(decoder_dim)
        self.decoder_pred = nn.Linear(decoder_dim, backbone.patch_size**2 * backbone.in_chans)

    def forward(self, images: torch.Tensor, meta: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        (view,) = self.make_views(images, meta)[:1]
        b = len(view)
        n = self.backbone.grid**2
        keep_count = max(1, int(round(n * (1 - self.mask_ratio))))
        order = torch.rand(b, n, device=view.device).argsort(dim=1)  # a random permutation of patches per image
        keep, masked = order[:, :keep_count], order[:, keep_count:]
        encoded = self.backbone.encode_visible(view, keep)
        tokens = self.decoder_embed(encoded)
        d = tokens.shape[-1]
        full = self.mask_token.expand(b, n, d).clone()
        full.scatter_(1, keep[..., None].expand(-1, -1, d), tokens[:, 1:])
        x = torch.cat([tokens[:, :1], full], dim=1) + self.decoder_pos
        pred = self.decoder_pred(self.decoder_norm(self.decoder(x)))[:, 1:]
        target = patchify(view, self.backbone.patch_size)
        if self.norm_pix:
            target = (target - target.mean(-1, keepdim=True)) / (target.var(-1, keepdim=True) + 1e-6).sqrt()
        index = masked[..., None].expand(-1, -1, pred.shape[-1])
        loss = (pred.float().gather(1, index) - target.float().gather(1, index)).pow(2).mean()
        return {"loss": loss, "online_features": encoded[:, 0].detach()}  # the class token of the visible patches

    def view_specs(self, images: torch.Tensor):
        return [self.views.spec(self.size or images.shape[-1])]
