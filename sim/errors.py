"""Deprecated location of :class:`sim.core.errors.ConfigError` (kept for one release)."""

from sim.core.errors import ConfigError, Raw

__all__ = ["ConfigError", "Raw"]
