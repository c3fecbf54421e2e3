"""Gather a sweep's run folders into one tidy table, and plot an outcome with uncertainty.

    python -m sim.collect outputs/sweeps/2026-11-28/10-00-00
    python -m sim.collect SWEEP --x firms.giant.reaction_lag_days --y final.mean_price_usd_per_m

One row per job: ``job``, ``status`` (``ok`` with a ``summary.json``; ``failed`` with a
``failed.json`` and its ``error``; ``incomplete`` when neither is there), one column per
command-line override of the job (swept or fixed) with its value, and the run's summary
flattened with dots (``final.hhi``, ``firms.lab.revenue_usd``, ...).  Summary keys that repeat
an override (``seed``, ``horizon_days``) hold the same value.
Written as ``sweep.parquet`` and ``sweep.csv`` into the sweep folder.

When a job folder holds both ``summary.json`` and ``failed.json`` (a job that ran again and failed
the second time), the job is ``failed``: the newer failure wins.  The folder must be a Hydra
sweep (with ``multirun.yaml`` at its top); a truncated or invalid ``summary.json``,
``failed.json`` or ``.hydra/overrides.yaml`` is an error naming the file
(:class:`CollectError`; ``python -m sim.collect`` prints one line and exits with status 2).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

__all__ = ["collect", "flatten", "main", "CollectError"]


class CollectError(ValueError):
    """A sweep folder that cannot be collected; ``str(err)`` is one line naming the file."""


def _one_line(err: Exception) -> str:
    return " ".join(str(err).split()) or type(err).__name__


def _read_json(path: Path, need: str | None = None) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CollectError(f"{path}: not valid JSON ({_one_line(err)})") from None
    if not isinstance(data, dict):
        raise CollectError(f"{path}: not a JSON object")
    if need is not None and need not in data:
        raise CollectError(f"{path}: no '{need}' entry")
    return data


def flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``; lists become JSON strings."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, f"{key}."))
        elif isinstance(v, list):
            out[key] = json.dumps(v)
        else:
            out[key] = v
    return out


def _overrides(job: Path) -> dict[str, Any]:
    path = job / ".hydra" / "overrides.yaml"
    if not path.exists():
        return {}
    try:
        lines = yaml.safe_load(path.read_text()) or []
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
        raise CollectError(f"{path}: not valid YAML ({_one_line(err)})") from None
    if not isinstance(lines, list):
        raise CollectError(f"{path}: not a list of overrides")
    out = {}
    for line in lines:
        if not isinstance(line, str) or "=" not in line:
            raise CollectError(f"{path}: {line!r} is not an override (key=value)")
        key, _, value = str(line).lstrip("+~").partition("=")
        try:
            out[key] = yaml.safe_load(value)
        except yaml.YAMLError:
            out[key] = value
    return out


def collect(sweep_dir: str | Path, write: bool = True) -> pd.DataFrame:
    """One row per job folder of a Hydra sweep (see module doc).

    Raises
    ------
    FileNotFoundError
        If ``sweep_dir`` is not a folder or holds no job folders.
    CollectError
        If it is not a Hydra sweep, or a job's ``summary.json``, ``failed.json`` or
        ``.hydra/overrides.yaml`` cannot be read.
    """
    sweep = Path(sweep_dir)
    if not sweep.is_dir():
        raise FileNotFoundError(f"{sweep}: not a folder")
    if not (sweep / "multirun.yaml").is_file():
        raise CollectError(f"{sweep}: not a sweep folder (no multirun.yaml); give the folder "
                           "python -m sim -m wrote, outputs/sweeps/<date>/<time>")
    jobs = sorted((p for p in sweep.iterdir() if p.is_dir() and (p / ".hydra").is_dir()),
                  key=lambda p: (len(p.name), p.name))
    if not jobs:
        raise FileNotFoundError(f"{sweep}: no job folders (with .hydra/) inside")
    rows = []
    for job in jobs:
        row: dict[str, Any] = {"job": job.name, **_overrides(job)}
        if (job / "failed.json").exists():  # also beside a summary.json: the newer failure wins
            row["status"] = "failed"
            row["error"] = _read_json(job / "failed.json", need="error")["error"]
        elif (job / "summary.json").exists():
            row["status"] = "ok"
            row.update(flatten(_read_json(job / "summary.json")))
        else:
            row["status"] = "incomplete"
        rows.append(row)
    table = pd.DataFrame(rows)
    if write:
        table.to_parquet(sweep / "sweep.parquet", index=False)
        table.to_csv(sweep / "sweep.csv", index=False)
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sim.collect",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("sweep", help="a sweep folder: outputs/sweeps/<date>/<time>")
    parser.add_argument("--x", help="column for the x axis (a swept key)")
    parser.add_argument("--y", help="outcome column, e.g. final.mean_price_usd_per_m")
    parser.add_argument("--hue", help="optional column to split lines by")
    args = parser.parse_args(argv)
    try:
        table = collect(args.sweep)
    except (FileNotFoundError, CollectError) as err:
        print(f"pricewars collect: error: {_one_line(err)}", file=sys.stderr)
        return 2
    counts = table["status"].value_counts().to_dict()
    print(f"{len(table)} jobs ({', '.join(f'{v} {k}' for k, v in counts.items())}) -> "
          f"{Path(args.sweep) / 'sweep.parquet'}")
    if args.x or args.y:
        missing = [c for c in (args.x, args.y, args.hue) if c and c not in table.columns]
        if not args.x or not args.y or missing:
            print(f"pricewars collect: error: --x and --y must both name columns; unknown: "
                  f"{', '.join(missing) or '-'}; columns: {', '.join(table.columns)}",
                  file=sys.stderr)
            return 2
        from sim.output.plots import plot_sweep

        ok = table[table["status"] == "ok"]
        out = Path(args.sweep) / f"{args.y.replace('.', '_')}_vs_{args.x.replace('.', '_')}.png"
        plot_sweep(ok, args.x, args.y, hue=args.hue, path=out)
        print(f"figure -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
