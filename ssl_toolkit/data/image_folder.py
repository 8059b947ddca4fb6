"""Folders of ordinary images (PNG, JPEG, ...), read as RGB uint8.

Two layouts: ``ROOT/<class>/<image>`` (torchvision ``ImageFolder``; ``ROOT/train`` and ``ROOT/test`` subfolders,
when both exist, are the splits), or a lat/lon table (``path,lat,lon[,label]``, see ``geotags``) that lists the
images with their coordinates and optional labels: ``ROOT/locations.csv`` beside them, or any CSV given as the
data path. Images are decoded when a
batch needs them; every file is decoded once when the folder is opened, so an unreadable image is found
before training (see ``bad_files``).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torchvision import transforms

from ssl_toolkit.data.bad_files import BadFiles
from ssl_toolkit.data.files import is_regular, walk_files
from ssl_toolkit.data.geotags import TABLE_NAME, Geotag, read_table
from ssl_toolkit.data.revisits import coordinate_places, place_ids
from ssl_toolkit.data.splits import Catalog, LazyImages, Split, remap_indices
from ssl_toolkit.errors import UserError

# what torchvision's ImageFolder reads
IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")


class ImageFileReader:
    """Reads image ``j`` as uint8 (C, H, W) RGB, resized and centre-cropped to ``image_size`` when set."""

    def __init__(self, paths: list[str], image_size: int | None) -> None:
        self.paths = paths
        steps: list = [transforms.Resize(image_size), transforms.CenterCrop(image_size)] if image_size else []
        self.transform = transforms.Compose([*steps, transforms.PILToTensor()])

    def __call__(self, j: int) -> torch.Tensor:
        try:
            with Image.open(self.paths[j]) as im:
                return self.transform(im.convert("RGB"))
        except (OSError, ValueError, Image.DecompressionBombError) as e:
            raise UserError(f"{self.paths[j]}: cannot read image ({e})") from None


def _image_size(path: str) -> tuple[int, int] | str:
    """The decoded image's (width, height), or why it cannot be decoded (a full decode: truncated files fail;
    an image that declares more pixels than PIL's decompression-bomb limit is refused before decoding)."""
    if not is_regular(path):
        return "is not a regular file"
    try:
        with Image.open(path) as im:
            im.load()
            return im.size
    except Image.DecompressionBombError:
        return f"declares more than {2 * Image.MAX_IMAGE_PIXELS:,} pixels (a decompression bomb?); not decoded"
    except (OSError, ValueError, SyntaxError) as e:
        return f"cannot read image ({str(e).splitlines()[0] if str(e) else type(e).__name__})"


def _check_images(paths: list[str], bad: BadFiles) -> tuple[list[int], set[tuple[int, int]]]:
    """Indices of the images that decode, and the sizes seen; every image is decoded once, in threads, so a
    broken file is found now and never in the middle of an epoch."""
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        results = list(pool.map(_image_size, paths))
    good, sizes = [], set()
    for i, (p, result) in enumerate(zip(paths, results, strict=True)):
        if isinstance(result, str):
            bad.report(p, result)
            continue
        good.append(i)
        sizes.add(result)
    return good, sizes


def _class_folder_samples(root: Path) -> tuple[list[tuple[str, int]], list[str]]:
    """(path, class index) of every image of ``ROOT/<class>/...`` and the sorted class names. Each image once
    by its resolved path (a link that shows it again, or a folder link in a loop, adds nothing)."""
    try:
        classes = sorted(e.name for e in os.scandir(root) if e.is_dir() and not e.name.startswith("."))
    except OSError as e:
        raise UserError(f"{root}: cannot list the folder ({e.strerror or e})") from None
    samples, seen = [], set()
    for index, name in enumerate(classes):
        for path in walk_files(root / name):
            real = os.path.realpath(path)
            if path.suffix.lower() in IMG_EXTENSIONS and real not in seen:
                seen.add(real)
                samples.append((str(path), index))
    if not samples:
        raise UserError(
            f"{root}: not an image folder of the form ROOT/<class>/<image> (no images with "
            f"{', '.join(IMG_EXTENSIONS[:4])}, ... under a class folder)"
        )
    return samples, classes


