"""Datasets by name or path, split into train and test, with normalisation statistics.

Names: ``mnist`` (built in), ``eurosat-rgb``, ``eurosat-ms``; paths: a GeoTIFF folder (any ``*.tif`` inside), a
folder with a lat/lon table ``locations.csv``, a lat/lon table ``*.csv`` itself, a folder of images
``ROOT/<class>/<image>``, or a STAC file (``*.json``: Catalog, Collection, ItemCollection) whose assets are
GeoTIFFs or COGs, local or over HTTP / object storage.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ssl_toolkit.data.bad_files import BadFiles
from ssl_toolkit.data.loader import Normalizer, batches_per_epoch, epoch_order, iterate, sequential_order
from ssl_toolkit.data.options import DataOptions
from ssl_toolkit.data.splits import Catalog, DataSource, LazyImages, Split, TensorImages, remap_indices
from ssl_toolkit.data.splitting import SPLIT_SEED, geographic_split, group_split, random_split
from ssl_toolkit.errors import UserError

BUILTIN = ("mnist", "eurosat-rgb", "eurosat-ms")
BUILTIN_SIZES = {"mnist": 28, "eurosat-rgb": 64, "eurosat-ms": 64}  # image side in px
SPLITS = ("random", "geographic")
VALIDATION_FRACTION = 0.2  # of the training split, with data.holdout=validation

__all__ = [
    "DataOptions",
    "DataSource",
    "LazyImages",
    "Normalizer",
    "Split",
    "TensorImages",
    "batches_per_epoch",
    "epoch_order",
    "iterate",
    "load_data",
    "sequential_order",
]


RASTER_KEYS = ("bands", "tile_size", "tile_stride", "stats_tiles", "max_tiles", "min_valid_fraction", "overview")
STAC_KEYS = ("assets", "label_property")


def open_catalog(name: str, options: DataOptions, bad: BadFiles, need_coords: bool) -> Catalog:
    """The dataset ``name`` before its split. Keys that apply to GeoTIFFs alone, set on other data, are refused
    (they would be recorded in the run's config as if they had done something); ``data.image_size`` resizes
    any image data (GeoTIFF tiles are cut to size with ``data.tile_size`` instead)."""
    from ssl_toolkit.data.stac import is_stac_file

    stac = is_stac_file(name)
    raster = stac or _is_raster(name)
    for key in RASTER_KEYS:
        value = getattr(options, key)
        if not raster and value != getattr(DataOptions(), key):
            raise UserError(
                f"data.{key}={value} applies to GeoTIFF data (eurosat-ms, a folder of .tif files, a STAC file); "
                f"data '{name}' is not GeoTIFFs"
            )
    for key in STAC_KEYS:
        value = getattr(options, key)
        if not stac and value is not None:
            raise UserError(f"data.{key}={value} applies to STAC data (a catalog .json); data '{name}' is not STAC")
    if raster and options.image_size is not None:
        raise UserError(
            f"data.image_size={options.image_size} applies to images (mnist, eurosat-rgb, image folders); "
            f"GeoTIFF data '{name}' is cut into tiles with data.tile_size instead"
        )
    if stac:
        from ssl_toolkit.data.stac_catalog import stac_catalog

        return stac_catalog(name, bad, options, need_coords)
    catalog = _open_catalog(name, options, bad, need_coords)
    if options.image_size is not None and isinstance(catalog.samples, TensorImages):
        catalog = resized(catalog, options.image_size)
    return catalog


def peek_image_size(name: str) -> int | None:
    """The side in px (the larger one) of the first image or GeoTIFF of dataset ``name``, read from its header,
    or None when there is none to read."""
    from PIL import Image

    from ssl_toolkit.data.files import is_regular, walk_files
    from ssl_toolkit.data.geotags import read_table
    from ssl_toolkit.data.image_folder import IMG_EXTENSIONS
    from ssl_toolkit.data.raster import SUFFIXES

    path = Path(name).expanduser()
    try:
        if path.is_file() and path.suffix.lower() == ".csv":
            candidates = [t.path for t in read_table(path, BadFiles("skip"))[:1]]
        elif path.is_dir():
            candidates = [p for p in walk_files(path) if p.suffix.lower() in (*IMG_EXTENSIONS, *SUFFIXES)][:50]
        else:
            return None
        for candidate in candidates:
            if not is_regular(candidate):
                continue
            if candidate.suffix.lower() in SUFFIXES:
                import rasterio

                with rasterio.open(candidate) as src:
                    return max(src.width, src.height)
            with Image.open(candidate) as im:
                return max(im.size)
    except Exception:  # a peek: whatever goes wrong here is found again, and reported, when the data opens
        return None
    return None


def _is_raster(name: str) -> bool:
    if name == "eurosat-ms":
        return True
    from ssl_toolkit.data.raster import find_geotiffs

    path = Path(name).expanduser()
    return name not in BUILTIN and path.is_dir() and bool(find_geotiffs(path))


def resized(catalog: Catalog, size: int) -> Catalog:
    """An in-memory catalog with every image resized to ``size`` x ``size`` (bilinear, antialiased), once."""
    from dataclasses import replace

    import torch.nn.functional as F

    samples = catalog.samples
    images = samples.images
    if images.shape[-1] == size and images.shape[-2] == size:
        return catalog
    parts = []
    for chunk in images.split(1024):
        x = F.interpolate(chunk.float(), size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        parts.append(x.round().clamp(0, 255).to(images.dtype) if not images.dtype.is_floating_point else x)
    resized_samples = TensorImages(
        torch.cat(parts), samples.labels, samples.coords, samples.paths, samples.times, samples.places
    )
    return replace(catalog, samples=resized_samples, img_size=size)


def _open_catalog(name: str, options: DataOptions, bad: BadFiles, need_coords: bool) -> Catalog:
    if name == "mnist":
        from ssl_toolkit.data.mnist import mnist_catalog

        return mnist_catalog()
    if name == "eurosat-rgb":
        from ssl_toolkit.data.eurosat import eurosat_rgb_catalog

        return eurosat_rgb_catalog(bad)
    if name == "eurosat-ms":
        from ssl_toolkit.data.eurosat import find_root
        from ssl_toolkit.data.geotiff_folder import geotiff_catalog

        return geotiff_catalog(find_root("eurosat_ms"), bad, options, need_coords, name="eurosat-ms")
    path = Path(name).expanduser()
    if not path.exists():
        raise UserError(f"data '{name}': not a built-in dataset ({', '.join(BUILTIN)}) and no such path")
    if not path.is_dir():
        if path.suffix.lower() != ".csv":
            raise UserError(
                f"data '{name}': expected a folder (GeoTIFFs, or images ROOT/<class>/<image>), a lat/lon table "
                "(.csv with path,lat,lon[,label]) or a STAC catalog (.json), got another kind of file"
            )
        from ssl_toolkit.data.image_folder import image_folder_catalog

        return image_folder_catalog(path, options.image_size, bad)
    from ssl_toolkit.data.raster import find_geotiffs

    if find_geotiffs(path):
        from ssl_toolkit.data.geotiff_folder import geotiff_catalog

        return geotiff_catalog(path, bad, options, need_coords)
    from ssl_toolkit.data.image_folder import image_folder_catalog

    return image_folder_catalog(path, options.image_size, bad)


def _with_coords(name: str, samples: Split, bad: BadFiles) -> np.ndarray:
    """Indices of the samples that have coordinates; the others are bad files."""
    if samples.coords is None:
        raise UserError(
            f"data '{name}' has no coordinates; geolocation and the geographic split need geotagged tiles "
            "(GeoTIFFs with a CRS, or a locations.csv table with path,lat,lon)"
        )
    has = ~torch.isnan(samples.coords).any(dim=1)
    for i in torch.nonzero(~has).flatten().tolist():
        bad.report(samples.path(i), "has no coordinates (no CRS, or no row in the lat/lon table)")
    return torch.nonzero(has).flatten().numpy()


def revisited_places(samples: Split) -> torch.Tensor | None:
    """Group ids by place when some place was taken at two or more times (unplaced samples are groups of their
    own), else None."""
    if samples.places is None or samples.times is None:
        return None
    places = samples.places.clone()
    dated = places[(places >= 0) & torch.isfinite(samples.times)]
    if len(dated) == len(torch.unique(dated)):
        return None
    unknown = places < 0
    places[unknown] = int(places.max()) + 1 + torch.arange(int(unknown.sum()))
    return places


def load_data(
    name: str,
    options: DataOptions | None = None,
    *,
    need_coords: bool = False,
    stats: tuple[tuple[float, ...], tuple[float, ...]] | None = None,
) -> DataSource:
    """Open ``name``, split it (``options.split``) and compute the training split's normalisation statistics
    (or use ``stats``, e.g. a run's). ``need_coords``: samples without coordinates are bad files."""
    options = options or DataOptions()
    if options.split not in SPLITS:
        raise UserError(f"data.split: expected one of {', '.join(SPLITS)}, got {options.split!r}")
    if not 0 < options.test_fraction < 1:
        raise UserError(f"data.test_fraction must be in (0, 1), got {options.test_fraction}")
    bad = BadFiles(options.on_bad_file)
    geographic = options.split == "geographic"
    split_note = ""
    catalog = open_catalog(name, options, bad, need_coords or geographic)
    samples, groups = catalog.samples, catalog.groups
    if need_coords or geographic:
        keep = _with_coords(name, samples, bad)
        if len(keep) < len(samples):
            samples = samples.select(keep)
            groups = None if groups is None else groups[keep]
            catalog.predefined = None if catalog.predefined is None else remap_indices(catalog.predefined, keep)
    if geographic:
        if options.regions < 2:
            raise UserError(f"data.regions must be at least 2 for a geographic split, got {options.regions}")
        try:
            train_idx, test_idx, region = geographic_split(
                samples.coords, options.test_fraction, options.regions, groups=groups
            )
        except ValueError as e:
            raise UserError(
                f"data '{name}': cannot make a geographic split ({e}); with few distinct locations lower "
                f"data.regions (now {options.regions})"
            ) from None
        held = len(np.unique(region.numpy()[test_idx]))
        split_note = (
            f"geographic split: {held} of {options.regions} regions held out, {len(test_idx):,} test tiles "
            f"({len(test_idx) / len(samples):.1%}, data.test_fraction {options.test_fraction:g})"
        )
    elif catalog.predefined is not None:
        train_idx, test_idx = (np.asarray(part) for part in catalog.predefined)
    elif groups is not None and options.tile_stride is not None and options.tile_stride < (options.tile_size or 0):
        # overlapping windows share pixels: a random split of windows would put the same pixels on both sides
        try:
            train_idx, test_idx = group_split(groups, options.test_fraction)
        except ValueError as e:
            raise UserError(
                f"data '{name}': data.tile_stride={options.tile_stride} < data.tile_size={options.tile_size} makes "
                f"overlapping windows, so the random split goes by scene, and there are too few ({e}); use "
                "data.tile_stride >= data.tile_size or more scenes"
            ) from None
    elif (places := revisited_places(samples)) is not None:
        # several acquisitions of one place: a random split of samples would show the test places in training
        try:
            train_idx, test_idx = group_split(places, options.test_fraction)
        except ValueError as e:
            raise UserError(f"data '{name}': the random split goes by place, and there are too few ({e})") from None
        split_note = (
            f"random split by place: {len(samples):,} samples of {len(np.unique(places)):,} places, the acquisitions "
            "of each place on one side"
        )
    else:
        try:
            train_idx, test_idx = random_split(samples.labels, options.test_fraction)
        except ValueError as e:
            raise UserError(f"data '{name}': cannot split {len(samples)} samples into train and test ({e})") from None
    if len(train_idx) == 0 or len(test_idx) == 0:
        raise UserError(
            f"data '{name}': {len(train_idx)} training and {len(test_idx)} test samples; both splits need some"
        )
    if options.holdout == "validation":  # recipes are chosen on a part of train; the test split stays unseen
        try:
            fit, held = random_split(samples.labels[torch.as_tensor(train_idx)], VALIDATION_FRACTION, SPLIT_SEED + 1)
        except ValueError as e:
            raise UserError(
                f"data '{name}': cannot carve a validation split from {len(train_idx)} samples ({e})"
            ) from None
        train_idx, test_idx = np.asarray(train_idx)[fit], np.asarray(train_idx)[held]
    train, test = samples.select(train_idx), samples.select(test_idx)
    full_train, full_test = train, test
    if options.subset is not None:
        if options.subset <= 0:
            raise UserError(f"data.subset must be positive, got {options.subset}")
        train, test = train.sample(options.subset, SPLIT_SEED), test.sample(options.subset, SPLIT_SEED)
    mean, std = stats if stats is not None else catalog.stats(train)
    if len(mean) != catalog.in_chans or len(std) != catalog.in_chans:
        raise UserError(f"normalisation statistics have {len(mean)} channels, data '{name}' has {catalog.in_chans}")
    if catalog.use_stats is not None:
        catalog.use_stats(mean, std)
    labelled = int((samples.labels >= 0).sum())
    return DataSource(
        name=catalog.name,
        train=train,
        test=test,
        mean=tuple(mean),
        std=tuple(std),
        in_chans=catalog.in_chans,
        img_size=catalog.img_size,
        num_classes=len(catalog.class_names) if labelled else 0,
        class_names=catalog.class_names,
        pixel_scale=catalog.pixel_scale,
        split=options.split,
        skipped=bad.skipped,
        stats_note=catalog.stats_note,
        empty_windows=catalog.empty_windows,
        full_train=full_train,
        full_test=full_test,
        split_note=split_note,
        band_names=catalog.band_names,
    )
