"""The on-disk cache for things that are slow to rebuild (decoded datasets, permutation sets).

Under ``$SSL_CACHE_DIR`` (default ``~/.cache/ssl-toolkit``). Caching is an optimisation: a damaged entry is
rebuilt, and a read-only cache folder only costs time.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ssl_toolkit import atomic
from ssl_toolkit.errors import UserError


def cache_dir() -> Path:
    return Path(os.environ.get("SSL_CACHE_DIR", Path.home() / ".cache" / "ssl-toolkit"))


def load_array(path: Path) -> np.ndarray | None:
    """The cached array (never unpickling anything), or None when missing or unreadable."""
    if not path.is_file():
        return None
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError):
        return None


def save_array(path: Path, array: np.ndarray) -> None:
    """Write atomically; failures to write are ignored."""
    try:
        with atomic.atomic_path(path) as tmp, open(tmp, "wb") as f:
            np.save(f, array)
    except (OSError, UserError):  # a read-only or full cache folder only costs time
        pass
