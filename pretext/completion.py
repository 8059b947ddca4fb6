"""Image completion with a global and a local discriminator (Iizuka et al. 2017, "Globally and Locally
Consistent Image Completion") as a representation learner.

Each training image loses one square hole (side ``hole_fraction`` x the image size, at a random place; its
pixels set to the mean, 0 once normalised). The completion network (a U-Net, see ``unet``) fills it; the
completed image keeps the original outside the hole. The discriminator has two trunks, one on the whole image
(global) and one on exactly the filled square (local, cut from the completed image at the hole's place); their
features are concatenated and one linear layer scores real or completed, as in the paper. Losses: the mean
squared error of the hole's pixels, plus ``adversarial_weight`` (the paper's 0.0004) x the generator's
adversarial loss; the discriminator's objective as in ``gan_losses`` (``non_saturating``: the paper's).

``backbone_role`` says which network the shared backbone (probed) is: ``encoder`` (default), the completion
network's encoder, with a small conv trunk as the global discriminator; or ``discriminator``, the global
discriminator's trunk, the completion network then encoding with a copy of it with its own weights. The local
trunk is always a small conv net. Pictures after each epoch: ``plots/completion/completions.png`` (rows of 8:
masked input, completion, original) and the hole's test MSE in the epoch record.
"""

from __future__ import annotations

import copy
from typing import Literal

import torch
from torch import nn

from pretext.base import EpochContext, PretextTask, StepContext, adversarial_round
from pretext.gan import GAN
from pretext.gan_losses import OBJECTIVES, discriminator_loss, generator_loss
from pretext.generators import normalise, pixels
from pretext.patchgan import downsampling_layers
from pretext.unet import UNet
from ssl_toolkit.backbones.base import Backbone
from ssl_toolkit.data.splits import DataSource
from ssl_toolkit.pictures.grids import save_grid
from ssl_toolkit.registry import TASKS


class ConvTrunk(nn.Module):
    """A small discriminator trunk: ``downsamplings`` 4x4 stride-2 convs (64, 128, 256, ... channels, batch norm
    after the first, LeakyReLU 0.2), global average pooling -> (B, channels)."""

    def __init__(self, in_chans: int, downsamplings: int) -> None:
        super().__init__()
        layers, chans = downsampling_layers(in_chans, downsamplings)
        self.net = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.num_features = chans

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def hole_boxes(n: int, size: int, side: int, device: torch.device) -> torch.Tensor:
    """(n, 2) top-left corners (row, column) of ``side`` px square holes, uniformly placed inside the image."""
    return torch.randint(0, size - side + 1, (n, 2), device=device)


def box_mask(boxes: torch.Tensor, size: int, side: int) -> torch.Tensor:
    """(n, 1, size, size) bool masks, True inside each box."""
    idx = torch.arange(size, device=boxes.device)
    rows = (idx >= boxes[:, :1]) & (idx < boxes[:, :1] + side)  # (n, size)
    cols = (idx >= boxes[:, 1:]) & (idx < boxes[:, 1:] + side)
    return (rows[:, :, None] & cols[:, None, :]).unsqueeze(1)


def crop(images: torch.Tensor, boxes: torch.Tensor, side: int) -> torch.Tensor:
    """The ``side`` px square of each image at its box: (n, C, side, side), differentiable (a gather)."""
    offsets = torch.arange(side, device=images.device)
    rows = (boxes[:, 0:1] + offsets)[:, None, :, None].expand(-1, images.shape[1], -1, images.shape[-1])
    strip = images.gather(2, rows)  # (n, C, side, W)
    cols = (boxes[:, 1:2] + offsets)[:, None, None, :].expand(-1, images.shape[1], side, -1)
    return strip.gather(3, cols)


