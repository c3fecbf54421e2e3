"""Benchmarks beside a run: each day's static Nash and joint-monopoly prices."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import sim
from sim import economics as econ
from sim.world.model import PriceWarModel


def test_logit_duopoly_benchmarks_are_the_closed_forms():
    r = sim.run(["scenario=logit_duopoly", "output.benchmarks=true", "horizon_days=30"])
    a, c = np.full(2, 2.0), np.full(2, 1.0)
    nash = econ.logit_nash_prices(a, c, 0.0, 0.25)[0]
    mono = econ.logit_monopoly_prices(a, c, 0.0, 0.25)[0]
    assert nash == pytest.approx(1.47293, abs=5e-6)
    np.testing.assert_allclose(r.firms["nash_price_usd_per_m"], nash, rtol=1e-7)
    np.testing.assert_allclose(r.firms["monopoly_price_usd_per_m"], mono, rtol=1e-7)
    # The run converges to the static equilibrium: price over Nash tends to 1.
    last = r.firms[r.firms["day"] == r.firms["day"].max()]
    np.testing.assert_allclose(last["price_usd_per_m"] / last["nash_price_usd_per_m"], 1.0,
                               atol=1e-5)


def test_each_days_nash_price_solves_that_days_capped_market():
    """On a solve day the benchmark is exact; between solves it is the equilibrium of a market
    within the drift tolerance of today's."""
    model = PriceWarModel(sim.validate(sim.compose(["output.benchmarks=true",
                                                    "horizon_days=150"])))
    exact_days = 0
    for _ in range(150):
        before = model.benchmarks.solves["nash"]
        model.step()
        act = model.token_firms
        d = model.day - 1
        p0 = model.outside_price(d)
        market = econ.SegmentMarket(  # the firms, then the outside seller (cost = its price)
            np.array([f.seller.quality for f in act] + [model.outside_quality(d)]),
            np.array([f.seller.marginal_cost for f in act] + [p0]),
            model.segments.sizes_at(d), model.segments.alpha, model.segments.theta,
            0.0, model.no_purchase_quality,
            np.array([f.seller.outcome.capacity_m_tokens for f in act] + [np.inf]), model.usage)
        players = np.arange(len(act))
        fresh = econ.nash_prices(market, np.append(model.benchmarks.nash, p0), players,
                                 capacity=True)
        full = np.append(fresh, p0)
        for i in range(len(act)):  # every firm's capped best response to the others
            assert econ.best_response(market, full, i, capacity=True) == \
                pytest.approx(fresh[i], rel=1e-7)
        if model.benchmarks.solves["nash"] > before:
            np.testing.assert_allclose(model.benchmarks.nash, fresh, rtol=1e-6)
            exact_days += 1
        else:
            np.testing.assert_allclose(model.benchmarks.nash, fresh, rtol=0.1)
    assert exact_days >= 5


def test_benchmarks_are_on_by_default_and_can_be_turned_off():
    on = sim.run(["horizon_days=10"])
    sellers = on.firms["firm"] != "host"  # a host posts no token price
    assert on.firms.loc[sellers, "nash_price_usd_per_m"].notna().all()
    assert on.firms.loc[~sellers, "nash_price_usd_per_m"].isna().all()
    ratio = (on.firms["price_usd_per_m"] / on.firms["nash_price_usd_per_m"])[
        on.firms["firm"] == "lab"].mean()
    assert on.summary["firms"]["lab"]["mean_price_over_nash"] == pytest.approx(ratio, rel=1e-12)
    off = sim.run(["horizon_days=10", "output.benchmarks=false"])
    assert off.firms["nash_price_usd_per_m"].isna().all()
    assert off.summary["firms"]["lab"]["mean_price_over_nash"] is None
    # The benchmarks only observe: the run itself is the same.
    cols = [c for c in off.firms.columns if not c.endswith(("nash_price_usd_per_m",
                                                            "monopoly_price_usd_per_m"))]
    pd.testing.assert_frame_equal(on.firms[cols], off.firms[cols])
    pd.testing.assert_frame_equal(on.market, off.market)


def test_demand_report_elasticities_diversion_and_lerner():
    """At the logit Nash equilibrium each firm's Lerner index is minus one over its own-price
    elasticity (the inverse-elasticity rule); diversion ratios sum to one with the outside.
    The run's final prices are within 1e-6 of the Nash price, hence the tolerance."""
    r = sim.run(["scenario=logit_duopoly"])
    report = r.summary["demand"]
    assert report["day"] == r.summary["final_day"]
    for firm, d in report["firms"].items():
        assert d["lerner"] == pytest.approx(-1.0 / d["own_price_elasticity"], rel=1e-5), firm
        assert sum(d["diversion"].values()) == pytest.approx(1.0, rel=1e-12)
