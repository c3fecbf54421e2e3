"""Money that decides survival: a parent's budget, the predate rule, and the predation scenario."""

from __future__ import annotations

import numpy as np
import pytest

import sim
from sim.strategies import make
from sim.views import MarketView


def _prices(result, firm):
    return result.firms[result.firms["firm"] == firm].set_index("day")["price_usd_per_m"]


@pytest.fixture(scope="module")
def war(run_cached):
    return run_cached("scenario=predation")


def test_predation_pushes_the_lab_out_then_the_giant_recoups(war):
    exit_day = war.summary["exit_days"]["lab"]
    assert war.summary["survivors"] == ["giant"]
    giant = _prices(war, "giant")
    during, after = giant.loc[:exit_day].mean(), giant.loc[exit_day + 1:].mean()
    assert after > during  # recoupment
    lab_cost = war.firms[war.firms["firm"] == "lab"]["marginal_cost_usd_per_m"].iloc[0]
    giant_cost = war.firms[war.firms["firm"] == "giant"]["marginal_cost_usd_per_m"].iloc[0]
    war_days = giant.loc[30:exit_day]
    assert (war_days <= lab_cost + 1e-12).mean() > 0.5  # priced at the lab's cost ...
    assert lab_cost < giant_cost  # ... which is below the giant's own
    assert war.summary["firms"]["giant"]["subsidy_usd"] > 0


def test_without_the_parents_money_the_lab_survives(run_cached):
    calm = run_cached("scenario=predation", "firms.giant.subsidy_usd_per_day=0")
    assert calm.summary["survivors"] == ["lab", "giant"]
    assert calm.summary["firms"]["giant"]["subsidy_usd"] == 0
    assert _prices(calm, "giant").min() > calm.firms["marginal_cost_usd_per_m"].max()


def test_a_giant_whose_budget_runs_out_stops_predating():
    r = sim.run(["scenario=predation", "firms.giant.subsidy_budget_usd=5e7"])
    spent = r.events[r.events["kind"] == "budget_spent"]
    assert len(spent) == 1
    day = int(spent["day"].iloc[0])
    giant = r.firms[r.firms["firm"] == "giant"].set_index("day")
    assert giant["subsidy_usd"].sum() == pytest.approx(5e7, rel=1e-9)
    assert (giant.loc[day + 1:, "subsidy_usd"] == 0).all()
    # At its next decision the giant re-optimises: it never predates again.
    changes = r.events[(r.events["kind"] == "price_change") & (r.events["firm"] == "giant")
                       & (r.events["day"] > day)]
    lab_cost = r.firms[r.firms["firm"] == "lab"]["marginal_cost_usd_per_m"].iloc[0]
    assert len(changes) >= 1 and (changes["value"] > 10 * lab_cost).all()
    assert "lab" in r.summary["survivors"]


def test_the_parent_withdraws_after_sustained_losses():
    r = sim.run(["scenario=predation", "firms.giant.withdraw_after_loss_days=20"])
    gone = r.events[r.events["kind"] == "parent_withdraws"]
    assert len(gone) == 1
    day = int(gone["day"].iloc[0])
    giant = r.firms[r.firms["firm"] == "giant"].set_index("day")
    losses = giant["revenue_usd"] - giant["serving_cost_usd"] - giant["training_cost_usd"] \
        - giant["fixed_cost_usd"]
    assert (losses.loc[day - 19:day] < 0).all()
    assert (giant.loc[day + 1:, "subsidy_usd"] == 0).all()


# ----------------------------------------------------------------------------- the rule itself
class _Me:
    def __init__(self, backing=1e6, mc=0.1, price=1.0):
        self.backing_usd_per_day, self.backing_left_usd = backing, backing
        self.marginal_cost, self.price = mc, price


def _market(names=("giant", "lab", "other"), prices=(1.0, 0.8, 0.9), costs=(0.1, 0.02, 0.05),
            qualities=(1290.0, 1280.0, 1200.0)):
    n, one = len(names), np.ones(3)
    return MarketView(me=0, names=tuple(names), prices=np.array(prices), costs=np.array(costs),
                      qualities=np.array(qualities), capacities=np.full(n, 1e9),
                      sizes=one * 1e3, alpha=one * 3.0, theta=one * 0.01, frontier_price=4.0,
                      frontier_quality=1300.0, capacity_limits=False, no_purchase_quality=1100.0)


def test_predate_prices_at_the_preys_cost_while_backed_then_best_responds():
    from sim.strategies.pricing import _best_response

    rule = make("pricing", {"rule": "predate", "target": "lab"})
    market = _market()
    assert rule.price(market, _Me(), None) == pytest.approx(0.02)  # the lab's marginal cost
    deep = make("pricing", {"rule": "predate", "target": "lab", "depth": 0.5, "floor": 0.15})
    assert deep.price(market, _Me(), None) == pytest.approx(0.015)  # floor: 0.15 * own 0.1
    br = _best_response(market)
    assert rule.price(market, _Me(backing=0.0), None) == pytest.approx(br)  # no money
    gone = _market(names=("giant", "x", "other"))
    assert rule.price(gone, _Me(), None) == pytest.approx(_best_response(gone))  # prey gone
    nearest = make("pricing", {"rule": "predate"})
    assert nearest.prey(market) == 1  # the lab's quality is the closest to the giant's


def test_undercut_alone_re_optimises_or_holds():
    from sim.strategies.pricing import _best_response

    market = _market(qualities=(1290.0, 1000.0, 1000.0))  # no comparable rival
    me = _Me(price=3.0)
    assert make("pricing", {"rule": "undercut"}).price(market, me, None) == \
        pytest.approx(_best_response(market))
    assert make("pricing", {"rule": "undercut", "alone": "hold"}).price(market, me, None) == 3.0
