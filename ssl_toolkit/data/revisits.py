"""Several acquisitions of one place: when each sample was taken, which samples show the same place, and, for
every sample, another acquisition of its place (GASSL's temporal positives, Ayush et al. 2021).

A sample's time is in days since 1970-01-01 UTC (NaN when unknown): from a lat/lon table's ``time`` column, or
from a GeoTIFF's date tag (``TIFFTAG_DATETIME``, ``ACQUISITIONDATETIME``, ``DATETIME``, ``datetime``), else a date
in its file name (``2021-06-30``, ``20210630``). A place is a table's ``place`` column, else the same coordinates
(to 1e-6 degrees); for GeoTIFF windows, the same CRS and window bounds (to a tenth of a pixel), which is how
acquisitions on one grid (Sentinel-2's tiles, say) line up.

``Revisits`` gives each sample's partner for an epoch as a pure function of (seed, epoch, sample), so a resumed
run and N processes draw the partners one process would; a sample whose place was taken only once is its own
partner (its two views are then two crops of one image, as without temporal positives).
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timezone

import numpy as np
import torch

DATE_TAGS = ("TIFFTAG_DATETIME", "ACQUISITIONDATETIME", "DATETIME", "datetime", "DATE_ACQUIRED")
_DATE_IN_NAME = re.compile(r"(?<!\d)((?:19|20)\d\d)-?(0[1-9]|1[0-2])-?(0[1-9]|[12]\d|3[01])(?!\d)")


def parse_time(text: str) -> float:
    """Days since 1970-01-01 UTC of an ISO date or date-time (``2021-06-30``, ``2021-06-30T10:20:00Z``), the TIFF
    form ``2021:06:30 10:20:00``, or ``20210630``; a ValueError names the text otherwise."""
    value = text.strip()
    tiff = re.fullmatch(r"(\d{4}):(\d\d):(\d\d)(.*)", value)
    if tiff:
        value = f"{tiff[1]}-{tiff[2]}-{tiff[3]}{tiff[4]}"
    if re.fullmatch(r"\d{8}", value):
        value = f"{value[:4]}-{value[4:6]}-{value[6:]}"
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"time {text!r} is not a date (expected e.g. 2021-06-30 or 2021-06-30T10:20:00Z)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp() / 86_400


def date_in_name(name: str) -> float:
    """The last date written in a file name (``S2A_20210630_...``, ``scene_2021-06-30.tif``), or NaN."""
    found = list(_DATE_IN_NAME.finditer(name))
    if not found:
        return math.nan
    year, month, day = (int(g) for g in found[-1].groups())
    try:
        return datetime(year, month, day, tzinfo=timezone.utc).timestamp() / 86_400
    except ValueError:
        return math.nan


def geotiff_time(tags: dict[str, str], name: str) -> float:
    """A GeoTIFF's acquisition time from its tags (``DATE_TAGS``, first that parses), else from its file name."""
    for key in DATE_TAGS:
        if tags.get(key):
            try:
                return parse_time(tags[key])
            except ValueError:
                continue
    return date_in_name(name)


def place_ids(keys: list[object]) -> torch.Tensor:
    """(N,) int64: equal keys get the same id, numbered in order of first appearance; None keys get -1."""
    ids: dict[object, int] = {}
    return torch.tensor([-1 if k is None else ids.setdefault(k, len(ids)) for k in keys], dtype=torch.long)


def coordinate_places(coords: torch.Tensor) -> torch.Tensor:
    """Places from repeated coordinates (lat/lon rounded to 1e-6 degrees; NaN: no place), numbered in order of
    first appearance as ``place_ids`` numbers them."""
    rounded = np.round(coords.numpy() * 1e6)
    located = ~np.isnan(rounded).any(axis=1)
    ids = np.full(len(rounded), -1, dtype=np.int64)
    if located.any():
        _, first, inverse = np.unique(rounded[located], axis=0, return_index=True, return_inverse=True)
        rank = np.empty(len(first), dtype=np.int64)
        rank[np.argsort(first)] = np.arange(len(first))
        ids[located] = rank[inverse.reshape(-1)]
    return torch.from_numpy(ids)


