"""Budgets that bind: GPU orders and training runs are cut to a firm's free funds (cash plus its
owners' committed backing, less a reserve), a parent pays the division's shortfall (capex
included) within its cap and budget, and a firm that cannot pay exits."""

from __future__ import annotations

import numpy as np
import pytest
from invariants import WITHOUT_HOSTS

import sim
from sim.core.errors import ConfigError

#: The Calvano duopoly, short: firm ``a`` is the one whose money is tested.
DUOPOLY = ("scenario=logit_duopoly", "horizon_days=40")
#: One GPU-day costs 24 * cost_per_gpu_hour = 24 USD in the duopoly.
RUN_DAYS = 90
PER_GPU_RUN = 24.0 * 1.0 * RUN_DAYS


def _events(result, firm, kind=None):
    e = result.events[result.events["firm"] == firm]
    return e if kind is None else e[e["kind"] == kind]


def _rows(result, firm):
    return result.firms[result.firms["firm"] == firm].set_index("day")


# ----------------------------------------------------------------------------- research
def _training(cash):
    return sim.run([*DUOPOLY, "firms.a.gpus=10", f"firms.a.cash_usd={cash}",
                    "firms.a.research.rule=fixed_share", "firms.a.research.gpu_share=1.0",
                    f"firms.a.research.run_days={RUN_DAYS}"])


def test_a_training_run_is_cut_to_the_funds_or_not_started():
    # At time 0 the firm has no history: free funds = cash (no fixed cost, nothing committed).
    rich = _training(1e6)
    assert _events(rich, "a", "training_start")["value"].tolist() == [10.0]
    assert _events(rich, "a", "unfunded").empty

    cut = _training(5000)
    start = _events(cut, "a", "training_start")
    assert start["value"].tolist() == [pytest.approx(5000 / PER_GPU_RUN)]  # 2.31 of 10 GPUs
    unfunded = _events(cut, "a", "unfunded")
    assert unfunded["value"].iloc[0] == pytest.approx(5000)  # the free funds it had
    # The run's cost is paid from cash: it never goes below zero (revenue only adds).
    assert _rows(cut, "a")["cash_usd"].min() >= 0

    poor = _training(1000)  # pays for 0.46 GPUs: no run, asked again after gap_days
    assert _events(poor, "a", "training_start").empty
    assert len(_events(poor, "a", "unfunded")) == 2  # day 0 and day 30
    assert (_rows(poor, "a")["training_cost_usd"] == 0).all()


# ----------------------------------------------------------------------------- GPU orders
def _orders(cash):
    # One thousandth of a GPU serves far less than forecast demand: the rule wants more.
    return sim.run([*DUOPOLY, "firms.a.gpus=0.001", f"firms.a.cash_usd={cash}",
                    "firms.a.capacity.rule=forecast"])


def test_a_firm_without_funds_cannot_order_gpus():
    rich, poor = _orders(1e6), _orders(0)
    order = _events(rich, "a", "gpu_order")
    assert len(order) == 1 and order["value"].iloc[0] > 0
    assert _rows(rich, "a")["capex_usd"].sum() == pytest.approx(order["value"].iloc[0] * 30_000)
    assert _events(poor, "a", "gpu_order").empty
    assert (_rows(poor, "a")["capex_usd"] == 0).all()
    unfunded = _events(poor, "a", "unfunded")
    assert len(unfunded) == 1 and unfunded["detail"].iloc[0].startswith("GPU order")
    # Its free funds were its cash, all of it revenue earned since day 0.
    assert unfunded["value"].iloc[0] == pytest.approx(_rows(poor, "a").loc[:29, "revenue_usd"]
                                                      .sum() - _rows(poor, "a").loc[
                                                          :29, "serving_cost_usd"].sum())


# ----------------------------------------------------------------------------- exit
#: A giant division with no cash of its own, losing about 1e8 USD a day.
BROKE = ("horizon_days=30", "firms.giant.cash_usd=0", "firms.giant.fixed_cost_usd_per_day=1e8",
         "firms.giant.subsidy_usd_per_day=2e8")


def test_a_division_lives_while_its_parent_pays_and_exits_when_the_money_stops():
    backed = sim.run(list(BROKE))
    assert "giant" in backed.summary["survivors"]
    giant = _rows(backed, "giant")
    loss = -(giant["revenue_usd"] - giant["serving_cost_usd"] - giant["training_cost_usd"]
             - giant["fixed_cost_usd"] - giant["capex_usd"])
    np.testing.assert_allclose(giant["subsidy_usd"], loss, rtol=1e-9)  # every day's shortfall
    np.testing.assert_allclose(giant["cash_usd"], 0.0, atol=1e-3)

    budget = sim.run([*BROKE, "firms.giant.subsidy_budget_usd=1e9"])
    spent = _events(budget, "giant", "budget_spent")
    exit_ = _events(budget, "giant", "exit")
    assert len(spent) == 1 and len(exit_) == 1
    # The day the budget runs out the day's shortfall is not covered: cash < 0, no backing.
    assert budget.summary["exit_days"]["giant"] == int(spent["day"].iloc[0])
    assert _rows(budget, "giant")["subsidy_usd"].sum() == pytest.approx(1e9, rel=1e-12)
    assert exit_["value"].iloc[0] < 0  # cash at exit

    withdrawn = sim.run([*BROKE, "firms.giant.withdraw_after_loss_days=5"])
    gone = int(_events(withdrawn, "giant", "parent_withdraws")["day"].iloc[0])
    assert gone == 4  # five loss days, 0-4; that day is still paid ...
    assert withdrawn.summary["exit_days"]["giant"] == gone + 1  # ... the next is not

    alone = sim.run([*BROKE, "firms.giant.subsidy_usd_per_day=0"])
    assert alone.summary["exit_days"]["giant"] == 0


