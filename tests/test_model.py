"""The simulation's mechanics: the clock, Mesa agents, SimPy processes and each decision rule."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from invariants import WITHOUT_HOSTS

import sim
from sim import economics as econ
from sim.firms import LeanLab, MinerHost, TechGiant
from sim.markets.tokens import clear
from sim.strategies import make
from sim.views import MarketView
from sim.world.model import PriceWarModel

DUO = ["scenario=logit_duopoly"]


def _model(*overrides):
    return PriceWarModel(sim.validate(sim.compose(list(overrides))))


def _events(result, kind, firm=None):
    e = result.events[result.events["kind"] == kind]
    return e if firm is None else e[e["firm"] == firm]


def _prices(result, firm):
    return result.firms[result.firms["firm"] == firm].set_index("day")["price_usd_per_m"]


# ----------------------------------------------------------------------------- clock and agents
def test_step_advances_one_day_and_mesa_time_is_simpy_time():
    model = _model("horizon_days=10")
    assert model.env.now == 0 and model.time == 0
    for day in (1, 2, 3):
        model.step()
        assert model.env.now == day == model.time == model.steps
    assert len(model.datacollector.model_vars["day"]) == 3


def test_firms_are_mesa_agents_and_run_stops_at_horizon():
    model = _model(*WITHOUT_HOSTS, "horizon_days=30")
    assert {type(a) for a in model.agents} == {LeanLab, TechGiant}
    assert {type(a) for a in _model("horizon_days=1").agents} == {LeanLab, TechGiant, MinerHost}
    assert len(model.agents_by_type[LeanLab]) == 1
    model.run()
    assert model.env.now == 30 and not model.running
    firms, market, _ = model.tables()
    assert list(market["day"]) == list(range(30))
    assert len(firms) == 2 * 30


def test_entry_shock_adds_an_agent_on_its_date(run_cached):
    r = run_cached("scenario=china_2024")
    first = r.firms.groupby("firm")["day"].min()
    assert first["deepseek"] == 5 and first["bytedance"] == 14  # 2024-05-06 and 2024-05-15
    assert first[["alibaba", "baidu", "tencent"]].eq(0).all()
    entries = _events(r, "entry")
    assert entries.set_index("firm").loc["deepseek", "time"] == 5.0


# ----------------------------------------------------------------------------- pricing rules
def test_best_response_matches_closed_form_in_calvano_mapping():
    """One review of firm a against b's fixed price equals the logit best response."""
    model = _model(*DUO, "firms.b.price_usd_per_m=1.7")
    a = model.firms["a"]
    got = a.seller.decide_price()
    # a_i = theta * q = 2, mu = 1/alpha = 0.25, c = 1, a0 = 0.
    expected = econ.logit_best_response([1.0, 1.7], 0, [2.0, 2.0], [1.0, 1.0], 0.0, 0.25)
    assert got == pytest.approx(expected, rel=1e-8)


def _capacity_aware_response(gpus):
    """Firm a's capacity-aware best response to b at 1.0: (price, demand there, capacity)."""
    model = _model(*DUO, "market.capacity_limits=true", f"firms.a.gpus={gpus}",
                   "firms.a.pricing.capacity_aware=true")
    a = model.firms["a"]
    view = model.view(a)
    p = a.seller.decide_price()
    prices = view.prices.copy()
    prices[view.me] = p
    demand = clear(prices, view.qualities, None, view.sizes, view.alpha, view.theta,
                   0.0, view.no_purchase_quality, usage=view.usage).demand[view.me]
    assert view.capacity == a.seller.capacity_m_tokens == pytest.approx(gpus * 24)
    return p, demand, view.capacity


def test_capacity_aware_best_response_prices_demand_down_to_capacity():
    unconstrained = econ.logit_best_response([1.0, 1.0], 0, [2, 2], [1, 1], 0.0, 0.25)
    # Ample capacity (4.8 a day): the logit best response, 1.3186, which sells 0.215 a day.
    p, demand, cap = _capacity_aware_response(0.2)
    assert p == pytest.approx(unconstrained, rel=1e-8) and demand < cap
    # K = 0.12 a day: the price rises until demand equals capacity.
    p, demand, cap = _capacity_aware_response(0.005)
    assert demand == pytest.approx(cap, rel=1e-3)
    assert p > unconstrained


def test_cost_plus_is_markup_over_marginal_cost():
    r = sim.run([*DUO, "horizon_days=5", "firms.a.pricing.rule=cost_plus",
                 "firms.a.pricing.markup=0.3"])
    # c = cost_per_gpu_hour / tokens_per_gpu_hour = 1.
    assert _prices(r, "a").iloc[-1] == pytest.approx(1.3)


