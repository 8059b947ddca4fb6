"""One process at a time in an output folder: an exclusive lock on ``FOLDER/.lock``, taken before the first file
is written and released on exit.

The lock is an ``flock`` on the open file, so the kernel releases it when its process dies (a killed run leaves
no stale lock: the next process takes it, and the pid left in the file only names who held it last). The file
is removed on release; a process that opened it just before the removal sees another file at the path and
tries again, so two processes never both hold the folder.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from ssl_toolkit.errors import UserError

LOCK_NAME = ".lock"


def first_missing(path: Path) -> Path | None:
    """The outermost folder of ``path`` (itself included) that does not exist yet: what making it creates, and
    what to remove again to leave the disk as it was. None when ``path`` exists."""
    missing = None
    for folder in [path, *path.parents]:
        if folder.exists():
            break
        missing = folder
    return missing


@contextlib.contextmanager
def exclusive(folder: Path, what: str) -> Iterator[None]:
    """Hold ``folder`` (created if needed) for ``what`` (e.g. "ssl pretrain"); a folder another live process
    holds is a UserError naming it and that process."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"cannot create {folder}: {e.strerror or e}") from None
    path = folder / LOCK_NAME
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as e:
            raise UserError(f"cannot write in {folder}: {e.strerror or e}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise UserError(
                f"{folder} is in use by {holder}; wait for it to finish, or choose another output folder"
            ) from None
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)  # the holder removed the file as we opened it: take the new one
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} ({what}: {' '.join(sys.argv[1:3]) or 'python'})\n".encode(), 0)
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)
        os.close(fd)
