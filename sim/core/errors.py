"""The one error type users see for bad configuration."""

from __future__ import annotations

from typing import Any

__all__ = ["ConfigError", "Raw"]


class Raw(str):
    """A value shown as typed on the command line (no quotes in messages)."""

    def __repr__(self) -> str:
        return str(self)


class ConfigError(ValueError):
    """A configuration value outside its allowed range.

    ``str(err)`` is one line: ``key=value: problem; allowed: range``.
    """

    def __init__(self, key: str, value: Any, allowed: str, problem: str = "out of range"):
        self.key, self.value, self.allowed, self.problem = key, value, allowed, problem
        text = f"{key}={value!r}: {problem}; allowed: {allowed}"
        super().__init__(" ".join(text.split()))  # always one line
