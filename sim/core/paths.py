"""Package paths."""

from __future__ import annotations

from pathlib import Path

__all__ = ["CONF_DIR"]

#: The Hydra config directory: package data, ``sim/conf/`` (so a wheel install has its configs).
CONF_DIR = Path(__file__).resolve().parent.parent / "conf"
