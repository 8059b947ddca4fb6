"""Batched augmentation on the training device, with fresh random parameters for every image of the batch.

torchvision's v2 transforms applied to a batch tensor draw one set of parameters for the whole batch; the
joint-embedding methods need a different crop, flip and colour change for each image (and for each of its
views). Every transform here takes its per-image parameters as tensors, so it is tested against the same
transform applied to one image alone; ``Augment`` draws them from the torch RNG (the run's seeded generators,
saved in checkpoints, so a resumed run draws the same views).

Transforms work on pixels (stored value / pixel_scale: [0, 1] for 8-bit images) and ``Augment`` converts from and
back to the normalised images tasks receive.

- ``random_resized_crop``: one batched bilinear resample (an affine grid per image) of the boxes
  ``crop_boxes`` draws (torchvision's algorithm: area share in ``scale``, aspect ratio log-uniform in ``ratio``,
  ten tries, then the largest centred box).
- flips, 90-degree rotations (overhead imagery has no "up").
- RGB: colour jitter (brightness, contrast, saturation, hue as a rotation in YIQ space), random grayscale
  (ITU-R 601 luma). Other band counts (multispectral): no hue or saturation, which are undefined there, but
  brightness and contrast per band and a grayscale of the band mean (torchgeo's SSL trainers do the same).
- Gaussian blur with a per-image sigma (a separable kernel of about a tenth of the image side), solarization
  (RGB in [0, 1] only).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, replace

import torch
import torch.nn.functional as F

from pretext.rotation import rotate90

LUMA = (0.299, 0.587, 0.114)


# ------------------------------------------------------------------------------------------ the transforms


def crop_boxes(
    n: int,
    height: int,
    width: int,
    scale: tuple[float, float],
    ratio: tuple[float, float],
    device: torch.device | None = None,
    tries: int = 10,
    draws: Draws | None = None,
) -> torch.Tensor:
    """(n, 4) boxes (left, top, box width, box height) in pixels, as torchvision's RandomResizedCrop draws them."""
    draws = draws or Draws(n, device or torch.device("cpu"))
    area = height * width
    target = area * draws.uniform(scale[0], scale[1], tries)
    log_ratio = draws.uniform(math.log(ratio[0]), math.log(ratio[1]), tries)
    aspect = torch.exp(log_ratio)
    w = torch.sqrt(target * aspect).round()
    h = torch.sqrt(target / aspect).round()
    ok = (w > 0) & (h > 0) & (w <= width) & (h <= height)
    first = torch.where(ok.any(1), ok.float().argmax(1), torch.zeros_like(ok[:, 0], dtype=torch.long))
    w, h = w.gather(1, first[:, None])[:, 0], h.gather(1, first[:, None])[:, 0]
    # no try fits: the whole image, cut to the nearest allowed aspect ratio, centred
    fallback = ~ok.any(1)
    in_ratio = width / height
    if in_ratio < ratio[0]:
        fw, fh = width, round(width / ratio[0])
    elif in_ratio > ratio[1]:
        fw, fh = round(height * ratio[1]), height
    else:
        fw, fh = width, height
    w = torch.where(fallback, torch.full_like(w, float(fw)), w)
    h = torch.where(fallback, torch.full_like(h, float(fh)), h)
    left = torch.floor(draws.rand() * (width - w + 1))
    top = torch.floor(draws.rand() * (height - h + 1))
    left = torch.where(fallback, ((width - w) / 2).floor(), left)
    top = torch.where(fallback, ((height - h) / 2).floor(), top)
    return torch.stack([left, top, w, h], dim=1)


