"""Pretext tasks and generative learners, one module each; importing this package registers them all."""

from pretext import context, damaged_jigsaw, gan, geolocation, jigsaw, rotation, transpose, vae  # noqa: F401  (registration side effects)
from pretext.base import ClassificationPretext, PretextTask

__all__ = ["ClassificationPretext", "PretextTask"]
