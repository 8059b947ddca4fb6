"""Pretext tasks and generative learners, one module each; importing this package registers them all."""

from pretext import (  # noqa: F401  (registration side effects)
    adagan,
    barlow_twins,
    byol,
    completion,
    context,
    cyclegan,
    damaged_jigsaw,
    dino,
    gan,
    geolocation,
    jigsaw,
    mae,
    moco,
    pix2pix,
    rotation,
    simclr,
    transpose,
    vae,
    vicreg,
)
from pretext.base import ClassificationPretext, PretextTask

__all__ = ["ClassificationPretext", "PretextTask"]