def test_a_backed_division_may_overdraw_by_no_more_than_its_backing():
    """A GPU order beyond the division's cash is paid from the parent's next ``H`` days of
    backing: the cash can dip below 0, never below ``-cap * H``, and the parent pays it back at
    its cap (the shortfall carried), so the division does not exit."""
    r = sim.run(["horizon_days=200", "firms.giant.cash_usd=1e8", "firms.giant.gpu_lead_days=10",
                 "firms.giant.capacity.headroom=3.0"])
    giant = _rows(r, "giant")
    cap, horizon = 2e7, 90.0
    assert giant["capex_usd"].max() > 1e8  # an order larger than its own cash
    assert giant["cash_usd"].min() < 0
    assert giant["cash_usd"].min() >= -cap * horizon
    assert "giant" in r.summary["survivors"]


# ----------------------------------------------------------------------------- deep pockets
#: A giant division with 0.1 $bn of cash in the default market: its GPU and training wants
#: exceed its own money.
SMALL_GIANT = ("firms.giant.cash_usd=1e8", "horizon_days=730")


@pytest.fixture(scope="module")
def pockets(run_cached):
    # The token market alone: with the default's rentals from the rest of the world a poor
    # giant rents the capacity it cannot buy.
    return {cap: run_cached(*WITHOUT_HOSTS, *SMALL_GIANT, f"firms.giant.subsidy_usd_per_day={cap}")
            for cap in ("0", "2e7")}


def test_deep_pockets_change_what_a_cash_poor_giant_does(pockets):
    poor, rich = _rows(pockets["0"], "giant"), _rows(pockets["2e7"], "giant")
    # Without backing it spends at most what it has: cash never below 0 while it is in.
    assert poor["cash_usd"].iloc[:-1].min() >= 0
    assert not _events(pockets["0"], "giant", "unfunded").empty
    # With it, it invests and trains more, and the market differs.
    spend = lambda g: g["capex_usd"].sum() + g["training_cost_usd"].sum()  # noqa: E731
    assert spend(rich) > spend(poor)
    assert rich["quality"].max() > poor["quality"].max()
    days = poor.index.intersection(rich.index)
    assert not np.allclose(poor.loc[days, "price_usd_per_m"], rich.loc[days, "price_usd_per_m"])
    assert not np.allclose(poor.loc[days, "token_share"], rich.loc[days, "token_share"])
    assert pockets["0"].summary["consumer_surplus_usd"] != \
        pockets["2e7"].summary["consumer_surplus_usd"]
    # A division the parent backs outlives one it does not.
    assert len(rich) >= len(poor)


@pytest.mark.slow
def test_a_parents_money_buys_a_cash_poor_giant_its_fleet():
    """Over the default three years of the token market alone: with 0.1 $bn of cash, no backing
    leaves the giant with a third of the GPUs and a lower quality than a 20M-a-day parent buys
    it."""
    runs = {cap: sim.run([*WITHOUT_HOSTS, "firms.giant.cash_usd=1e8",
                          f"firms.giant.subsidy_usd_per_day={cap}"])
            for cap in ("0", "2e7")}
    poor, rich = _rows(runs["0"], "giant"), _rows(runs["2e7"], "giant")
    assert rich["gpus"].iloc[-1] > 2 * poor["gpus"].iloc[-1]
    assert rich["quality"].iloc[-1] > poor["quality"].iloc[-1]
    assert rich["token_share"].mean() > poor["token_share"].mean()


# ----------------------------------------------------------------------------- config
@pytest.mark.parametrize("value", ["-1", "4000"])
def test_a_bad_reserve_is_refused_naming_key_value_and_range(value):
    with pytest.raises(ConfigError) as err:
        sim.run([f"firms.lab.runway_reserve_days={value}"])
    assert "firms.lab.runway_reserve_days" in str(err.value)
    assert value in str(err.value) and "3650" in str(err.value)


def test_forecast_no_longer_takes_a_cash_share():
    with pytest.raises(ConfigError) as err:
        sim.run(["firms.lab.capacity.max_cash_share=0.5"])
    assert "max_cash_share" in str(err.value)