def _view(prices, qualities, me=0):
    one = np.ones(1)
    n = len(prices)
    return MarketView(me=me, names=tuple("abcdefgh"[:n]), prices=np.array(prices, float),
                      qualities=np.array(qualities, float), costs=np.zeros(n),
                      capacities=np.full(n, np.inf), sizes=one, alpha=one, theta=one * 0.01,
                      frontier_price=None, frontier_quality=None, capacity_limits=False,
                      no_purchase_quality=0.0)


class _Firm:  # the attributes of a FirmView that these pricing rules read
    def __init__(self, price, mc, share=0.0):
        self.price, self.marginal_cost, self.choice_share = price, mc, share


def test_undercut_beats_cheapest_comparable_rival_within_floor():
    rule = make("pricing", {"rule": "undercut", "step": 0.1, "floor": 1.0, "quality_gap": 50})
    firm = _Firm(price=3.0, mc=0.5)
    # Rival b (quality 1260) is comparable, c (1100) is not, though cheaper.
    assert rule.price(_view([3.0, 2.0, 0.1], [1300, 1260, 1100]), firm, None) == pytest.approx(1.8)
    # Never below floor * marginal cost.
    assert rule.price(_view([3.0, 0.52], [1300, 1300]), firm, None) == pytest.approx(0.5)
    # No comparable rival: with alone=hold the price stays (the default re-optimises:
    # tests/test_predation.py).
    hold = make("pricing", {"rule": "undercut", "step": 0.1, "alone": "hold"})
    assert hold.price(_view([3.0, 0.1], [1300, 1000]), firm, None) == 3.0
    relent = make("pricing", {"rule": "undercut", "step": 0.1, "relent_markup": 2.0})
    assert relent.price(_view([3.0, 0.52], [1300, 1300]), firm, None) == pytest.approx(1.5)


def test_undercut_with_relenting_makes_edgeworth_cycles():
    """Maskin-Tirole: alternating undercuts down to cost, then a jump back up, repeatedly."""
    rules = ["firms.{f}.pricing.rule=undercut", "firms.{f}.pricing.step=0.1",
             "firms.{f}.pricing.floor=1.0", "firms.{f}.pricing.relent_markup=1.0"]
    r = sim.run([*DUO, "horizon_days=200", *[x.format(f=f) for f in "ab" for x in rules],
                 "firms.a.price_usd_per_m=2.0", "firms.b.price_usd_per_m=2.0"])
    p = _prices(r, "a").to_numpy()
    steps = np.diff(p)
    jumps = np.flatnonzero(steps > 0.5)
    assert len(jumps) >= 3  # several relenting jumps ...
    # ... between gradual undercuts: each cut at most two 10% steps below the old price.
    assert (p[1:][steps < 0] / p[:-1][steps < 0] >= 0.81 - 1e-12).all()
    assert p.min() >= 1.0 - 1e-12  # never below cost


def test_penetration_then_harvest():
    rule = make("pricing", {"rule": "penetration", "target_share": 0.3, "markup": 1.0,
                            "entry_markup": 0.0})
    view = _view([1.0, 2.0], [1, 1])
    low = _Firm(price=1.0, mc=0.5, share=0.1)
    assert rule.price(view, low, None) == pytest.approx(0.5)
    low.choice_share = 0.35
    assert rule.price(view, low, None) == pytest.approx(1.0)
    low.choice_share = 0.05  # harvesting is for good
    assert rule.price(view, low, None) == pytest.approx(1.0)


def test_scripted_prices_change_on_their_dates():
    r = sim.run([*DUO, "horizon_days=40", "firms.a.pricing.rule=scripted",
                 "firms.a.pricing.path=[[10, 1.8], ['2024-01-21', 1.2]]"])
    p = _prices(r, "a")
    assert p.loc[9] == 1.0 and p.loc[10] == 1.8 and p.loc[19] == 1.8 and p.loc[20] == 1.2
    changes = _events(r, "price_change", "a")
    assert list(changes["time"]) == [10.0, 20.0]


# ----------------------------------------------------------------------------- reactions
def test_reaction_comes_exactly_one_lag_after_a_rivals_move():
    r = sim.run([*DUO, "horizon_days=30", "firms.b.reaction_lag_days=3",
                 "firms.a.review_days=1000", "firms.b.review_days=1000",
                 "firms.a.first_review_day=1000", "firms.b.first_review_day=1000",
                 "shocks=[{at: 12, kind: price_cut, firm: a, fraction: 0.2}]"])
    a = _events(r, "price_change", "a")
    b = _events(r, "price_change", "b")
    assert list(a["time"]) == [12.0]
    assert list(b["time"]) == [15.0]
    assert "reaction to a" in b["detail"].iloc[0]


