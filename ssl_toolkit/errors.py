"""The one exception type for user mistakes, and the 'did you mean' helper its messages use."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class UserError(Exception):
    """A mistake in the user's input (a name, a key, a value, a file).

    The CLI prints the message on one line and exits with status 2; it never shows a traceback for these.
    """


def closest(name: str, choices: Iterable[str]) -> str | None:
    """The choice closest to ``name`` by spelling, or None when nothing is close."""
    matches = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.5)
    return matches[0] if matches else None


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """A ``" (did you mean 'x'?)"`` suffix for an error message, or an empty string."""
    match = closest(name, choices)
    return f" (did you mean '{match}'?)" if match else ""
