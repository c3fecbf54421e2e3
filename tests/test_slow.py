"""Slow checks, run by `make test-all`: saved sweeps end to end, long horizons, wide searches."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import run_cli
from hypothesis import given, settings
from invariants import ALL as INVARIANTS
from invariants import check_clearing, markets

import sim

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("scenario", ["lean_lab_vs_giant", "china_2024"])
def test_ten_year_runs_keep_every_invariant(scenario, seed):
    result = sim.run([f"scenario={scenario}", "horizon_days=3650"], seed=seed)
    for check in INVARIANTS:
        check(result)


def test_penetration_price_war_with_exits_keeps_every_invariant():
    """A ruinous war: the lab prices at cost, funding is hard to get, the giant undercuts."""
    result = sim.run(["horizon_days=1500", "firms.lab.pricing.rule=penetration",
                      "firms.lab.pricing.entry_markup=-0.5", "firms.lab.cash_usd=2e8",
                      "firms.lab.funding.success_intercept=-3"], seed=4)
    assert "lab" in result.summary["exit_days"]
    for check in INVARIANTS:
        check(result)


def test_saved_experiment_sweep_and_collect(tmp_path):
    proc = run_cli(["+experiment=reaction_lag"], tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stderr
    sweep = next((tmp_path / "outputs" / "sweeps").glob("*/*"))
    from sim.collect import collect

    table = collect(sweep)
    assert len(table) == 25 and (table["status"] == "ok").all()
    assert sorted(table["firms.giant.reaction_lag_days"].unique()) == [1, 7, 14, 30, 60]
    assert sorted(table["seed"].unique()) == [0, 1, 2, 3, 4]
    # A seed is a whole scenario: the same (lag, seed) pair reruns identically.
    again = sim.run(["firms.giant.reaction_lag_days=7", "output.figures=false"], seed=3)
    row = table[(table["firms.giant.reaction_lag_days"] == 7) & (table["seed"] == 3)].iloc[0]
    assert row["final.hhi"] == pytest.approx(again.summary["final"]["hhi"], rel=1e-12)


@settings(max_examples=5_000, deadline=None, derandomize=True)
@given(markets())
def test_clearing_invariants_wide_search(m):
    check_clearing(m)


def test_many_firms_clear_and_account():
    """Twenty token sellers from both presets, entering at staggered dates, beside the
    default's host."""
    firms = [f"+firm@firms.l{i}=lean_lab" for i in range(10)] + \
            [f"+firm@firms.g{i}=tech_giant" for i in range(8)]
    entries = ",".join(f"{{at: {10 * i}, kind: entry, firm: l{i}}}" for i in range(10))
    result = sim.run(["horizon_days=400", *firms, f"shocks=[{entries}]"], seed=5)
    assert result.firms["firm"].nunique() == 21  # and the default's host
    first = result.firms.groupby("firm")["day"].min()
    assert np.array_equal(first[[f"l{i}" for i in range(10)]].to_numpy(), np.arange(0, 100, 10))
    for check in INVARIANTS:
        check(result)
