"""``DataOptions``: how a dataset is opened and split, the ``data.*`` config keys as one typed record."""

from __future__ import annotations

from dataclasses import dataclass

from ssl_toolkit.config import record, setting


@dataclass(frozen=True)
class DataOptions:
    """How to open and split a dataset: the ``data.*`` config keys, less the name and the loader's workers.
    Defaults are the schema's (``config.SCHEMA``)."""

    subset: int | None = setting("data.subset")
    image_size: int | None = setting("data.image_size")
    test_fraction: float = setting("data.test_fraction")
    split: str = setting("data.split")
    holdout: str = setting("data.holdout")
    regions: int = setting("data.regions")
    bands: list[int] | None = setting("data.bands")
    tile_size: int | None = setting("data.tile_size")
    tile_stride: int | None = setting("data.tile_stride")
    stats_tiles: int = setting("data.stats_tiles")
    max_tiles: int | None = setting("data.max_tiles")
    min_valid_fraction: float = setting("data.min_valid_fraction")
    on_bad_file: str = setting("data.on_bad_file")
    overview: int = setting("data.overview")
    assets: list[str] | None = setting("data.assets")
    label_property: str | None = setting("data.label_property")

    @classmethod
    def from_config(cls, data_cfg: dict) -> DataOptions:
        """From a resolved ``data`` section."""
        return record(cls, {"data": data_cfg})
