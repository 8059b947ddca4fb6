"""What to do with a file or table row the toolkit cannot use: stop (``error``) or leave it out (``skip``).

Everything is checked while a dataset is opened, before the first training step, so a bad file never crashes
an epoch half way. With ``error`` (the default) the first problem stops the run with one line naming the file
and the reason; with ``skip`` the problems are collected, counted and reported when the command ends.
"""

from __future__ import annotations

from ssl_toolkit.errors import UserError

POLICIES = ("error", "skip")


class BadFiles:
    """Collects (path, reason) for skipped inputs, or raises on the first one under the ``error`` policy."""

    def __init__(self, policy: str = "error") -> None:
        if policy not in POLICIES:
            raise UserError(f"data.on_bad_file: expected one of {', '.join(POLICIES)}, got {policy!r}")
        self.policy = policy
        self.skipped: list[tuple[str, str]] = []

    def report(self, path: object, reason: str) -> None:
        if self.policy == "error":
            raise UserError(f"{path}: {reason} (set data.on_bad_file=skip to leave such files out)")
        self.skipped.append((str(path), reason))

    def summary(self, limit: int = 5) -> str:
        """One line: how many were skipped and the first few with their reasons."""
        if not self.skipped:
            return "no bad files"
        shown = "; ".join(f"{p}: {r}" for p, r in self.skipped[:limit])
        more = f"; and {len(self.skipped) - limit} more" if len(self.skipped) > limit else ""
        return f"skipped {len(self.skipped)} bad file(s): {shown}{more}"
