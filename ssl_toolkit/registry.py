"""Name -> factory registries for pretext tasks, backbones and probes, filled by decorators at import time.

The registry names no plugin. A package of plugins declares itself under the entry-point group
``ssl_toolkit.<kind>s`` (``pyproject.toml``: ``[project.entry-points."ssl_toolkit.tasks"]``); the first time a
registry is asked for its names it imports the packages of its group, whose imports register their entries. So
the toolkit's own tasks and probes, and those of any installed package, are found the same way, and a user
never imports them by hand.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

from ssl_toolkit.errors import UserError, did_you_mean


class Registry:
    """Maps names to classes (or factories) of one kind."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.group = f"ssl_toolkit.{kind}s"  # the entry-point group whose packages register entries
        self._entries: dict[str, Callable[..., Any]] = {}
        self._loaded = False

    def register(self, name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorator: ``@TASKS.register("rotation")`` on a class or factory function."""

        def decorate(obj: Callable[..., Any]) -> Callable[..., Any]:
            if name in self._entries and self._entries[name] is not obj:
                raise ValueError(f"{self.kind} '{name}' is registered twice")
            self._entries[name] = obj
            return obj

        return decorate

    def _load(self) -> None:
        if not self._loaded:
            self._loaded = True
            for point in entry_points(group=self.group):
                importlib.import_module(point.module)

    def names(self) -> list[str]:
        self._load()
        return sorted(self._entries)

    def __contains__(self, name: str) -> bool:
        self._load()
        return name in self._entries

    def get(self, name: str) -> Callable[..., Any]:
        """The registered entry; an unknown name is a UserError listing the known names."""
        self._load()
        if name not in self._entries:
            known = ", ".join(self.names())
            raise UserError(f"unknown {self.kind} '{name}'{did_you_mean(name, self._entries)}; known: {known}")
        return self._entries[name]

    def summary(self, name: str) -> str:
        """First line of the entry's docstring, for ``ssl tasks``."""
        doc = (self.get(name).__doc__ or "").strip()
        return doc.splitlines()[0] if doc else ""


TASKS = Registry("task")
BACKBONES = Registry("backbone")
PROBES = Registry("probe")