@TASKS.register("completion")
class Completion(PretextTask):
    """Fill a square hole (U-Net), judged by global + local discriminators (Iizuka et al. 2017)."""

    optimizer_recipe = GAN.optimizer_recipe

    def __init__(
        self,
        backbone: Backbone,
        hole_fraction: float = 0.375,
        adversarial_weight: float = 0.0004,
        backbone_role: Literal["encoder", "discriminator"] = "encoder",
        objective: Literal["minimax", "non_saturating", "lsgan", "wgan", "hinge"] = "non_saturating",
        skips: bool = True,
    ) -> None:
        """``skips=False``: the completion network is an encoder-decoder instead of a U-Net (see ``unet``)."""
        super().__init__(backbone)
        if not 0 < hole_fraction < 1:
            raise ValueError(f"hole_fraction must be in (0, 1), got {hole_fraction}")
        if backbone_role not in ("encoder", "discriminator"):
            raise ValueError(f"backbone_role must be encoder or discriminator, got {backbone_role!r}")
        if objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {', '.join(OBJECTIVES)}, got {objective!r}")
        if adversarial_weight < 0:
            raise ValueError(f"adversarial_weight must be >= 0, got {adversarial_weight}")
        self.hole_fraction, self.adversarial_weight = hole_fraction, adversarial_weight
        self.role, self.objective, self.skips = backbone_role, objective, skips
        self.completer: UNet | None = None

    def fit_data(self, data: DataSource) -> None:
        self.side = max(2, round(self.hole_fraction * data.img_size))
        encoder = self.backbone if self.role == "encoder" else copy.deepcopy(self.backbone)
        self.completer = UNet(encoder, data.in_chans, data.img_size, data.in_chans, skips=self.skips)
        if self.role == "encoder":
            self.global_trunk: nn.Module = ConvTrunk(data.in_chans, 3)
            global_features = self.global_trunk.num_features
        else:
            self.global_trunk, global_features = self.backbone, self.backbone.num_features
        self.local_trunk = ConvTrunk(data.in_chans, 2)
        self.score = nn.Linear(global_features + self.local_trunk.num_features, 1)

    def discriminate(self, images: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
        """Scores (B,) from the whole image and the square at each box."""
        features = torch.cat([self.global_trunk(images), self.local_trunk(crop(images, boxes, self.side))], dim=1)
        return self.score(features).squeeze(1)

    def complete(
        self, images: torch.Tensor, meta: dict[str, torch.Tensor], boxes: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(masked input, completed image, both normalised; the network's [0, 1] pixels) for holes at ``boxes``."""
        mask = box_mask(boxes, images.shape[-1], self.side)
        masked = images.masked_fill(mask, 0.0)
        filled = self.completer(masked)
        completed = torch.where(mask, normalise(filled, meta).to(images.dtype), images)
        return masked, completed, filled

    def optimizer_groups(self) -> dict[str, list[nn.Parameter]]:
        if self.completer is None:
            raise ValueError("completion has no networks yet; fit_data(data) sizes them for the data")
        completer = {id(p) for p in self.completer.parameters()}
        return {
            "discriminator": [p for p in self.parameters() if id(p) not in completer],
            "generator": list(self.completer.parameters()),
        }

    def forward(
        self, images: torch.Tensor, meta: dict[str, torch.Tensor], part: str = "generator"
    ) -> dict[str, torch.Tensor]:
        boxes = meta["hole_boxes"]
        if part == "discriminator":
            with torch.no_grad():
                _, completed, _ = self.complete(images, meta, boxes)
            loss = discriminator_loss(
                self.objective, self.discriminate(images, boxes), self.discriminate(completed, boxes)
            )
            return {"loss": loss}
        _, completed, filled = self.complete(images, meta, boxes)
        target = crop(pixels(images, meta), boxes, self.side)
        mse = (crop(filled, boxes, self.side).float() - target.float()).pow(2).mean()
        adversarial = generator_loss(self.objective, self.discriminate(completed, boxes))
        return {
            "loss": mse + self.adversarial_weight * adversarial,
            "mse": mse.detach(),
            "adversarial": adversarial.detach(),
        }

    def training_step(
        self, images: torch.Tensor, meta: dict[str, torch.Tensor], ctx: StepContext
    ) -> dict[str, torch.Tensor]:
        meta = {**meta, "hole_boxes": hole_boxes(images.shape[0], images.shape[-1], self.side, images.device)}
        return adversarial_round(ctx, images, meta, ("discriminator", "generator"))

    def examples(self, images: torch.Tensor, meta: dict[str, torch.Tensor]) -> tuple[list[torch.Tensor], list[str]]:
        boxes = hole_boxes(images.shape[0], images.shape[-1], self.side, images.device)
        masked = images.masked_fill(box_mask(boxes, images.shape[-1], self.side), 0.0)
        return [x.cpu() for x in masked] + [x.cpu() for x in images], ["input"] * len(images) + ["original"] * len(
            images
        )

    def epoch_end(self, ctx: EpochContext) -> dict[str, float]:
        real, _ = ctx.test_images(64)
        meta = ctx.meta()
        boxes = hole_boxes(real.shape[0], real.shape[-1], self.side, real.device)
        masked, completed, filled = self.complete(real, meta, boxes)
        shown = [pixels(x, meta)[:, :3] for x in (masked, completed, real)]
        rows = [t for i in range(0, 24, 8) for t in (s[i : i + 8] for s in shown)]
        save_grid(torch.cat(rows), ctx.run_dir / "plots" / "completion" / "completions.png")
        error = (crop(filled, boxes, self.side) - crop(pixels(real, meta), boxes, self.side)).pow(2).mean()
        return {"test_hole_mse": float(error)}
