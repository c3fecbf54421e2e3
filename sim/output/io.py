"""Writing a Result into a run folder, and reading it back.

Every file is written atomically (:func:`sim.core.fs.atomic_write`: a temporary name in the run
folder, then a rename), so a reader never sees half a file.  ``summary.json`` is written last:
its presence marks a finished run.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from omegaconf import OmegaConf

from sim.analysis.result import Result
from sim.core.fs import atomic_write

__all__ = ["write", "atomic_write", "TABLES", "read"]

TABLES = ("firms", "market", "events")


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
        from sim.output import plots

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
