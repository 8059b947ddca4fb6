"""Batched augmentation: every transform of a batch equals the same transform applied to each image alone with
that image's parameters; neutral parameters change nothing; views differ per image and follow the seed."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from pretext import augment as A


@pytest.fixture
def pixels() -> torch.Tensor:
    return torch.rand(5, 3, 16, 16, generator=torch.Generator().manual_seed(0))


def each(fn, images: torch.Tensor, *params: torch.Tensor) -> torch.Tensor:
    """``fn`` applied to image i alone with row i of every parameter."""
    return torch.cat([fn(images[i : i + 1], *(p[i : i + 1] for p in params)) for i in range(len(images))])


def test_crop_boxes_lie_inside_with_their_area_and_ratio() -> None:
    torch.manual_seed(0)
    boxes = A.crop_boxes(500, 32, 48, (0.2, 0.6), (3 / 4, 4 / 3))
    left, top, w, h = boxes.unbind(1)
    assert (left >= 0).all() and (top >= 0).all() and (left + w <= 48).all() and (top + h <= 32).all()
    share = w * h / (32 * 48)
    assert share.min() > 0.15 and share.max() < 0.65 and (w / h).min() > 0.7 and (w / h).max() < 1.4
    assert len({tuple(b) for b in boxes.tolist()}) > 400  # a box per image


def test_resized_crop_per_image_and_the_whole_box_is_the_image(pixels) -> None:
    torch.manual_seed(1)
    boxes = A.crop_boxes(5, 16, 16, (0.1, 1.0), (3 / 4, 4 / 3))
    batched = A.resized_crop(pixels, boxes, 12)
    assert torch.allclose(batched, each(lambda x, b: A.resized_crop(x, b, 12), pixels, boxes), atol=1e-6)
    whole = torch.tensor([[0.0, 0.0, 16.0, 16.0]]).expand(5, 4)
    assert torch.allclose(A.resized_crop(pixels, whole, 16), pixels, atol=1e-5)
    # an interior window of the crop matches plain bilinear resizing of the cut-out box (borders differ: the
    # resample reads the pixels beyond the box where torch's interpolate clamps to it)
    box = torch.tensor([[2.0, 4.0, 8.0, 8.0]]).expand(5, 4)
    reference = F.interpolate(pixels[:, :, 4:12, 2:10], size=16, mode="bilinear", align_corners=False)
    assert torch.allclose(A.resized_crop(pixels, box, 16)[..., 2:-2, 2:-2], reference[..., 2:-2, 2:-2], atol=1e-5)


def test_flips_and_turns_per_image(pixels) -> None:
    mask = torch.tensor([True, False, True, False, True])
    assert torch.equal(A.flip(pixels, mask, -1), each(lambda x, m: A.flip(x, m, -1), pixels, mask))
    assert torch.equal(A.flip(pixels, mask, -1)[1], pixels[1]) and torch.equal(
        A.flip(pixels, mask, -1)[0], pixels[0].flip(-1)
    )
    k = torch.tensor([0, 1, 2, 3, 1])
    turned = A.rotate_each(pixels, k)
    assert torch.equal(turned, each(A.rotate_each, pixels, k))
    assert torch.equal(turned[1], torch.rot90(pixels[1], 1, dims=(-2, -1)))  # counter-clockwise


def test_colour_changes_per_image_and_neutral_ones_change_nothing(pixels) -> None:
    b, c, s, h = (
        torch.tensor(v) for v in ([0.6, 1, 1.4, 1, 0.9], [1, 0.5, 1, 1.3, 1], [1, 1, 0, 1.5, 1], [0, 0.1, 0, -0.2, 0.5])
    )
    batched = A.adjust_rgb(pixels, b, c, s, h)
    assert torch.allclose(batched, each(A.adjust_rgb, pixels, b, c, s, h), atol=1e-6)
    ones, zeros = torch.ones(5), torch.zeros(5)
    assert torch.allclose(A.adjust_rgb(pixels, ones, ones, ones, zeros), pixels, atol=1e-5)
    assert torch.allclose(A.rotate_hue(pixels, ones), pixels, atol=1e-5)  # a full turn
    gray = pixels.mean(1, keepdim=True).expand(-1, 3, -1, -1)
    assert torch.allclose(A.rotate_hue(gray, torch.full((5,), 0.3)), gray, atol=1e-5)  # gray has no hue
    assert torch.allclose(A.adjust_rgb(pixels, ones, ones, zeros, zeros), A.luma(pixels).expand_as(pixels), atol=1e-6)


def test_band_aware_transforms_for_other_band_counts() -> None:
    x = torch.rand(4, 5, 8, 8, generator=torch.Generator().manual_seed(3)) * 0.2
    b = torch.rand(4, 5) + 0.5
    c = torch.rand(4, 5) + 0.5
    assert torch.allclose(A.adjust_bands(x, b, c), each(A.adjust_bands, x, b, c), atol=1e-6)
    gray = A.grayscale(x, torch.tensor([True, False, True, False]))
    assert torch.allclose(gray[0], x[0].mean(0, keepdim=True).expand(5, -1, -1)) and torch.equal(gray[1], x[1])


def test_blur_and_solarize_per_image(pixels) -> None:
    sigma = torch.tensor([0.0, 0.5, 1.0, 2.0, 0.0])
    blurred = A.gaussian_blur(pixels, sigma, 5)
    assert torch.allclose(blurred, each(lambda x, s: A.gaussian_blur(x, s, 5), pixels, sigma), atol=1e-6)
    assert torch.allclose(blurred[0], pixels[0], atol=1e-6)  # sigma 0: unchanged
    constant = torch.full((5, 3, 16, 16), 0.3)
    assert torch.allclose(A.gaussian_blur(constant, torch.full((5,), 1.5), 5), constant, atol=1e-6)
    mask = torch.tensor([True, False, True, True, False])
    out = A.solarize(pixels, mask)
    assert torch.equal(out[1], pixels[1]) and torch.allclose(
        out[0], torch.where(pixels[0] >= 0.5, 1 - pixels[0], pixels[0])
    )


def test_views_differ_per_image_and_follow_the_seed() -> None:
    images = torch.rand(1, 3, 16, 16).expand(6, -1, -1, -1).contiguous()  # six copies of one image
    meta = {"pixel_mean": torch.full((1, 3, 1, 1), 0.5), "pixel_std": torch.full((1, 3, 1, 1), 0.25)}
    spec = A.Views(blur=0.5, solarize=0.2, rot90=0.5, vflip=0.5).spec(16)
    torch.manual_seed(5)
    (first,) = A.Augment(rgb=True)(images, meta, [spec])
    assert len({tuple(v.flatten()[:20].tolist()) for v in first}) == 6
    torch.manual_seed(5)
    (again,) = A.Augment(rgb=True)(images, meta, [spec])
    assert torch.equal(first, again)


def test_a_rank_draws_its_rows_of_the_global_batch() -> None:
    """Views drawn for rows 2..4 of a batch of 5 (one rank's shard) equal those rows of the whole batch's views:
    N processes draw the views one process would."""
    images = torch.rand(5, 3, 16, 16, generator=torch.Generator().manual_seed(7))
    meta = {"pixel_mean": torch.full((1, 3, 1, 1), 0.5), "pixel_std": torch.full((1, 3, 1, 1), 0.25)}
    specs = [A.Views(blur=0.5).spec(12), A.Views().spec(16)]
    whole = A.Augment(rgb=True)(images, meta, specs, seed=11)
    part = A.Augment(rgb=True)(images[2:], meta, specs, seed=11, rows=(2, 5))
    assert all(torch.allclose(w[2:], p, atol=1e-6) for w, p in zip(whole, part))


def test_temporal_positives_draw_the_second_view_from_the_partner_with_the_same_parameters() -> None:
    """``second``: view 2 is drawn from the partner images with exactly the parameters it would have had on the
    images themselves; view 1 is unchanged."""
    g = torch.Generator().manual_seed(3)
    images, partners = torch.rand(4, 3, 16, 16, generator=g), torch.rand(4, 3, 16, 16, generator=g)
    meta = {"pixel_mean": torch.full((1, 3, 1, 1), 0.5), "pixel_std": torch.full((1, 3, 1, 1), 0.25)}
    specs = [A.Views(blur=0.5).spec(16), A.Views(solarize=0.2).spec(16)]
    paired = A.Augment(rgb=True)(images, meta, specs, seed=9, second=partners)
    alone = A.Augment(rgb=True)(images, meta, specs, seed=9)
    as_first = A.Augment(rgb=True)(partners, meta, specs, seed=9)
    assert torch.equal(paired[0], alone[0]) and torch.equal(paired[1], as_first[1])
    assert not torch.allclose(paired[1], alone[1])


def test_a_flip_folded_into_the_crop_is_the_crop_flipped(pixels) -> None:
    torch.manual_seed(2)
    boxes = A.crop_boxes(5, 16, 16, (0.2, 1.0), (3 / 4, 4 / 3))
    h = torch.tensor([True, False, True, False, True])
    v = torch.tensor([False, True, True, False, False])
    folded = A.resized_crop(pixels, boxes, 12, h, v)
    plain = A.flip(A.flip(A.resized_crop(pixels, boxes, 12), h, -1), v, -2)
    assert torch.allclose(folded, plain, atol=1e-5)
