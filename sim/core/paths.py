"""Package paths."""

from __future__ import annotations

from pathlib import Path

__all__ = ["CONF_DIR"]

_PACKAGE = Path(__file__).resolve().parent.parent
#: The Hydra config directory: package data ``sim/conf/`` (``conf/`` in an old checkout).
CONF_DIR = _PACKAGE / "conf" if (_PACKAGE / "conf").is_dir() else _PACKAGE.parent / "conf"