def _mix(x: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser: well-spread 64-bit hashes of 64-bit integers."""
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


class Revisits:
    """For every sample of a split, the other samples of its place taken at another time.

    ``places`` (N,) int64 (-1: unknown), ``times`` (N,) float64 days (NaN: unknown). The dated samples are held
    sorted by (place, time): a sample's candidates are its place's run of positions less its own date's run, so
    nothing is listed per sample. ``pairs`` counts the samples that have at least one other acquisition.
    """

    def __init__(self, places: torch.Tensor, times: torch.Tensor) -> None:
        places, times = places.numpy(), times.numpy()
        known = np.flatnonzero((places >= 0) & np.isfinite(times))
        self.order = known[np.lexsort((known, times[known], places[known]))]  # by place, then time, then sample
        p, t, m = places[self.order], times[self.order], len(self.order)
        new_place = np.r_[True, p[1:] != p[:-1]] if m else np.empty(0, dtype=bool)
        new_date = new_place | np.r_[True, t[1:] != t[:-1]] if m else new_place
        self.place_start, self.place_size = _runs(new_place)
        self.date_start, self.date_size = _runs(new_date)
        self.position = np.full(len(places), -1, dtype=np.int64)
        self.position[self.order] = np.arange(m)
        self.counts = np.zeros(len(places), dtype=np.int64)
        self.counts[self.order] = self.place_size - self.date_size
        self.pairs = int((self.counts > 0).sum())
        self.places = int(new_place.sum())

    def __len__(self) -> int:
        return len(self.counts)

    @property
    def note(self) -> str:
        alone = "" if self.pairs == len(self) else "; the others pair two crops of themselves"
        return (
            f"temporal positives: {self.pairs:,} of {len(self):,} training samples have another acquisition of "
            f"their place ({self.places:,} dated places){alone}"
        )

    def partners(self, idx: torch.Tensor, seed: int, epoch: int) -> torch.Tensor:
        """For each sample in ``idx``, one other acquisition of its place (itself when there is none), drawn
        from (seed, epoch, sample) alone."""
        i = idx.numpy().astype(np.int64)
        if not self.pairs:
            return idx.clone()
        count = self.counts[i]
        key = (np.uint64(seed % 2**32) << np.uint64(32)) ^ np.uint64(epoch % 2**32)
        with np.errstate(over="ignore"):
            draw = _mix(_mix(i.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)) ^ _mix(key))
        pick = (draw % np.maximum(count, 1).astype(np.uint64)).astype(np.int64)
        pos = np.maximum(self.position[i], 0)
        at = self.place_start[pos] + pick  # the pick-th position of the place, stepping over the sample's own date
        at = np.where(at >= self.date_start[pos], at + self.date_size[pos], at)
        chosen = np.where(count > 0, self.order[np.minimum(at, len(self.order) - 1)], i)
        return torch.from_numpy(chosen)


def _runs(starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each position of a sorted sequence whose runs begin where ``starts`` is True: its run's first position
    and length."""
    first = np.flatnonzero(starts)
    run = np.cumsum(starts) - 1
    lengths = np.diff(np.r_[first, len(starts)])
    return first[run], lengths[run]


def revisits_of(split, where: str) -> Revisits:
    """The split's revisits, or a ValueError saying why there are none (``where`` names the data)."""
    times, places = getattr(split, "times", None), getattr(split, "places", None)
    if times is None or places is None or not torch.isfinite(times).any():
        raise ValueError(
            f"temporal positives need several dates of one place, and {where} has no acquisition times (a lat/lon "
            "table's 'time' column, a GeoTIFF date tag such as TIFFTAG_DATETIME, or a date in the file name)"
        )
    revisits = Revisits(places, times)
    if not revisits.pairs:
        raise ValueError(
            f"temporal positives need several dates of one place, and no place in {where}'s training samples was "
            f"taken at two times ({int(torch.isfinite(times).sum())} dated samples)"
        )
    return revisits
