"""pix2pix and CycleGAN: the PatchGAN's score map against the paper's sizes, the U-Net on the shared backbone,
each translation's inputs and targets by hand, the cycle loss against its formula, and real runs through the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from pretext import factory
from pretext.cyclegan import CycleGAN, cycle_loss
from pretext.patchgan import PatchGAN, downsamplings_for, patchgan_output_size, receptive_field
from pretext.pix2pix import LUMINANCE, Pix2Pix
from pretext.unet import UNet
from ssl_toolkit.backbones import create_backbone
from ssl_toolkit.data import DataSource, TensorImages
from tests.data import geotiffs
from tests.tiny import TINY_RUN, geotagged_mnist_like

GREY = {"pixel_mean": torch.tensor(0.5).view(1, 1, 1, 1), "pixel_std": torch.tensor(0.25).view(1, 1, 1, 1)}


def colour_data(n: int = 12, chans: int = 3, size: int = 16) -> DataSource:
    g = torch.Generator().manual_seed(0)
    split = TensorImages(
        torch.randint(0, 256, (n, chans, size, size), dtype=torch.uint8, generator=g), torch.arange(n) % 2
    )
    return DataSource("colour", split, split, (0.5,) * chans, (0.25,) * chans, chans, size, 2, ("a", "b"))


def colour_meta(chans: int = 3) -> dict[str, torch.Tensor]:
    return {"pixel_mean": torch.full((1, chans, 1, 1), 0.5), "pixel_std": torch.full((1, chans, 1, 1), 0.25)}


def test_the_patchgan_gives_the_papers_30x30_map_of_70px_patches_at_256px() -> None:
    assert receptive_field(3) == 70 and receptive_field(2) == 34
    assert patchgan_output_size(256, 3) == 30
    assert PatchGAN(6, 3)(torch.zeros(1, 6, 256, 256)).shape == (1, 1, 30, 30)
    for size in (28, 64):  # keyed on the image size: 2 downsamplings below 128 px
        downs = downsamplings_for(size)
        assert downs == 2
        assert PatchGAN(2, downs)(torch.zeros(2, 2, size, size)).shape[-1] == patchgan_output_size(size, downs)
    assert patchgan_output_size(28, 2) == 5 and downsamplings_for(128) == 3


def test_the_unet_on_the_shared_backbone_gives_pixels_and_trains_the_pooled_features() -> None:
    backbone = create_backbone("mnist_net", 1, None, 28)
    unet = UNet(backbone, 1, 28, 2)
    out = unet(torch.randn(3, 1, 28, 28))
    assert out.shape == (3, 2, 28, 28) and 0 <= out.min() and out.max() <= 1
    out.mean().backward()
    assert backbone.fc1.weight.grad is not None and backbone.fc1.weight.grad.abs().sum() > 0  # the probed layer


def test_without_skips_the_decoder_draws_from_the_pooled_features_alone() -> None:
    backbone = create_backbone("mnist_net", 1, None, 28)
    unet = UNet(backbone, 1, 28, 1, dropout_blocks=0, skips=False).eval()
    maps, features = backbone.forward_pyramid(torch.randn(2, 1, 28, 28))
    other = [torch.randn_like(m) for m in maps]  # every map and the input changed, the pooled features kept
    with torch.no_grad():
        first = unet.decoder(maps, features, torch.randn(2, 1, 28, 28))
        second = unet.decoder(other, features, torch.randn(2, 1, 28, 28))
        assert torch.equal(first, second)
        with_skips = UNet(backbone, 1, 28, 1, dropout_blocks=0).eval()
        assert not torch.equal(with_skips.decoder(maps, features, first), with_skips.decoder(other, features, first))


def test_colorize_feeds_the_luminance_in_every_channel_and_targets_the_colour() -> None:
    task = Pix2Pix(create_backbone("mnist_net", 3, None, 16))
    task.fit_data(colour_data())
    meta = colour_meta()
    pix = torch.rand(2, 3, 16, 16)
    source, target = task.pair((pix - 0.5) / 0.25, meta)
    grey = sum(w * pix[:, i] for i, w in enumerate(LUMINANCE))
    assert task.kind == "colorize" and torch.allclose(target, pix, atol=1e-6)
    for c in range(3):
        assert torch.allclose(source[:, c] * 0.25 + 0.5, grey, atol=1e-6)


def test_bands_keep_the_source_bands_and_target_the_others() -> None:
    task = Pix2Pix(create_backbone("mnist_net", 4, None, 16), translation="bands", source_bands="0,1", target_bands="3")
    task.fit_data(colour_data(chans=4))
    images = torch.randn(2, 4, 16, 16)
    source, target = task.pair(images, colour_meta(4))
    assert torch.equal(source[:, :2], images[:, :2]) and source[:, 2:].abs().sum() == 0  # others at their mean
    assert torch.allclose(target, images[:, 3:] * 0.25 + 0.5)
    with pytest.raises(ValueError, match="task.target_bands must name bands 0 to 3"):
        Pix2Pix(
            create_backbone("mnist_net", 4, None, 16), translation="bands", source_bands="0", target_bands="7"
        ).fit_data(colour_data(chans=4))


def test_grey_data_translates_to_its_transpose_and_colorize_refuses_it() -> None:
    task = Pix2Pix(create_backbone("mnist_net", 1, None, 28))
    task.fit_data(geotagged_mnist_like(20))
    images = torch.randn(2, 1, 28, 28)
    source, target = task.pair(images, GREY)
    assert task.kind == "transpose" and torch.equal(source, images)
    assert torch.allclose(target, (images * 0.25 + 0.5).transpose(-1, -2))
    with pytest.raises(ValueError, match="translation=colorize needs colour images"):
        Pix2Pix(create_backbone("mnist_net", 1, None, 28), translation="colorize").fit_data(geotagged_mnist_like(20))


def test_the_cycle_loss_matches_its_formula_on_known_translators() -> None:
    meta = GREY
    g_ = torch.Generator().manual_seed(0)
    a, b = torch.randn(2, 1, 4, 4, generator=g_), torch.randn(3, 1, 4, 4, generator=g_)
    g = lambda x: (x * 0.25 + 0.5) * 0.5  # noqa: E731  (normalised in, pixels out: halves the pixels)
    f = lambda x: (x * 0.25 + 0.5).clamp(0, 1)  # noqa: E731  (the identity on pixels, clipped to [0, 1])
    pa, pb = a * 0.25 + 0.5, b * 0.25 + 0.5
    # F(G(a)) = clip(a / 2), G(F(b)) = clip(b) / 2, in pixels
    expected = ((0.5 * pa).clamp(0, 1) - pa).abs().mean() + (0.5 * pb.clamp(0, 1) - pb).abs().mean()
    assert cycle_loss(a, b, g, f, meta).item() == pytest.approx(expected.item(), rel=1e-6)
    assert cycle_loss(a, b, g, f, meta, to_b=g(a), to_a=f(b)).item() == pytest.approx(expected.item(), rel=1e-6)


def test_cyclegan_domains_split_a_batch_unpaired() -> None:
    backbone = create_backbone("mnist_net", 1, None, 28)
    task = CycleGAN(backbone)
    task.fit_data(geotagged_mnist_like(20))
    images = torch.randn(6, 1, 28, 28)
    a, b = task.split(images, {})
    assert torch.equal(a, images[:3]) and torch.equal(b, images[3:].transpose(-1, -2))
    assert task.g_ab.encoder is backbone and task.g_ba.encoder is not backbone  # F has weights of its own
    by_class = CycleGAN(create_backbone("mnist_net", 1, None, 28), domains="classes", classes_a="0,1")
    by_class.fit_data(geotagged_mnist_like(20))
    labels = torch.tensor([0, 5, 1, 9, 2, 0])
    a, b = by_class.split(images, {"label": labels})
    assert torch.equal(a, images[[0, 2, 5]]) and torch.equal(b, images[[1, 3, 4]])
    with pytest.raises(ValueError, match="some but not all classes"):
        CycleGAN(backbone, domains="classes", classes_a="0,1,2,3,4,5,6,7,8,9").fit_data(geotagged_mnist_like(20))


def test_cyclegan_regions_split_at_the_training_tiles_median_latitude_or_longitude() -> None:
    data = geotagged_mnist_like(21)
    for axis, column in (("lat", 0), ("lon", 1)):
        task = CycleGAN(create_backbone("mnist_net", 1, None, 28), domains="regions", region_axis=axis)
        task.fit_data(data)
        values = sorted(data.train.coords[:, column].float().tolist())
        assert task.boundary.item() == values[10]  # the middle one of 21, a buffer saved with the weights
        assert "boundary" in task.state_dict()
        meta = {axis: torch.tensor([values[10], values[0], values[20], values[9]])}
        images = torch.randn(4, 1, 28, 28)
        a, b = task.split(images, meta)
        assert torch.equal(a, images[[0, 2]]) and torch.equal(b, images[[1, 3]])  # at or past the median: A
    assert factory.needs_coords("cyclegan", {"name": "cyclegan", "domains": "regions"})
    assert not factory.needs_coords("cyclegan", {"name": "cyclegan", "domains": "classes"})
    both = {"name": "rotation+geolocation", "rotation": {}, "geolocation": {}}
    assert factory.needs_coords("rotation+geolocation", both)
    data.train.coords[3] = float("nan")
    with pytest.raises(ValueError, match="lat/lon for every training tile"):
        CycleGAN(create_backbone("mnist_net", 1, None, 28), domains="regions").fit_data(data)


def test_cyclegan_between_two_regions_of_real_geotiffs_pretrains_and_draws(ssl, tmp_path: Path) -> None:
    chips = geotiffs.two_class_chips(tmp_path / "chips", 12)  # latitudes 48.00 to 48.11, one UTM zone
    args = ["--task", "cyclegan", "--data", chips, "--out", tmp_path / "run", "--max-steps", 2, "--batch-size", 8]
    code, _, err = ssl("pretrain", *args, "task.domains=regions", "train.online_probe=false")
    assert code == 0, err
    assert (tmp_path / "run" / "plots" / "cyclegan" / "translations.png").stat().st_size > 0
    code, _, err = ssl("pretrain", "--task", "cyclegan", "--out", tmp_path / "mnist", "task.domains=regions")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "no coordinates" in err, err
    assert not (tmp_path / "mnist").exists()


@pytest.mark.parametrize("task", ["pix2pix", "cyclegan"])
def test_an_image_to_image_learner_pretrains_draws_and_probes(ssl, tmp_path: Path, task: str) -> None:
    run = tmp_path / task
    code, _, err = ssl("pretrain", "--task", task, "--out", run, "--max-steps", 2, *TINY_RUN, "train.epochs=1")
    assert code == 0, err
    assert (run / "plots" / task / "translations.png").stat().st_size > 0
    code, out, err = ssl("probe", "--run", run, "--protocol", "knn", "data.subset=200")
    assert code == 0 and "knn probe accuracy" in out, err


def test_the_local_discriminator_sees_exactly_the_filled_patch() -> None:
    from pretext.completion import Completion, box_mask, crop

    torch.manual_seed(0)
    task = Completion(create_backbone("mnist_net", 1, None, 28))
    task.fit_data(geotagged_mnist_like(20))
    assert task.side == 10  # 0.375 x 28 px, rounded
    seen: list[torch.Tensor] = []
    task.local_trunk.register_forward_hook(lambda module, args, out: seen.append(args[0]))
    images = torch.randn(3, 1, 28, 28)
    boxes = torch.tensor([[0, 0], [18, 5], [7, 18]])
    _, completed, filled = task.complete(images, GREY, boxes)
    task.discriminate(completed, boxes)
    for i, (r, c) in enumerate(boxes.tolist()):
        patch = completed[i, :, r : r + 10, c : c + 10]
        assert torch.equal(seen[0][i], patch)  # the local trunk's input: the square at the hole
        assert torch.allclose(patch, (filled[i, :, r : r + 10, c : c + 10] - 0.5) / 0.25)  # all of it filled
    outside = ~box_mask(boxes, 28, 10)
    assert torch.equal(completed[outside], images[outside])  # the rest is the original
    assert torch.equal(crop(images, boxes, 10)[1], images[1, :, 18:28, 5:15])


@pytest.mark.parametrize("role", ["encoder", "discriminator"])
def test_completion_trains_the_shared_backbone_in_either_role(ssl, tmp_path: Path, role: str) -> None:
    from pretext.completion import Completion
    from ssl_toolkit.engine.optim import build_optimizer
    from ssl_toolkit.engine.step import StepContext

    backbone = create_backbone("mnist_net", 1, None, 28)
    task = Completion(backbone, backbone_role=role)
    task.fit_data(geotagged_mnist_like(20))
    assert (task.completer.encoder is backbone) == (role == "encoder")
    assert (task.global_trunk is backbone) == (role == "discriminator")
    optimizers = {g: build_optimizer("adam", p, 1e-3, 0.0, 0.5) for g, p in task.optimizer_groups().items()}
    before = [p.detach().clone() for p in backbone.parameters()]
    out = task.training_step(torch.randn(6, 1, 28, 28), GREY, StepContext(task, optimizers, torch.device("cpu")))
    assert all(torch.isfinite(v) for v in out.values())
    assert any(not torch.equal(a, b) for a, b in zip(before, backbone.parameters(), strict=True))
    run = tmp_path / role  # and through the CLI, with its pictures
    code, _, err = ssl(
        "pretrain", "--task", "completion", "--out", run, "--max-steps", 2, *TINY_RUN, f"task.backbone_role={role}"
    )
    assert code == 0, err
    assert (run / "plots" / "completion" / "completions.png").stat().st_size > 0