def image_folder_catalog(root: Path, image_size: int | None, bad: BadFiles) -> Catalog:
    """``root`` a folder (class folders, or a ``locations.csv`` inside) or a lat/lon table file itself."""
    predefined = None
    coords = times = places = None
    table = root if root.is_file() else root / TABLE_NAME
    if table.is_file():
        tags = read_table(table, bad)
        classes = sorted({t.label for t in tags if t.label is not None})
        paths = [str(t.path) for t in tags]
        labels = [classes.index(t.label) if t.label is not None else -1 for t in tags]
        coords = [(t.lat, t.lon) for t in tags]
        times, places = table_revisits(tags)
    elif (root / "train").is_dir() and (root / "test").is_dir():
        train, classes = _class_folder_samples(root / "train")
        test, test_classes = _class_folder_samples(root / "test")
        if test_classes != classes:
            raise UserError(f"{root}: train/ and test/ hold different class folders ({classes} vs {test_classes})")
        in_train = {os.path.realpath(p): p for p, _ in train}
        shared = [(in_train[os.path.realpath(p)], p) for p, _ in test if os.path.realpath(p) in in_train]
        if shared:
            raise UserError(
                f"{root}: {len(shared)} image(s) are in both train/ and test/ (e.g. {shared[0][0]} is {shared[0][1]}); "
                "each image on one side only"
            )
        paths = [p for p, _ in train + test]
        labels = [y for _, y in train + test]
        predefined = np.arange(len(train)), np.arange(len(train), len(paths))
    else:
        samples, classes = _class_folder_samples(root)
        paths, labels = [p for p, _ in samples], [y for _, y in samples]
    good, sizes = _check_images(paths, bad)
    if not good:
        raise UserError(f"{root}: no readable images")
    if image_size is None and len(sizes) > 1:
        shown = ", ".join(f"{w}x{h}" for w, h in sorted(sizes)[:3])
        raise UserError(f"{root}: images differ in size ({shown}, ...); set data.image_size to resize them")
    if predefined is not None:
        predefined = remap_indices(predefined, good)
    keep_idx = torch.tensor(good)
    samples = LazyImages(
        ImageFileReader([paths[i] for i in good], image_size),
        torch.arange(len(good)),
        torch.tensor(labels)[keep_idx],
        torch.tensor(coords, dtype=torch.float64)[keep_idx] if coords is not None else None,
        [paths[i] for i in good],
        times[keep_idx] if times is not None else None,
        places[keep_idx] if places is not None else None,
    )
    first = samples[0]
    return Catalog(
        name=str(root),
        samples=samples,
        class_names=tuple(classes),
        in_chans=first.shape[0],
        img_size=first.shape[-1],
        stats=_sampled_channel_stats,
        predefined=predefined,
    )


def table_revisits(tags: list[Geotag]) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """(times, places) of a table's rows when it has a ``time`` column (places: its ``place`` column, else the
    same coordinates), else (None, None)."""
    times = torch.tensor([t.time for t in tags], dtype=torch.float64)
    if not torch.isfinite(times).any():
        return None, None
    if any(t.place is not None for t in tags):
        return times, place_ids([t.place for t in tags])
    return times, coordinate_places(torch.tensor([(t.lat, t.lon) for t in tags], dtype=torch.float64))


def _sampled_channel_stats(split: Split, n: int = 512) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and sample std in [0, 1] of a seeded sample of ``n`` images."""
    g = torch.Generator().manual_seed(0)
    idx = torch.randperm(len(split), generator=g)[:n].tolist()
    x = torch.stack([split[i] for i in idx]).float() / 255  # type: ignore[index]
    return tuple(x.mean(dim=(0, 2, 3)).tolist()), tuple(x.std(dim=(0, 2, 3)).clamp_min(1e-6).tolist())
