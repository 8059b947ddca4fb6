"""Probes that measure a frozen representation, one module each; importing this package registers them."""

from probes import finetune, knn, linear, seed_fc  # noqa: F401  (registration side effects)