def test_simultaneous_moves_are_all_seen():
    """c watches b only; a and b both cut at day 12: c must still react to b's cut."""
    quiet = [f"firms.{f}.{k}=1000" for f in "abc" for k in ("review_days", "first_review_day")]
    r = sim.run([*DUO, "horizon_days=30", "+firm@firms.c=lean_lab", *quiet,
                 "firms.c.reaction_lag_days=2", "firms.c.reacts_to=[b]",
                 "firms.c.research.rule=none", "firms.c.capacity.rule=none",
                 "firms.c.quality=200", "firms.c.cost_per_gpu_hour_usd=1",
                 "firms.c.inference_efficiency=1", "firms.c.price_usd_per_m=3",
                 "firms.c.funding.enabled=false",
                 "shocks=[{at: 12, kind: price_cut, firm: a, fraction: 0.2},"
                 "{at: 12, kind: price_cut, firm: b, fraction: 0.2}]"])
    c = _events(r, "price_change", "c")
    assert list(c["time"]) == [14.0]
    assert "reaction to b" in c["detail"].iloc[0]


def test_moves_during_the_lag_are_answered_by_one_review():
    r = sim.run([*DUO, "horizon_days=30", "firms.b.reaction_lag_days=5",
                 "firms.a.first_review_day=1000", "firms.b.first_review_day=1000",
                 "shocks=[{at: 10, kind: price_cut, firm: a, fraction: 0.1},"
                 "{at: 12, kind: price_cut, firm: a, fraction: 0.1}]"])
    b = _events(r, "price_change", "b")
    assert list(b["time"]) == [15.0]
    assert "and 1 later move" in b["detail"].iloc[0]


def test_firms_only_react_to_whom_they_watch():
    r = sim.run([*DUO, "horizon_days=30", "firms.b.reaction_lag_days=3", "firms.b.reacts_to=[b]",
                 "firms.a.first_review_day=1000", "firms.b.first_review_day=1000",
                 "shocks=[{at: 12, kind: price_cut, firm: a, fraction: 0.2}]"])
    assert _events(r, "price_change", "b").empty


def test_logit_duopoly_converges_to_nash_within_half_a_percent(run_cached):
    r = run_cached("scenario=logit_duopoly")
    # Independent FOC solve: p - 1 = 0.25 / (1 - s(p)), s = e^{(2-p)/.25} / (2 e^{(2-p)/.25} + 1)
    p = 1.5
    for _ in range(200):
        e = np.exp((2 - p) / 0.25)
        p = 1 + 0.25 / (1 - e / (2 * e + 1))
    final = r.firms[r.firms["day"] == r.firms["day"].max()]["price_usd_per_m"]
    assert np.all(np.abs(final / p - 1) < 0.005)
    assert np.all(np.abs(final / 1.47293 - 1) < 0.005)


# ----------------------------------------------------------------------------- money and GPUs
def test_lab_exits_when_cash_runs_out_without_funding():
    r = sim.run([*WITHOUT_HOSTS, "horizon_days=120", "firms.lab.cash_usd=1e6",
                 "firms.lab.funding.enabled=false", "firms.lab.fixed_cost_usd_per_day=1e8"])
    exits = _events(r, "exit", "lab")
    assert len(exits) == 1
    day = int(exits["day"].iloc[0])
    assert r.firms[r.firms["firm"] == "lab"]["day"].max() == day
    assert r.summary["exit_days"]["lab"] == day == r.summary["firms"]["lab"]["exit_day"]
    assert r.summary["survivors"] == ["giant"]
    last = r.firms[(r.firms["firm"] == "lab") & (r.firms["day"] == day)]
    assert float(last["cash_usd"].iloc[0]) < 0


def test_exited_firm_is_removed_from_the_mesa_model():
    model = _model(*WITHOUT_HOSTS, "horizon_days=40", "firms.lab.cash_usd=1e6",
                   "firms.lab.funding.enabled=false", "firms.lab.fixed_cost_usd_per_day=1e8")
    model.run()
    assert [type(a) for a in model.agents] == [TechGiant]
    assert [f.name for f in model.active] == ["giant"]


