"""Registries of named classes: decision rules by kind, kinds of firm, firm components.

A config names what it wants (``rule: undercut``, ``kind: lean_lab``), never an import path, so a
shared config file cannot run code: only classes registered here can be built.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from sim.core.errors import ConfigError

__all__ = ["Registry"]


class Registry:
    """Classes registered by name.

    Parameters
    ----------
    what : what the entries are, for messages ("pricing rule", "firm kind").
    loader : called once before the first look-up, to import the modules whose classes
        register themselves.
    """

    def __init__(self, what: str, loader: Callable[[], None] | None = None):
        self.what = what
        self._loader = loader
        self._items: dict[str, type] = {}

    def _load(self) -> None:
        if self._loader is not None:
            loader, self._loader = self._loader, None
            loader()

    def register(self, name: str) -> Callable[[type], type]:
        """Class decorator: register ``cls`` as ``name`` (and set ``cls.name``)."""

        def deco(cls: type) -> type:
            if name in self._items and self._items[name] is not cls:
                raise ValueError(f"{self.what} {name!r} registered twice")
            cls.name = name
            self._items[name] = cls
            return cls

        return deco

    def get(self, name: Any, key: str = "") -> type:
        """The class registered as ``name``; a :class:`ConfigError` naming ``key`` and the
        registered names if there is none."""
        self._load()
        if not isinstance(name, str) or name not in self._items:
            raise ConfigError(key or self.what, name, ", ".join(self.names()),
                              f"unknown {self.what}")
        return self._items[name]

    def names(self) -> list[str]:
        """Registered names, sorted."""
        self._load()
        return sorted(self._items)

    def items(self) -> Iterator[tuple[str, type]]:
        self._load()
        return iter(sorted(self._items.items()))

    def __contains__(self, name: object) -> bool:
        self._load()
        return name in self._items

    def __getitem__(self, name: str) -> type:
        self._load()
        return self._items[name]

    def __len__(self) -> int:
        self._load()
        return len(self._items)
