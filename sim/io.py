"""Atomic writes of a Result.

Every file is written to a temporary name in the run folder and renamed into place, so a reader
never sees half a file.  ``summary.json`` is written last: its presence marks a finished run.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable
from pathlib import Path

import pandas as pd
from omegaconf import OmegaConf

from sim.result import Result

__all__ = ["write", "atomic_write", "TABLES", "read"]

TABLES = ("firms", "market", "events")


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


def write(result: Result, out_dir: str | Path, figures: bool | None = None) -> Path:
    """Write ``firms.parquet``, ``market.parquet``, ``events.parquet``, ``config.yaml``,
    ``figures/*.png`` (unless ``figures`` is false; default from ``output.figures``) and, last,
    ``summary.json`` into ``out_dir``.  Returns ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name in TABLES:
        df: pd.DataFrame = getattr(result, name)
        atomic_write(out / f"{name}.parquet", lambda p, df=df: df.to_parquet(p, index=False))
    yaml = OmegaConf.to_yaml(OmegaConf.structured(result.config))
    atomic_write(out / "config.yaml", lambda p: p.write_text(yaml))
    if result.config.output.figures if figures is None else figures:
        from sim import plots

        plots.standard_figures(result, out / "figures")
    text = json.dumps(result.summary, indent=2, sort_keys=False) + "\n"
    atomic_write(out / "summary.json", lambda p: p.write_text(text))
    return out


def read(run_dir: str | Path) -> dict[str, pd.DataFrame | dict]:
    """Read a finished run folder back: the three tables and the summary."""
    run = Path(run_dir)
    summary_path = run / "summary.json"
    if not summary_path.exists():
        raise FileNotFoundError(f"{run}: no summary.json (the run did not finish)")
    out: dict[str, pd.DataFrame | dict] = {n: pd.read_parquet(run / f"{n}.parquet") for n in TABLES}
    out["summary"] = json.loads(summary_path.read_text())
    return out
