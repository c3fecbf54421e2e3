"""Atomic file writes: a reader never sees half a file, an interrupted write leaves none."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path

__all__ = ["atomic_write"]


def _temp_beside(path: Path) -> Path:
    """Create an empty file with a fresh name beside ``path`` and return its name.

    It is created with mode 0o666, which the kernel reduces by the process's umask, exactly as
    for any new file; the umask is never read or changed (reading it means setting it, which
    races with other threads).  Writers open the file again, which keeps its mode."""
    flags = os.O_CREAT | os.O_EXCL | os.O_WRONLY | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
        try:
            os.close(os.open(tmp, flags, 0o666))
        except FileExistsError:
            continue
        return tmp
    raise FileExistsError(f"{path.parent}: no free temporary name for {path.name}")


def atomic_write(path: Path, writer: Callable[[Path], None]) -> Path:
    """Call ``writer(tmp)`` on a temporary file beside ``path``, then rename it to ``path``.

    The file gets the usual mode for a new file (0o666 less the umask).  On any failure,
    interrupts included, the temporary file is removed and ``path`` is left as it was."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_beside(path)
    try:
        writer(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path
