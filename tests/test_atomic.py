"""Atomic writes: all or nothing, and the permissions of a plain file."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from ssl_toolkit import atomic


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "out" / "metrics.json"
    atomic.write_text(target, "old")
    with pytest.raises(RuntimeError):
        with atomic.atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("interrupted")
    assert target.read_text() == "old"
    assert [p.name for p in target.parent.iterdir()] == ["metrics.json"]


def test_written_files_get_the_permissions_of_a_plain_open(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    atomic.write_text(tmp_path / "a.txt", "x")
    (tmp_path / "b.txt").write_text("x")
    mode = stat.S_IMODE((tmp_path / "a.txt").stat().st_mode)
    assert mode == stat.S_IMODE((tmp_path / "b.txt").stat().st_mode)
    monkeypatch.setattr(atomic, "UMASK", 0o022)  # the usual umask; mkstemp alone would give 0o600
    atomic.write_text(tmp_path / "c.txt", "x")
    assert stat.S_IMODE((tmp_path / "c.txt").stat().st_mode) == 0o644