def resized_crop(
    images: torch.Tensor,
    boxes: torch.Tensor,
    size: int,
    hflip: torch.Tensor | None = None,
    vflip: torch.Tensor | None = None,
) -> torch.Tensor:
    """Each image's box (left, top, width, height in pixels) resampled to ``size`` x ``size`` (bilinear), flipped
    left-right / up-down where ``hflip`` / ``vflip`` (B,) are True (folded into the resampling: no extra pass)."""
    n, _, height, width = images.shape
    left, top, w, h = boxes.to(images.dtype).unbind(1)
    # output pixel centres in [-1, 1] mapped to input coordinates: scaled by the box's share (negated for a flip)
    # and shifted to its centre; no rotation, so the grid is separable and built without a matrix product
    sx = w / width * (1 - 2 * hflip.to(images.dtype) if hflip is not None else 1)
    sy = h / height * (1 - 2 * vflip.to(images.dtype) if vflip is not None else 1)
    cx, cy = (2 * left + w) / width - 1, (2 * top + h) / height - 1
    base = (torch.arange(size, dtype=images.dtype, device=images.device) * 2 + 1) / size - 1
    gx = (sx[:, None] * base + cx[:, None])[:, None, :].expand(n, size, size)
    gy = (sy[:, None] * base + cy[:, None])[:, :, None].expand(n, size, size)
    grid = torch.stack([gx, gy], dim=-1)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)


def flip(images: torch.Tensor, mask: torch.Tensor, dim: int) -> torch.Tensor:
    """Images (B, C, H, W) flipped along ``dim`` (-1: left-right, -2: up-down) where ``mask`` (B,) is True."""
    return torch.where(mask.view(-1, 1, 1, 1), images.flip(dim), images)