def test_funding_round_closes_and_adds_cash():
    # Burn ~7.7M USD a day against 50M of cash: the runway is a week, so a round starts at once.
    r = sim.run(["horizon_days=200", "firms.lab.cash_usd=5e7",
                 "firms.lab.fixed_cost_usd_per_day=1e7", "firms.lab.funding.success_intercept=50",
                 "firms.lab.funding.round_days=30", "firms.lab.funding.min_round_usd=1e9"])
    start = _events(r, "funding_start", "lab")
    done = _events(r, "funding_round", "lab")
    assert len(start) >= 1 and len(done) >= 1
    assert start["day"].iloc[0] == 0
    assert done["time"].iloc[0] - start["time"].iloc[0] == pytest.approx(30.0)
    assert done["value"].iloc[0] >= 1e9
    lab = r.firms[r.firms["firm"] == "lab"]
    assert lab["funding_usd"].sum() == pytest.approx(done["value"].sum())
    assert "lab" in r.summary["survivors"]


def test_gpu_orders_are_paid_now_and_arrive_after_the_lead_time():
    r = sim.run(["horizon_days=400"])
    for firm in ("lab", "giant"):
        orders = _events(r, "gpu_order", firm)
        deliveries = _events(r, "gpu_delivery", firm)
        assert len(orders) >= 1
        lead = r.config.firms[firm].gpu_lead_days
        n = min(len(orders), len(deliveries))
        ordered, delivered = orders.iloc[:n], deliveries.iloc[:n]
        np.testing.assert_allclose(delivered["time"].to_numpy() - ordered["time"].to_numpy(), lead)
        np.testing.assert_allclose(delivered["value"].to_numpy(), ordered["value"].to_numpy())
        capex = r.firms[r.firms["firm"] == firm]["capex_usd"].sum()
        assert capex == pytest.approx(orders["value"].sum() * r.config.firms[firm].gpu_price_usd)


def test_training_run_holds_gpus_then_releases_a_model_of_the_predicted_quality():
    r = sim.run(["horizon_days=80", "firms.lab.research.rule=fixed_share",
                 "firms.lab.research.gpu_share=0.5", "firms.lab.research.run_days=20",
                 "firms.lab.research.gap_days=1000", "firms.lab.capacity.rule=none",
                 "firms.lab.gpu_depreciation_per_year=0", "firms.lab.quality=900",
                 "technology.algorithmic_progress_per_year=1"])
    lab = r.firms[r.firms["firm"] == "lab"].set_index("day")
    g = r.config.firms["lab"].gpus
    assert lab.loc[5, "gpus_training"] == pytest.approx(g / 2)
    assert lab.loc[5, "gpus_serving"] == pytest.approx(g / 2)
    assert lab.loc[25, "gpus_training"] == 0 and lab.loc[25, "gpus_serving"] == pytest.approx(g)
    release = _events(r, "release", "lab")
    assert release["time"].iloc[0] == pytest.approx(20.0)  # starts at day 0, runs 20 days
    # Effective compute: 20 days of g/2 GPUs booked daily, times training efficiency.
    t = r.config.technology
    compute = 20 * (g / 2) * 24 * r.config.firms["lab"].training_efficiency
    expected = t.quality_anchor + t.points_per_decade * np.log10(compute / t.anchor_gpu_hours)
    assert release["value"].iloc[0] == pytest.approx(expected)
    assert lab.loc[30, "quality"] == pytest.approx(expected)
    assert lab.loc[5, "training_cost_usd"] == pytest.approx(
        g / 2 * 24 * r.config.firms["lab"].cost_per_gpu_hour_usd)


def test_demand_jump_multiplies_market_size():
    r = sim.run(["horizon_days=20", "segments.growth_per_year=1",
                 "shocks=[{at: 10, kind: demand_jump, factor: 2.5}]"])
    total = r.market.set_index("day")["total_demand_m_tokens"]
    assert total.loc[10] == pytest.approx(2.5 * total.loc[9])
    assert total.loc[19] == pytest.approx(total.loc[10])


@pytest.mark.parametrize("scenario", ["lean_lab_vs_giant", "china_2024"])
def test_offer_book_matches_exact_rival_terms_after_many_moves(scenario):
    """The incremental O(S) book agrees with a from-scratch log-sum-exp, extreme tastes included."""
    model = _model(f"scenario={scenario}", "horizon_days=60")
    rng = np.random.default_rng(0)
    for _ in range(40):
        model.step()
        for firm in list(model.token_firms):  # random moves, some of them huge cuts to zero
            if rng.random() < 0.5:
                firm.seller.set_price(firm.seller.price * rng.choice([0.0, 0.01, 0.5, 2.0, 50.0]),
                                      "test")
        for firm in model.token_firms:
            view = model.view(firm)
            exact = dataclasses.replace(view, book=None).rival_log_term()
            np.testing.assert_allclose(view.rival_log_term(), exact, rtol=1e-10, atol=1e-10)
