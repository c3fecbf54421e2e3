"""The command line through subprocesses: runs, sweeps, failures, bad input."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from conftest import run_cli

TABLES = {"firms.parquet", "market.parquet", "events.parquet", "summary.json", "config.yaml"}
FIGURES = {"prices.png", "shares.png", "hhi.png", "cash.png"}


def _only_run_folder(cwd):
    runs = [p for p in (cwd / "outputs" / "runs").glob("*/*") if p.is_dir()]
    assert len(runs) == 1, runs
    return runs[0]


def test_default_run_writes_tables_summary_and_figures(tmp_path):
    proc = run_cli([], tmp_path)
    assert proc.returncode == 0, proc.stderr
    run = _only_run_folder(tmp_path)
    assert TABLES <= {p.name for p in run.iterdir()}
    assert FIGURES == {p.name for p in (run / "figures").iterdir()}
    summary = json.loads((run / "summary.json").read_text())
    assert summary["scenario"] == "lean_lab_vs_giant" and summary["horizon_days"] == 1095
    assert str(run.relative_to(tmp_path)) in proc.stdout  # the demo says where its files are
    market = pd.read_parquet(run / "market.parquet")
    assert len(market) == 1095


def test_override_run(tmp_path):
    proc = run_cli(["scenario=china_2024", "seed=3", "horizon_days=60"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    run = _only_run_folder(tmp_path)
    summary = json.loads((run / "summary.json").read_text())
    assert (summary["scenario"], summary["seed"], summary["horizon_days"]) == ("china_2024", 3, 60)
    firms = pd.read_parquet(run / "firms.parquet")
    assert set(firms["firm"]) == {"deepseek", "alibaba", "bytedance", "baidu", "tencent", "host"}


BAD_CLI = [
    ("horizon_days=0", "horizon_days"),
    ("horizon_days=-3", "horizon_days"),
    ("seed=abc", "seed"),
    ("scenario=nope", "scenario"),
    ("firms.giant.pricing.rule=bogus", "firms.giant.pricing.rule"),
    ("firms.giant.pricing.step=1.5", "firms.giant.pricing.step"),
    ("segments.count=0", "segments.count"),
    ("seed=???", "seed"),
    ("horizon_days=${oc.env:HOME}", "horizon_days"),
    ("+hydra.callbacks.x._target_=builtins.print", "hydra.callbacks.x"),
]


@pytest.mark.parametrize("override,key", BAD_CLI, ids=[b for b, _ in BAD_CLI])
def test_bad_input_exits_2_with_one_line_and_no_run_folder(tmp_path, override, key):
    proc = run_cli([override], tmp_path)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"pricewars: error: {key}=") and "allowed:" in lines[0]
    assert not (tmp_path / "outputs").exists()


def test_bad_value_inside_a_sweep_is_caught_before_anything_runs(tmp_path):
    proc = run_cli(["-m", "seed=0,1", "horizon_days=10,0"], tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("pricewars: error: horizon_days=0")
    assert not (tmp_path / "outputs").exists()


def test_sweep_records_a_failing_job_and_goes_on(tmp_path):
    """horizon 10 with a shock at day 200 fails only in combination: job 3 of 4."""
    jump = "{{at:{},kind:demand_jump,factor:2}}"
    shocks = f"shocks=choice([{jump.format(5)}],[{jump.format(200)}])"
    proc = run_cli(["-m", "horizon_days=300,10", shocks, "output.figures=false"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    sweep = next((tmp_path / "outputs" / "sweeps").glob("*/*"))
    jobs = sorted(p for p in sweep.iterdir() if p.is_dir())
    assert [p.name for p in jobs] == ["0", "1", "2", "3"]
    assert all((p / "summary.json").exists() for p in jobs[:3])
    failed = json.loads((jobs[3] / "failed.json").read_text())
    assert failed["error"].startswith("ConfigError: shocks[0].at=200")
    assert not (jobs[3] / "summary.json").exists()

    from sim.collect import collect

    table = collect(sweep)
    assert list(table["status"]) == ["ok", "ok", "ok", "failed"]
    assert (sweep / "sweep.parquet").exists()
    assert set(table.loc[table["status"] == "ok", "horizon_days"]) == {300, 10}


def test_sweep_in_parallel_processes_with_the_joblib_launcher(tmp_path):
    """Process launchers pickle the composed config: its schema classes must be importable."""
    pytest.importorskip("hydra_plugins.hydra_joblib_launcher")
    sweep = tmp_path / "sweep"
    res = run_cli(["-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "seed=0,1",
                   "horizon_days=15", "output.figures=false", f"hydra.sweep.dir={sweep}"],
                  tmp_path)
    assert res.returncode == 0, res.stderr
    seeds = [json.loads((sweep / str(k) / "summary.json").read_text())["seed"] for k in (0, 1)]
    assert seeds == [0, 1]