def rotate_each(images: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Square images rotated by ``k`` (B,) x 90 degrees counter-clockwise, each by its own k."""
    out = images
    for turn in (1, 2, 3):
        out = torch.where((k == turn).view(-1, 1, 1, 1), rotate90(images, turn), out)
    return out


def luma(pixels: torch.Tensor) -> torch.Tensor:
    """(B, 1, H, W) grayscale of RGB pixels (ITU-R 601)."""
    w = torch.tensor(LUMA, dtype=pixels.dtype, device=pixels.device).view(1, 3, 1, 1)
    return (pixels * w).sum(1, keepdim=True)


def adjust_rgb(
    pixels: torch.Tensor,
    brightness: torch.Tensor,
    contrast: torch.Tensor,
    saturation: torch.Tensor,
    hue: torch.Tensor,
    gray: torch.Tensor | None = None,
) -> torch.Tensor:
    """RGB pixels in [0, 1] with per-image factors (B,): brightness (a factor), contrast (a blend with the mean
    gray), saturation (a blend with the grayscale), hue (a shift in turns: a rotation of YIQ's chroma plane), in
    that order. All four are linear, so they are applied as one colour matrix and offset per image and clamped
    to [0, 1] once (torchvision clamps after each; the two differ only where an intermediate value leaves
    [0, 1]). ``gray`` (B,): those images then become grayscale (luma), folded into the same matrix."""
    b, c, s = (v.to(pixels.dtype).view(-1, 1, 1) for v in (brightness, contrast, saturation))
    eye = torch.eye(3, dtype=pixels.dtype, device=pixels.device)
    weights = torch.tensor(LUMA, dtype=pixels.dtype, device=pixels.device).expand(3, 3)  # each row: luma weights
    matrix = hue_matrix(hue.to(pixels.dtype)) @ (s * eye + (1 - s) * weights)  # (B, 3, 3)
    if gray is not None:
        matrix = torch.where(gray.view(-1, 1, 1), weights @ matrix, matrix)
    mean = luma(pixels).mean(dim=(2, 3)).view(-1, 1, 1)  # (B, 1, 1): the mean gray before any change
    offset = matrix @ ((1 - c) * b * mean).expand(-1, 3, 1)  # (B, 3, 1)
    out = torch.baddbmm(offset, c * b * matrix, pixels.flatten(2))
    return out.view_as(pixels).clamp_(0, 1)


YIQ = ((0.299, 0.587, 0.114), (0.596, -0.274, -0.322), (0.211, -0.523, 0.312))


def hue_matrix(turns: torch.Tensor) -> torch.Tensor:
    """(B, 3, 3) RGB matrices shifting hue by ``turns`` of a full turn: to YIQ, rotate (I, Q), back."""
    to_yiq = torch.tensor(YIQ, dtype=turns.dtype, device=turns.device)
    to_rgb = torch.linalg.inv(to_yiq)
    angle = 2 * math.pi * turns
    cos, sin = torch.cos(angle), torch.sin(angle)
    rot = torch.zeros(len(turns), 3, 3, dtype=turns.dtype, device=turns.device)
    rot[:, 0, 0] = 1
    rot[:, 1, 1], rot[:, 1, 2], rot[:, 2, 1], rot[:, 2, 2] = cos, -sin, sin, cos
    return to_rgb @ rot @ to_yiq


def rotate_hue(pixels: torch.Tensor, turns: torch.Tensor) -> torch.Tensor:
    """Hue shifted by ``turns`` (B,) of a full turn (no clamp)."""
    return torch.bmm(hue_matrix(turns.to(pixels.dtype)), pixels.flatten(2)).view_as(pixels)


def adjust_bands(pixels: torch.Tensor, brightness: torch.Tensor, contrast: torch.Tensor) -> torch.Tensor:
    """Any band count: per image and band factors (B, C): brightness scales each band, contrast blends it with
    the band's mean over the image. Values are only kept >= 0 (a raster's pixel range is not [0, 1])."""
    view = (*brightness.shape, 1, 1)
    x = pixels * brightness.view(view)
    mean = x.mean(dim=(2, 3), keepdim=True)
    return (contrast.view(view) * x + (1 - contrast.view(view)) * mean).clamp_min(0)


def grayscale(pixels: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Where ``mask`` (B,) is True, every channel becomes the gray: RGB's luma, other band counts' band mean."""
    gray = luma(pixels) if pixels.shape[1] == 3 else pixels.mean(1, keepdim=True)
    return torch.where(mask.view(-1, 1, 1, 1), gray.expand_as(pixels), pixels)


def gaussian_blur(pixels: torch.Tensor, sigma: torch.Tensor, kernel: int) -> torch.Tensor:
    """Each image blurred with its own ``sigma`` (B,; 0: unchanged) by a separable ``kernel``-tap Gaussian
    (reflected edges)."""
    b, c, h, w = pixels.shape
    radius = kernel // 2
    taps = torch.arange(-radius, radius + 1, dtype=pixels.dtype, device=pixels.device)
    weights = torch.exp(-(taps[None] ** 2) / (2 * sigma.clamp_min(1e-6)[:, None].to(pixels.dtype) ** 2))
    weights = weights / weights.sum(1, keepdim=True)
    identity = (taps == 0).to(pixels.dtype).expand(b, -1)
    weights = torch.where((sigma > 0)[:, None], weights, identity)
    per_channel = weights.repeat_interleave(c, dim=0)  # (B*C, K)
    x = F.pad(pixels.reshape(1, b * c, h, w), (radius, radius, radius, radius), mode="reflect")
    x = F.conv2d(x, per_channel.view(b * c, 1, 1, kernel), groups=b * c)
    x = F.conv2d(x, per_channel.view(b * c, 1, kernel, 1), groups=b * c)
    return x.view(b, c, h, w)


def solarize(pixels: torch.Tensor, mask: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    """Where ``mask`` (B,) is True, pixels at or above ``threshold`` become 1 - pixel."""
    solarized = torch.where(pixels >= threshold, 1 - pixels, pixels)
    return torch.where(mask.view(-1, 1, 1, 1), solarized, pixels)


# ------------------------------------------------------------------------------------------ drawing views


class Draws:
    """Random parameters for rows [offset, offset + n) of a batch of ``total`` rows: drawn for the whole batch
    from ``generator`` (None: the global torch RNG) and cut, so that every rank of a distributed run draws its
    rows' parameters exactly as one process with the whole batch would."""

    def __init__(
        self, n: int, device: torch.device, generator: torch.Generator | None = None, offset: int = 0, total: int = 0
    ) -> None:
        self.n, self.device, self.generator = n, device, generator
        self.offset, self.total = offset, max(total, offset + n)

    def rand(self, *shape: int) -> torch.Tensor:
        full = torch.rand(self.total, *shape, generator=self.generator, device=self.device)
        return full[self.offset : self.offset + self.n]

    def uniform(self, low: float, high: float, *shape: int) -> torch.Tensor:
        return low + (high - low) * self.rand(*shape)

    def randint(self, high: int) -> torch.Tensor:
        full = torch.randint(0, high, (self.total,), generator=self.generator, device=self.device)
        return full[self.offset : self.offset + self.n]


@dataclass(frozen=True)
class Views:
    """A learner's view settings (the ``task.views.*`` keys): crop scale, flips and turns, colour, blur. The crop
    size is the data's image size; ``blur`` None means keyed on it: 0.5 above 64 px, none up to 64 px (the
    CIFAR recipes leave blur out at 32 px). Defaults are SimCLR's (Chen et al. 2020)."""

    scale_min: float = 0.08
    hflip: float = 0.5
    vflip: float = 0.0
    rot90: float = 0.0
    jitter: float = 0.8
    brightness: float = 0.8
    contrast: float = 0.8
    saturation: float = 0.8
    hue: float = 0.2
    grayscale: float = 0.2
    blur: float | None = None
    solarize: float = 0.0

    def spec(self, size: int, **changes: object) -> ViewSpec:
        """The ViewSpec of one view of ``size`` px (``changes`` override fields, e.g. an asymmetric second view)."""
        blur = self.blur if self.blur is not None else (0.5 if size > 64 else 0.0)
        same = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("scale_min", "hue", "blur")}
        spec = ViewSpec(size=size, scale=(self.scale_min, 1.0), hue=min(self.hue, 0.5), blur=blur, **same)
        return replace(spec, **changes)

    def check(self) -> None:
        shares = {k: getattr(self, k) for k in ("hflip", "vflip", "rot90", "jitter", "grayscale", "solarize")}
        bad = [k for k, v in shares.items() if not 0 <= v <= 1] + ([] if 0 < self.scale_min <= 1 else ["scale_min"])
        if self.blur is not None and not 0 <= self.blur <= 1:
            bad.append("blur")
        if bad:
            raise ValueError(
                f"views.{bad[0]} must be a share in [0, 1] (scale_min in (0, 1]), got {getattr(self, bad[0])}"
            )


@dataclass(frozen=True)
class ViewSpec:
    """How one kind of view is drawn; probabilities per image. Learners build theirs with ``Views.spec`` (whose
    defaults are SimCLR's); these defaults are a milder jitter for specs written by hand."""

    size: int
    scale: tuple[float, float] = (0.08, 1.0)
    ratio: tuple[float, float] = (3 / 4, 4 / 3)
    hflip: float = 0.5
    vflip: float = 0.0
    rot90: float = 0.0  # share of images turned by a random multiple of 90 degrees
    jitter: float = 0.8
    brightness: float = 0.4
    contrast: float = 0.4
    saturation: float = 0.2
    hue: float = 0.1
    grayscale: float = 0.2
    blur: float = 0.0
    blur_sigma: tuple[float, float] = (0.1, 2.0)
    solarize: float = 0.0
    extra: dict = field(default_factory=dict)


def draw_view(pixels: torch.Tensor, spec: ViewSpec, rgb: bool, draws: Draws | None = None) -> torch.Tensor:
    """One view of every image of the batch of ``pixels`` (B, C, H, W), each with its own random parameters
    (from ``draws``; default the global RNG)."""
    n, c, h, w = pixels.shape
    d = draws or Draws(n, pixels.device)
    boxes = crop_boxes(n, h, w, spec.scale, spec.ratio, pixels.device, draws=d)
    x = resized_crop(pixels, boxes, spec.size, d.rand() < spec.hflip, d.rand() < spec.vflip)
    if spec.rot90 > 0:
        turns = d.randint(4) * (d.rand() < spec.rot90)
        x = rotate_each(x, turns)
    apply = d.rand() < spec.jitter

    def neutral(v: torch.Tensor, same: float) -> torch.Tensor:
        return torch.where(apply.view(-1, *[1] * (v.dim() - 1)), v, torch.full_like(v, same))

    if rgb:  # images left unjittered get neutral factors: the one colour matrix is then the identity
        b = neutral(d.uniform(1 - spec.brightness, 1 + spec.brightness), 1.0)
        ct = neutral(d.uniform(1 - spec.contrast, 1 + spec.contrast), 1.0)
        s = neutral(d.uniform(1 - spec.saturation, 1 + spec.saturation), 1.0)
        hue = neutral(d.uniform(-spec.hue, spec.hue), 0.0)
        x = adjust_rgb(x, b, ct, s, hue, d.rand() < spec.grayscale)  # colour and grayscale: one matrix per image
    else:
        b = d.uniform(1 - spec.brightness, 1 + spec.brightness, c)
        ct = d.uniform(1 - spec.contrast, 1 + spec.contrast, c)
        x = torch.where(apply.view(-1, 1, 1, 1), adjust_bands(x, b, ct), x)
        x = grayscale(x, d.rand() < spec.grayscale)
    if spec.blur > 0:
        sigma = d.uniform(*spec.blur_sigma) * (d.rand() < spec.blur)
        x = gaussian_blur(x, sigma, blur_kernel(spec.size))
    if spec.solarize > 0 and rgb:
        x = solarize(x, d.rand() < spec.solarize)
    return x


def blur_kernel(size: int) -> int:
    """An odd kernel of about a tenth of the image side (SimCLR's), at least 3 taps."""
    k = max(3, int(round(size / 10)))
    return k if k % 2 else k + 1


def step_seed(context) -> int:
    """The seed of a step's view parameters, from (run seed, global step): a resumed run draws the same views."""
    return (int(context.seed) * 1_000_003 + int(context.global_step)) % 2**63


class Augment:
    """Views of a batch of normalised images: pixels = images x std + mean, each view drawn by ``draw_view``, then
    normalised again. ``rgb``: 3-band RGB colour transforms, else the band-aware ones."""

    def __init__(self, rgb: bool) -> None:
        self.rgb = rgb

    def __call__(
        self,
        images: torch.Tensor,
        meta: dict[str, torch.Tensor],
        specs: list[ViewSpec],
        seed: int | None = None,
        rows: tuple[int, int] = (0, 0),
        second: torch.Tensor | None = None,
    ) -> list[torch.Tensor]:
        """The views of ``specs``; ``seed``: their parameters from a generator of that seed (else the global RNG),
        drawn for rows [rows[0], rows[0] + B) of a global batch of rows[1] (0: this batch). ``second``: normalised
        images, row for row, that the second view is drawn from instead (temporal positives)."""
        mean, std = meta["pixel_mean"].to(images), meta["pixel_std"].to(images)
        pixels = images.float() * std + mean
        second_pixels = second.float() * std + mean if second is not None else pixels
        generator = None
        if seed is not None:
            generator = torch.Generator(device=images.device)
            generator.manual_seed(seed)
        views = []
        for j, spec in enumerate(specs):
            draws = Draws(len(images), images.device, generator, rows[0], rows[1])
            source = second_pixels if j == 1 else pixels
            views.append(((draw_view(source, spec, self.rgb, draws) - mean) / std).to(images.dtype))
        return views
