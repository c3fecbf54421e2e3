"""Atomic run output: round trip, summary last, nothing half-written."""

from __future__ import annotations

import pandas as pd
import pytest

import sim
from sim import io


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
        io.atomic_write(tmp_path / "x.json", broken)
    assert list(tmp_path.iterdir()) == []


def test_reading_an_unfinished_run_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="did not finish"):
        io.read(tmp_path)
