"""Atomic run output: round trip, summary last, nothing half-written."""

from __future__ import annotations

import ast
import importlib
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from conftest import ROOT

import sim
from sim.core import fs
from sim.output import io, plots


def test_write_read_round_trip(tmp_path):
    result = sim.run(["horizon_days=30"])
    out = sim.write(result, tmp_path / "run")
    back = io.read(out)
    for name in io.TABLES:
        pd.testing.assert_frame_equal(back[name], getattr(result, name))
    assert back["summary"] == result.summary
    assert not list(out.rglob("*.tmp")), "temporary files left behind"
    assert (out / "config.yaml").read_text().startswith("name: lean_lab_vs_giant")
    # summary.json is the last file written: it marks a finished run.
    newest = max(out.rglob("*"), key=lambda p: p.stat().st_mtime_ns)
    assert newest.name == "summary.json"


def test_run_with_out_dir_writes_files(tmp_path):
    sim.run(["horizon_days=10", "output.figures=false"], out_dir=tmp_path / "r")
    assert {p.name for p in (tmp_path / "r").iterdir()} == {
        "firms.parquet", "market.parquet", "events.parquet", "config.yaml", "summary.json"}


def test_failed_atomic_write_leaves_nothing(tmp_path):
    def broken(path):
        path.write_text("half")
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError):
        fs.atomic_write(tmp_path / "x.json", broken)
    assert list(tmp_path.iterdir()) == []


def test_reading_an_unfinished_run_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="did not finish"):
        io.read(tmp_path)


# ----------------------------------------------------------------------------- file modes
_WRITE_UNDER_UMASKS = """
import os, stat, sys
from pathlib import Path
import sim
result = sim.run(["horizon_days=10"])
for umask in sys.argv[2:]:
    os.umask(int(umask, 8))
    out = Path(sys.argv[1]) / umask
    sim.write(result, out, figures=True)
    for p in sorted(out.rglob("*")):
        if p.is_file():
            print(umask, p.relative_to(out), oct(stat.S_IMODE(p.stat().st_mode)))
"""


def test_written_files_follow_the_umask(tmp_path):
    """Every file of a run (tables, config, figures, summary) gets 0o666 less the umask, as
    any new file does.  A subprocess, because the umask belongs to the whole process."""
    expected = {"022": "0o644", "027": "0o640", "002": "0o664"}
    proc = subprocess.run([sys.executable, "-c", _WRITE_UNDER_UMASKS, str(tmp_path), *expected],
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    rows = [line.split() for line in proc.stdout.splitlines()]
    for umask, mode in expected.items():
        modes = {name: m for u, name, m in rows if u == umask}
        assert {"summary.json", "firms.parquet", "config.yaml", "figures/prices.png"} <= set(modes)
        assert set(modes.values()) == {mode}, (umask, modes)


def test_umask_is_never_touched(tmp_path, monkeypatch):
    def no_umask(*args):
        raise AssertionError("os.umask called: it changes the mode of files other threads create")

    monkeypatch.setattr(os, "umask", no_umask)
    importlib.reload(fs)  # importing the writers must not call it either
    importlib.reload(io)
    fs.atomic_write(tmp_path / "x.txt", lambda p: p.write_text("x"))
    assert (tmp_path / "x.txt").read_text() == "x"
    sim.run(["horizon_days=10"], out_dir=tmp_path / "run")
    assert (tmp_path / "run" / "summary.json").exists()


def test_interrupted_atomic_write_keeps_the_old_file(tmp_path):
    target = tmp_path / "x.json"
    target.write_text("old")

    def interrupted(path):
        path.write_text("half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fs.atomic_write(target, interrupted)
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]
    assert target.read_text() == "old"


# ----------------------------------------------------------------------------- figures
_WRITE_UNDER_BACKEND = """
import sys
import matplotlib
matplotlib.use("svg")  # a notebook's own backend, say
import sim
res = sim.run(["horizon_days=10"])
sim.write(res, sys.argv[1], figures=True)
import sim.output.plots
print(matplotlib.get_backend(), "matplotlib.pyplot" in sys.modules)
"""


def test_writing_figures_keeps_the_callers_backend(tmp_path):
    proc = subprocess.run([sys.executable, "-c", _WRITE_UNDER_BACKEND, str(tmp_path / "run")],
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["svg", "False"]  # backend kept, pyplot never imported
    assert len(list((tmp_path / "run" / "figures").glob("*.png"))) == 4


def test_plots_module_imports_no_pyplot():
    tree = ast.parse(Path(plots.__file__).read_text())
    names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    names |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert not {n for n in names if "pyplot" in n}
    calls = {n.func.attr for n in ast.walk(tree)
             if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)}
    assert "use" not in calls  # no matplotlib.use(...)


def test_figures_are_byte_identical_for_the_same_seed(tmp_path, run_cached):
    result = run_cached("horizon_days=120")
    first = plots.standard_figures(result, tmp_path / "a")
    again = plots.standard_figures(sim.run(["horizon_days=120"]), tmp_path / "b")
    assert [p.name for p in first] == ["prices.png", "shares.png", "hhi.png", "cash.png"]
    for a, b in zip(first, again, strict=True):
        assert a.read_bytes() == b.read_bytes(), a.name
        assert a.read_bytes().startswith(b"\x89PNG")
