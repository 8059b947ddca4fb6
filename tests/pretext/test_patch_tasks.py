"""Context, jigsaw and damaged jigsaw: inputs checked against independent, per-sample references."""

import pytest
import torch

from pretext.context import OFFSETS, ContextPrediction
from pretext.damaged_jigsaw import DamagedJigsaw
from pretext.jigsaw import Jigsaw
from pretext.patches import cut_windows, normalize_tiles, random_grid_tiles
from ssl_toolkit.backbones import create_backbone


def coordinate_images(b: int, side: int) -> torch.Tensor:
    """Channel 0 = row index, channel 1 = column index, channel 2 = image index: every pixel knows its place."""
    rows = torch.arange(side).view(1, side, 1).expand(b, side, side)
    cols = torch.arange(side).view(1, 1, side).expand(b, side, side)
    idx = torch.arange(b).view(b, 1, 1).expand(b, side, side)
    return torch.stack([rows, cols, idx], dim=1).float()


def test_cut_windows_matches_slicing() -> None:
    x = torch.randn(3, 2, 12, 12)
    top, left = torch.randint(0, 8, (3, 4)), torch.randint(0, 8, (3, 4))
    w = cut_windows(x, top, left, 5)
    for b in range(3):
        for k in range(4):
            t, s = int(top[b, k]), int(left[b, k])
            assert torch.equal(w[b, k], x[b, :, t : t + 5, s : s + 5])


def test_grid_tiles_sit_inside_their_cells() -> None:
    side = 64
    x = coordinate_images(8, side)
    tiles, t = random_grid_tiles(x, 3, 0.85)
    cell = side // 3
    assert t == round(cell * 0.85)
    slack = side - 3 * cell
    for b in range(8):
        for i in range(9):
            r, c = divmod(i, 3)
            tile = tiles[b, i]
            top, left = int(tile[0, 0, 0]), int(tile[1, 0, 0])
            assert torch.equal(tile, x[b, :, top : top + t, left : left + t])  # a contiguous window
            assert r * cell <= top - 0 and top + t <= (r + 1) * cell + slack
            assert c * cell <= left and left + t <= (c + 1) * cell + slack
            assert int(tile[2, 0, 0]) == b


def test_undoing_the_label_permutation_restores_the_tiles() -> None:
    torch.manual_seed(0)
    task = Jigsaw(create_backbone("mnist_net", 3, 64), num_permutations=30)
    x = coordinate_images(16, 64)
    torch.manual_seed(1)
    tiles, _ = random_grid_tiles(x, 3, 0.85)
    torch.manual_seed(1)
    original, shuffled, labels = task.puzzle(x, with_original=True)
    assert torch.equal(original, tiles)
    for b in range(16):
        perm = task.permutations[labels[b]].tolist()
        restored = [None] * 9
        for pos, src in enumerate(perm):
            restored[src] = shuffled[b, pos]
        assert all(torch.equal(restored[i], original[b, i]) for i in range(9))
    inputs, _ = task.build_inputs(x, {})
    assert torch.allclose(inputs, normalize_tiles(shuffled))
    assert inputs.mean(dim=(-2, -1)).abs().max() < 1e-4


def test_every_neighbour_label_maps_to_its_offset() -> None:
    torch.manual_seed(0)
    side = 64
    task = ContextPrediction(create_backbone("mnist_net", 3, 64))
    patch, gap, jitter = task.geometry(side)
    patches, labels = task.build_inputs(coordinate_images(400, side), {})
    assert set(labels.tolist()) == set(range(8))
    for pair, label in zip(patches, labels.tolist()):
        (cy, cx), (ny, nx) = [(int(p[0, 0, 0]), int(p[1, 0, 0])) for p in pair]
        dy, dx = OFFSETS[label]
        step = patch + gap
        # positions differ by one step in the labelled direction, up to the two patches' jitter
        assert abs((ny - cy) - dy * step) <= 2 * jitter and abs((nx - cx) - dx * step) <= 2 * jitter
        if dy == 0:
            assert abs(ny - cy) <= 2 * jitter
        else:
            assert (ny - cy) * dy >= patch  # no overlap with the centre across the gap


@pytest.mark.parametrize(
    ("task_cls", "side", "message"),
    [
        (Jigsaw, 5, "5x5 px are too small for a 3x3 grid"),
        (ContextPrediction, 5, "5x5 px are too small for context patches"),
    ],
)
def test_too_small_images_name_the_sizes(task_cls, side: int, message: str) -> None:
    kwargs = {"num_permutations": 10} if task_cls is Jigsaw else {}
    task = task_cls(create_backbone("mnist_net", 1, 28), **kwargs)
    with pytest.raises(ValueError, match=message):
        task.build_inputs(torch.randn(2, 1, side, side), {})


def test_colour_drop_keeps_one_channel() -> None:
    torch.manual_seed(0)
    task = ContextPrediction(create_backbone("mnist_net", 3, 64), color_drop=True)
    x = torch.randn(32, 3, 64, 64) * 5
    patches, _ = task.build_inputs(x, {})
    big = patches.abs().flatten(3).amax(-1) > 0.5  # (B, 2, C): channels that are not faint noise
    assert (big.sum(-1) == 1).all()


