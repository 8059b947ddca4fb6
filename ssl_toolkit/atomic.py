"""Atomic file writes: write to a temporary file beside the target, then rename over it.

A crash or Ctrl-C mid-write leaves the old file (or none), never a half-written one; the file is flushed to disk
(``fsync``) before the rename and its folder after it, so a power loss cannot leave an empty file under the new
name either. The file gets the permissions a plain ``open`` would give it (0666 less the umask), not the
owner-only ones of a temporary file. An OS error (a read-only folder, a full disk, a path under a file) is a
UserError naming the target.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from ssl_toolkit.errors import UserError


def _read_umask() -> int:
    mask = os.umask(0)  # the only way to read it; done once, at import, before any threads write files
    os.umask(mask)
    return mask


UMASK = _read_umask()


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; on success flush it and rename it to ``path``."""
    target = Path(path)
    tmp: Path | None = None
    try:
        if target.is_dir():
            raise IsADirectoryError(21, "is a folder, not a file", str(target))
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        os.close(fd)
        tmp = Path(tmp_name)
        yield tmp
        _fsync(tmp)
        os.chmod(tmp, 0o666 & ~UMASK)
        os.replace(tmp, target)
        _fsync(target.parent)
    except OSError as e:
        raise UserError(f"cannot write {target}: {e.strerror or e}") from None
    finally:
        if tmp is not None and tmp.exists():
            tmp.unlink()


def write_text(path: str | os.PathLike[str], text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write(path: str | os.PathLike[str], content: str | bytes) -> None:
    """Text or bytes, atomically."""
    if isinstance(content, bytes):
        write_bytes(path, content)
    else:
        write_text(path, content)
