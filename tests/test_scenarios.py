"""Scenario-level behaviour, and the China 2024 reconstruction against the reported cuts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import sim
from sim.analysis.result import CUT_THRESHOLD


@pytest.fixture(scope="module")
def china(run_cached):
    return run_cached("scenario=china_2024")


@pytest.mark.parametrize("firm", ["alibaba", "baidu", "tencent"])
def test_china_2024_giants_cut_when_and_as_much_as_reported(china, firm):
    """calibration.md: Alibaba -97% on 05-21, Baidu free on 05-21, Tencent -50..87.5% on 05-22."""
    row = china.summary["price_cuts_vs_observed"][firm]
    assert abs(row["days_off"]) <= 1, row
    assert abs(row["model_cut_pct"] - row["observed_cut_pct"]) <= 5, row


def test_china_2024_tables_show_each_giants_cut(china):
    f = china.firms
    for firm, cut in china.summary["firms"].items():
        if china.config.firms[firm].kind == "miner_host":
            continue  # a host posts no token price
        rows = f[f["firm"] == firm].sort_values("day")
        entry_price = china.config.firms[firm].price_usd_per_m
        if cut["price_cut"]["first_cut_day"] is None:
            assert (rows["price_usd_per_m"] > entry_price * (1 - CUT_THRESHOLD)).all()
            continue
        day = cut["price_cut"]["first_cut_day"]
        before = rows[rows["day"] < day]["price_usd_per_m"]
        at = rows[rows["day"] == day]["price_usd_per_m"].iloc[0]
        assert (before > entry_price * (1 - CUT_THRESHOLD)).all()
        assert at == pytest.approx(entry_price * (1 - cut["price_cut"]["first_cut_pct"] / 100))
    events = china.events[china.events["kind"] == "price_change"]
    alibaba = events[events["firm"] == "alibaba"].iloc[0]
    assert pd.Timestamp(alibaba["date"]) == pd.Timestamp("2024-05-21")
    assert "reaction to deepseek" in alibaba["detail"]


def test_china_without_deepseek_entry_nobody_cuts_in_may(run_cached):
    """The counterfactual the scenario exists for: no lean-lab entry, no May price war."""
    r = run_cached("scenario=china_2024",
                   "shocks=[{at: '2024-05-15', kind: entry, firm: bytedance},"
                   "{at: '2025-04-01', kind: entry, firm: deepseek}]")
    may = r.events[(r.events["kind"] == "price_change") & (r.events["day"] < 31)]
    assert may.empty


def test_china_figure_is_written(china, tmp_path):
    out = sim.write(china, tmp_path / "run")
    assert (out / "figures" / "prices.png").stat().st_size > 10_000


def test_china_2024_giants_clouds_rent_idle_gpus_out_at_the_worlds_price(china):
    """The giants' clouds sell their idle serving GPUs, the host its halls', at the world's
    rental price; each cloud's sales are its GPUs rented out times 24 times that price."""
    f, m = china.firms, china.market.set_index("day")
    cfg = china.config.compute
    assert cfg.world_rentals
    for giant in ("alibaba", "bytedance", "baidu", "tencent"):
        rows = f[f["firm"] == giant].set_index("day")
        assert (rows["gpus_rented_out"] > 0).any(), giant
        sold = rows["gpus_rented_out"] > 0
        np.testing.assert_allclose(rows.loc[sold, "compute_sales_usd"],
                                   24 * rows.loc[sold, "gpus_rented_out"]
                                   * m.loc[rows.index[sold], "compute_price_usd_per_gpu_hour"],
                                   rtol=1e-9)
        assert rows["compute_sales_usd"].sum() > rows["revenue_usd"].sum(), giant
    host = f[f["firm"] == "host"]
    assert host["mw_hosting"].iloc[-1] > 0  # its first halls host GPUs within the year
    assert (host["hosting_revenue_usd"] > 0).any()