def test_damaged_jigsaw_inputs_and_losses() -> None:
    torch.manual_seed(0)
    task = DamagedJigsaw(create_backbone("mnist_net", 3, 64), num_permutations=30)
    x = torch.rand(4, 3, 64, 64)
    meta = {"pixel_mean": torch.zeros(1, 3, 1, 1), "pixel_std": torch.ones(1, 3, 1, 1)}
    out = task.build_inputs(x, meta)
    tiles = out["tiles"]
    for b in range(4):
        assert (tiles[b, out["missing"][b]] == 0).all()
        present = [i for i in range(9) if i != out["missing"][b]]
        assert all(torch.allclose(tiles[b, i, 0], tiles[b, i, 1], atol=1e-4) for i in present)  # gray
    assert out["color_target"].shape == (4, 9, 2, 4, 4) and out["inpaint_target"].shape == (4, 3, 8, 8)
    result = task(x, meta)
    assert {"jigsaw_loss", "inpaint_loss", "color_loss"} <= result.keys()


def test_damaged_jigsaw_on_one_channel_turns_colorization_off(capsys) -> None:
    task = DamagedJigsaw(create_backbone("mnist_net", 1, 28), num_permutations=10)
    assert "colorization is switched off" in capsys.readouterr().err
    out = task(torch.randn(3, 1, 28, 28), {})
    assert "color_loss" not in out and torch.isfinite(out["loss"])


def test_a_permutation_curriculum_grows_the_puzzles_from_the_first_permutations_to_all() -> None:
    """task.curriculum=0.5, curriculum_start=10 of 100: 10 at the start, 55 a quarter in, all from half way; all
    outside training; puzzles are drawn from the active ones only."""
    from types import SimpleNamespace

    task = Jigsaw(create_backbone("mnist_net", 1, 28), num_permutations=100, curriculum=0.5, curriculum_start=10)
    task.train()
    images = torch.rand(512, 1, 28, 28)
    for done, active in ((0.0, 10), (0.25, 55), (0.5, 100), (0.9, 100)):
        task.attach(SimpleNamespace(fraction_done=done))
        assert task.active_permutations() == active
        _, _, labels = task.puzzle(images)
        assert int(labels.max()) < active and (active == 100 or int(labels.max()) >= active // 2)
    task.eval()
    task.attach(SimpleNamespace(fraction_done=0.0))
    assert task.active_permutations() == 100
    assert Jigsaw(create_backbone("mnist_net", 1, 28), num_permutations=100).train().active_permutations() == 100
    with pytest.raises(ValueError, match="curriculum must be in"):
        Jigsaw(create_backbone("mnist_net", 1, 28), num_permutations=100, curriculum=2.0)


def test_aligned_context_steps_are_multiples_of_align_with_the_gap_shrinking_first() -> None:
    """task.align=16 on 64 px: 16 px patches with a 4 px gap (a 20 px step) become a 16 px step without the gap,
    so every patch of an image starts at the same phase of a 16 px grid; without jitter exactly."""
    backbone = create_backbone("mnist_net", 3, 64)
    assert ContextPrediction(backbone, align=16).geometry(64) == (16, 0, 2)
    assert ContextPrediction(backbone, patch_fraction=0.3, gap_fraction=0, align=16).geometry(64) == (16, 0, 2)
    assert ContextPrediction(backbone, align=1).geometry(64) == (16, 4, 2)  # off: as before
    task = ContextPrediction(backbone, gap_fraction=0, jitter_fraction=0, align=16)
    torch.manual_seed(0)
    patches, labels = task.build_inputs(coordinate_images(200, 64), {})
    assert set(labels.tolist()) == set(range(8))
    for pair, label in zip(patches, labels.tolist()):
        (cy, cx), (ny, nx) = [(int(p[0, 0, 0]), int(p[1, 0, 0])) for p in pair]
        assert (ny - cy, nx - cx) == (16 * OFFSETS[label][0], 16 * OFFSETS[label][1])
    with pytest.raises(ValueError, match="smaller than task.align=32"):
        ContextPrediction(create_backbone("mnist_net", 1, 28), align=32).geometry(28)


def test_aligned_jigsaw_cells_put_every_tile_at_one_phase_of_the_grid() -> None:
    """task.align=16 on 64 px: cells of 16 px (not 21), the 48 px grid placed anywhere in the image; gapless
    tiles of one image all start at the same position modulo 16, wherever the grid landed."""
    torch.manual_seed(0)
    task = Jigsaw(create_backbone("mnist_net", 3, 64), num_permutations=10, tile_fraction=1.0, align=16)
    _, shuffled, _ = task.puzzle(coordinate_images(64, 64))
    assert shuffled.shape[-1] == 16
    tops, lefts = shuffled[:, :, 0, 0, 0].long(), shuffled[:, :, 1, 0, 0].long()
    assert ((tops - tops[:, :1]) % 16 == 0).all() and ((lefts - lefts[:, :1]) % 16 == 0).all()
    assert len(set(tops[:, 0].tolist())) > 4  # and the grid itself lands anywhere in the 64 px
    with pytest.raises(ValueError, match="cells of 9 px"):
        Jigsaw(create_backbone("mnist_net", 1, 28), num_permutations=10, align=16).puzzle(torch.rand(2, 1, 28, 28))
