"""Finding a dataset's files: regular files only, each once, and folder links followed without loops.

A FIFO or a device named like an image would block the first read forever; a folder link back up the tree
(``a/loop -> ..``) would list every file again and again, and put the same image on both sides of a split.
Files are therefore listed by their resolved path, once, and a folder already walked is never walked again.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path


def is_regular(path: str | Path) -> bool:
    """Whether ``path`` (links followed) is a regular file."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False


def walk_files(root: Path) -> list[Path]:
    """Everything under ``root`` that is not a folder, sorted by path as found, the first path of each resolved
    file kept. Callers read only what ``is_regular`` passes, and report the rest (a FIFO, a socket)."""
    seen_dirs: set[tuple[int, int]] = set()
    seen_files: set[str] = set()
    found: list[Path] = []
    for folder, dirs, files in os.walk(root, followlinks=True):
        st = os.stat(folder)
        if (st.st_dev, st.st_ino) in seen_dirs:
            dirs[:] = []  # a link back to a folder walked already
            continue
        seen_dirs.add((st.st_dev, st.st_ino))
        dirs.sort()
        for name in files:
            path = Path(folder) / name
            real = os.path.realpath(path)
            if real not in seen_files:
                seen_files.add(real)
                found.append(path)
    return sorted(found)
