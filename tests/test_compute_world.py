"""The GPU-hour market in the world: clearing, renting, contracts, own-or-rent, GPU prices and
supply, export controls (sim/world/compute.py, sim/firms/renting.py), on the real model."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
from invariants import ALL, WITHOUT_HOSTS

import sim
from sim.core.errors import ConfigError
from sim.strategies import make
from sim.views import FirmView
from sim.world.compute import QUARTER_DAYS, clear_with_controls, with_world
from sim.world.model import PriceWarModel
from sim.world.schedule import DAILY_STEPS

#: The export-controls scenario without its shock: the lab rents from the giant's cloud.
TRADE = ("scenario=export_controls", "shocks=[]", "output.figures=false")


def _model(*overrides) -> PriceWarModel:
    return PriceWarModel(sim.validate(sim.compose(list(overrides))))


def _run_model(*overrides) -> PriceWarModel:
    model = _model(*overrides)
    model.run()
    return model


@pytest.fixture(scope="module")
def trade():
    """A model of 280 days (40 clearings) in which the lab rents, with its tables."""
    model = _run_model(*TRADE, "horizon_days=280")
    return model, *model.tables()


def _tph(model, name):
    return model.firms[name].seller.tokens_per_gpu_hour


# ----------------------------------------------------------------------------- the house
def test_the_market_is_off_without_compute_enabled_and_a_step_when_on():
    off = _model(*WITHOUT_HOSTS, "horizon_days=3")
    assert off.compute is None and "compute_market" not in off.schedule.order
    on = _model(*TRADE, "horizon_days=3")
    assert on.compute is not None and on.compute.period_days == 7
    assert on.schedule.order[:3] == ["shocks", "compute_market", "token_market"]
    steps = [n for n, _ in DAILY_STEPS]
    assert steps.index("compute_market") == steps.index("token_market") - 1
    assert math.isnan(on.compute.last_price)
    assert set(on.compute.price_of_new_gpu(0.0, 1.0) for _ in range(2)) == {1.0}


def test_without_the_market_every_compute_column_is_nan_and_nothing_is_rented():
    r = sim.run([*WITHOUT_HOSTS, "horizon_days=30", "output.figures=false"])
    m, f = r.market, r.firms
    assert m.filter(like="compute_").isna().all().all()
    assert f["compute_price_usd_per_gpu_hour"].isna().all()
    assert (f[["gpus_rented", "gpus_rented_out", "compute_rent_usd",
               "compute_sales_usd"]] == 0).all().all()


# ----------------------------------------------------------------------------- clearing
def test_every_clearing_conserves_gpu_hours(trade):
    model, _, market, _ = trade
    records = model.compute.clearings
    assert [r.day for r in records] == list(range(0, 280, 7))
    traded = [r for r in records if r.volume > 0]
    assert len(traded) >= 10
    for rec in records:
        sold = sum(f.sold for f in rec.fills.values())
        bought = sum(f.bought for f in rec.fills.values())
        offered = sum(f.asked for f in rec.fills.values())
        bid = sum(f.bid for f in rec.fills.values())
        for name, fill in rec.fills.items():
            assert 0 <= fill.sold <= fill.asked * (1 + 1e-12), (rec.day, name)
            assert 0 <= fill.bought <= fill.bid * (1 + 1e-12), (rec.day, name)
        assert sold == pytest.approx(bought, rel=1e-12) == pytest.approx(rec.volume, rel=1e-12)
        assert rec.volume <= min(offered, bid) * (1 + 1e-12) + 1e-9
        assert rec.supply == pytest.approx(offered) and rec.demand == pytest.approx(bid)
        assert rec.unmet == pytest.approx(max(bid - rec.volume, 0.0), abs=1e-6)
        earned = sum(f.earned_usd for f in rec.fills.values())
        paid = sum(f.paid_usd for f in rec.fills.values())
        assert earned == pytest.approx(paid, rel=1e-12)  # money changes hands, none is made
    # The market table repeats the last clearing on every day of its period.
    row = market.set_index("day")
    for rec in records:
        days = range(rec.day, min(rec.day + 7, 280))
        assert (row.loc[days, "compute_volume_gpu_hours"] == rec.volume).all()
        assert (row.loc[days, "compute_supply_gpu_hours"] == rec.supply).all()
        assert (row.loc[days, "compute_unmatched_gpu_hours"] == rec.unmet).all()
    last = max(r.day for r in traded)
    assert row.loc[last, "compute_price_usd_per_gpu_hour"] == next(
        r.price for r in records if r.day == last)


def test_gpus_used_never_exceed_gpus_owned_and_rented(trade):
    model, firms, _, _ = trade
    for name, rows in firms.groupby("firm"):
        serving = rows["served_m_tokens"] / (_tph(model, name) * 24.0)
        used = serving + rows["gpus_training"] + rows["gpus_rented_out"]
        assert (used <= (rows["gpus"] + rows["gpus_rented"]) * (1 + 1e-12) + 1e-9).all(), name
    lab = firms[firms["firm"] == "lab"]
    assert (lab["gpus_rented"] > 0).sum() >= 50  # the lab does rent
    assert (lab.loc[lab["gpus_rented"] > 0, "served_m_tokens"] / (_tph(model, "lab") * 24)
            > lab.loc[lab["gpus_rented"] > 0, "gpus_serving"]).any()  # and serves on them


def test_the_lab_books_what_it_pays_and_the_giant_what_it_earns(trade):
    model, firms, _, _ = trade
    by = firms.set_index(["firm", "day"])
    for rec in model.compute.clearings:
        days = list(range(rec.day, rec.day + 7))
        lab, giant = rec.fills["lab"], rec.fills["giant"]
        rent = by.loc[("lab", days), "compute_rent_usd"].sum()
        sales = by.loc[("giant", days), "compute_sales_usd"].sum()
        assert rent == pytest.approx(lab.paid_usd, rel=1e-9, abs=1e-6), rec.day
        assert sales == pytest.approx(giant.earned_usd, rel=1e-9, abs=1e-6), rec.day
        if lab.bought > 0:  # paid = price x GPU-hours bought, and rented GPUs = GPU-hours / 168
            assert lab.paid_usd == pytest.approx(rec.price * lab.bought, rel=1e-12)
            assert by.loc[("lab", rec.day), "gpus_rented"] == pytest.approx(lab.bought / 168)
            assert by.loc[("giant", rec.day), "gpus_rented_out"] == pytest.approx(
                giant.sold / 168)
    # The lab's operating profit carries its rent, the giant's its sales.
    total = firms.groupby("firm")[["compute_rent_usd", "compute_sales_usd"]].sum()
    assert total.loc["lab", "compute_rent_usd"] > 0
    assert total.loc["lab", "compute_rent_usd"] == pytest.approx(
        total.loc["giant", "compute_sales_usd"], rel=1e-9)


@pytest.mark.parametrize("overrides", [TRADE, ("scenario=export_controls",
                                                "output.figures=false")],
                         ids=["no shock", "shock"])
def test_runs_with_the_market_keep_every_invariant(overrides, run_cached):
    result = run_cached(*overrides, "horizon_days=400")
    for check in ALL:
        check(result)


def test_the_efficient_benchmark_resolves_a_warm_started_market():
    from sim.economics import SegmentMarket, demand_state, efficient_prices

    rng = np.random.default_rng(0)
    market = SegmentMarket(np.array([1300.0, 1290.0, 1300.0]), np.array([0.02, 0.09, 4.0]),
                           rng.uniform(1e5, 1e6, 20), rng.lognormal(2.5, 0.7, 20),
                           rng.lognormal(-4.6, 1.0, 20), 0.0, 1330.0,
                           np.array([3e5, 3e5, np.inf]))
    cold = efficient_prices(market, market.costs.copy(), np.arange(2))
    warm = efficient_prices(market, market.costs.copy(), np.arange(2), start=cold * 1.3)
    p = market.costs.copy()
    p[:2] = warm
    assert demand_state(market, p)[1][0] == pytest.approx(3e5, rel=1e-9)  # it fills capacity


def test_same_seed_same_tables_with_the_market():
    a = sim.run([*TRADE, "horizon_days=60"], seed=3)
    b = sim.run([*TRADE, "horizon_days=60"], seed=3)
    for x, y in ((a.firms, b.firms), (a.market, b.market), (a.events, b.events)):
        assert x.equals(y)


# ----------------------------------------------------------------------------- contracts
def test_contract_payments_are_price_times_volume_and_add_serving_gpus():
    model = _model(*WITHOUT_HOSTS, "horizon_days=40")  # no market: a host signs anyway
    lab = model.firms["lab"]
    model.step()
    before = lab.seller.capacity_m_tokens
    lab.renter.add_contract("miner", gpus=300.0, price_usd_per_gpu_hour=2.1, days=10)
    lab.renter.add_contract("other", gpus=50.0, price_usd_per_gpu_hour=1.7, days=2.5)
    assert lab.renter.contracted_gpus == pytest.approx(350.0)
    assert lab.seller.capacity_m_tokens == pytest.approx(before + 350.0 * 24 * _tph(model,
                                                                                     "lab"))
    model.run()
    firms, _, events = model.tables()
    rows = firms[firms["firm"] == "lab"].set_index("day")
    assert rows["compute_rent_usd"].sum() == pytest.approx(300 * 24 * 2.1 * 10 + 50 * 24 * 1.7
                                                           * 2.5, rel=1e-12)
    assert rows.loc[1:10, "compute_rent_usd"].iloc[0] == pytest.approx((300 * 2.1 + 50 * 1.7)
                                                                        * 24)
    assert list(rows.loc[1:4, "gpus_rented"]) == pytest.approx([350, 350, 325, 300])
    assert (rows.loc[11:, "gpus_rented"] == 0).all() and (rows.loc[11:, "compute_rent_usd"]
                                                          == 0).all()
    assert lab.renter.contracted_gpus == 0 and not lab.renter.contracts
    assert (events["kind"] == "compute_contract").sum() == 2
    # The rent is a cost: operating profit and cash carry it.
    assert rows.loc[1, "operating_profit_usd"] == pytest.approx(
        rows.loc[1, "revenue_usd"] - rows.loc[1, "serving_cost_usd"]
        - rows.loc[1, "training_cost_usd"] - rows.loc[1, "fixed_cost_usd"]
        - rows.loc[1, "depreciation_usd"] - rows.loc[1, "compute_rent_usd"])


def test_a_bad_contract_is_refused():
    lab = _model("horizon_days=5").firms["lab"]
    for bad in ({"gpus": -1.0}, {"price_usd_per_gpu_hour": math.nan}, {"days": math.inf}):
        kw = {"gpus": 10.0, "price_usd_per_gpu_hour": 2.0, "days": 5.0} | bad
        with pytest.raises(ValueError, match="add_contract"):
            lab.renter.add_contract("miner", **kw)


# ----------------------------------------------------------------------------- export controls
def test_the_local_then_global_auction_against_a_hand_solved_case():
    """Asks: A (us, 1 USD, 4 GPU-h), B (cn, 2 USD, 20).  Bids: X (cn, restricted, 5 USD, 15),
    Y (us, free, 4 USD, 10), Z (cn, barred, 9 USD, 6).

    Local cn auction: B against X trades 15, B rationed (15 of 20) so the price is B's, 2.
    Global: A (4) and what is left of B (5) against Y (10): 9 trade, Y rationed at 4, price 4.
    B sells 15 at 2 and 5 at 4; Z buys nothing and its 6 are unmet."""
    res = clear_with_controls([1.0, 2.0], [4.0, 20.0], ["us", "cn"],
                              [5.0, 4.0, 9.0], [15.0, 10.0, 6.0], ["cn", "us", "cn"],
                              ["local", "global", "barred"])
    assert res.local["cn"].price == 2.0 and res.local["cn"].volume == 15.0
    assert res.world.price == 4.0 and res.world.volume == 9.0
    np.testing.assert_allclose(res.sold, [4.0, 20.0])
    np.testing.assert_allclose(res.bought, [15.0, 9.0, 0.0])
    np.testing.assert_allclose(res.earned, [16.0, 15 * 2.0 + 5 * 4.0])
    np.testing.assert_allclose(res.paid, [30.0, 36.0, 0.0])
    assert (res.volume, res.supply, res.demand, res.unmet, res.barred) == (24.0, 24.0, 31.0,
                                                                           7.0, 6.0)
    # Without the controls one auction: X and Y both buy, at Y's price.
    free = clear_with_controls([1.0, 2.0], [4.0, 20.0], ["us", "cn"], [5.0, 4.0, 9.0],
                               [15.0, 10.0, 6.0], ["cn", "us", "cn"], ["global"] * 3)
    assert not free.local and free.world.price == 4.0
    np.testing.assert_allclose(free.bought, [15.0, 3.0, 6.0])


def test_controls_with_no_restricted_buyer_are_the_plain_auction():
    from sim.markets.compute import clear

    rng = np.random.default_rng(5)
    a, u, b, w = rng.uniform(0, 5, 6), rng.uniform(0, 9, 6), rng.uniform(0, 5, 4), \
        rng.uniform(0, 9, 4)
    res = clear_with_controls(a, u, ["us"] * 6, b, w, ["cn"] * 4, ["global"] * 4)
    plain = clear(a, u, b, w)
    np.testing.assert_array_equal(res.sold, plain.sold)
    np.testing.assert_array_equal(res.bought, plain.bought)
    assert res.world.price == plain.price


def test_an_export_control_stops_the_lab_renting_abroad_and_buying_gpus(run_cached):
    r = run_cached("scenario=export_controls", "horizon_days=400", "output.figures=false")
    day = int(r.config.day_of("2025-07-01"))
    lab = r.firms[r.firms["firm"] == "lab"].set_index("day")
    # A week's rental under way runs out; from the next clearing the lab rents nothing.
    cleared = -(-day // 7) * 7
    assert (lab.loc[cleared:, "gpus_rented"] == 0).all()
    assert (lab.loc[:day - 1, "gpus_rented"] > 0).any()
    assert lab.loc[day:, "compute_price_usd_per_gpu_hour"].isna().all()  # nothing to rent at home
    ev = r.events
    orders = ev[(ev["firm"] == "lab") & (ev["kind"] == "gpu_order") & (ev["day"] >= day)]
    assert orders.empty
    cuts = ev[(ev["firm"] == "lab") & (ev["kind"] == "gpu_supply_cut")]
    assert len(cuts) >= 1 and (cuts["value"] == 0).all() and (cuts["day"] >= day).all()
    assert "export control" in cuts["detail"].iloc[0]
    shock = ev[(ev["kind"] == "shock") & (ev["day"] == day)]
    assert list(shock["firm"]) == ["lab"] and "cn" in shock["detail"].iloc[0]
    # The lab's bids still count, as unmet demand.
    m = r.market.set_index("day")
    assert (m.loc[day:, "compute_unmatched_gpu_hours"] > 0).any()


def test_an_export_control_caps_orders_per_quarter_and_can_bar_all_rentals():
    model = _run_model(*TRADE, "horizon_days=200",
                       "shocks=[{at: 30, kind: export_control, firms: [lab], gpu_cap: 500, "
                       "rentals: false}]", "firms.lab.capacity.rule=forecast")
    assert model.gpu_supply.rule_of("lab") == "barred" and math.isnan(
        model.compute_price_for(model.firms["lab"]))
    _, _, events = model.tables()
    orders = events[(events["firm"] == "lab") & (events["kind"] == "gpu_order")
                     & (events["day"] >= 30)]
    assert len(orders) >= 1
    assert (orders.groupby(orders["day"] // QUARTER_DAYS)["value"].sum() <= 500 + 1e-9).all()
    for rec in model.compute.clearings:
        if rec.day >= 30 and "lab" in rec.fills:
            assert rec.fills["lab"].bought == 0.0


# ----------------------------------------------------------------------------- GPU prices, supply
def test_the_price_of_a_new_gpu_halves_every_halving_time():
    model = _model("horizon_days=5", "compute.gpu_price_halving_years=2.07")
    supply = model.gpu_supply
    assert supply.price_of_new_gpu(0, 30_000) == 30_000
    assert supply.price_of_new_gpu(365 * 2.07, 30_000) == pytest.approx(15_000, rel=1e-12)
    assert supply.price_of_new_gpu(2 * 365 * 2.07, 30_000) == pytest.approx(7_500, rel=1e-12)
    assert supply.price_of_new_gpu(365 * 2.07) == pytest.approx(15_000)  # the reference price
    flat = _model("horizon_days=5").gpu_supply
    assert flat.price_of_new_gpu(1e4, 30_000) == 30_000


def test_gpu_orders_pay_the_falling_price_and_depreciate_at_purchase_prices():
    r = sim.run(["horizon_days=500", "compute.gpu_price_halving_years=1",
                 "output.figures=false"])
    ev, f = r.events, r.firms.set_index(["firm", "day"])
    orders = ev[ev["kind"] == "gpu_order"]
    assert len(orders) >= 3
    for _, o in orders.iterrows():
        base = r.config.firms[o["firm"]].gpu_price_usd
        unit = f.loc[(o["firm"], o["day"]), "capex_usd"] / o["value"]
        assert unit == pytest.approx(base * 2.0 ** (-o["time"] / 365.0), rel=1e-9)
    # Depreciation: the daily rate times the book cost at purchase prices, so below the price
    # of day 0 times the GPUs retired once cheaper GPUs are in the fleet.
    lab = r.firms[r.firms["firm"] == "lab"].set_index("day")
    cfg = r.config.firms["lab"]
    rate = 1 - (1 - cfg.gpu_depreciation_per_year) ** (1 / 365)
    at_day0 = lab["gpus"] * rate * cfg.gpu_price_usd
    assert lab.loc[0, "depreciation_usd"] == pytest.approx(at_day0.loc[0], rel=1e-12)
    delivered = ev[(ev["firm"] == "lab") & (ev["kind"] == "gpu_delivery")]["day"].min()
    assert (lab.loc[delivered + 1:, "depreciation_usd"]
            < at_day0.loc[delivered + 1:] * (1 - 1e-9)).all()


def test_the_world_supply_cap_cuts_orders_and_logs_the_cut():
    r = sim.run(["horizon_days=400", "compute.gpu_supply_per_quarter=5000",
                 "output.figures=false"])
    ev = r.events
    orders = ev[ev["kind"] == "gpu_order"]
    per_quarter = orders.groupby(orders["day"] // QUARTER_DAYS)["value"].sum()
    assert (per_quarter <= 5000 * (1 + 1e-12)).all()
    assert per_quarter.max() == pytest.approx(5000)
    cuts = ev[ev["kind"] == "gpu_supply_cut"]
    assert len(cuts) >= 1 and cuts["detail"].str.contains("world supply").all()
    free = sim.run(["horizon_days=400", "output.figures=false"]).events
    assert free[free["kind"] == "gpu_order"]["value"].sum() > orders["value"].sum()


# ----------------------------------------------------------------------------- own or rent
def _me(**kw) -> FirmView:
    history = {"revenue_usd": np.full(90, 1e6), "demand_m_tokens": np.full(90, 1e6),
               "free_cash_flow_usd": np.zeros(90)}
    base = dict(name="lab", kind="lean_lab", price=0.5, quality=1290.0, marginal_cost=0.02,
                cost_per_gpu_hour_usd=0.35, tokens_per_gpu_hour=17.8, cash=1e9,
                gpus_serving=1000.0, gpus_training=0.0, gpus_on_order=0.0,
                gpu_price_usd=30_000.0, gpu_lead_days=120.0, choice_share=0.5,
                served_m_tokens=1e6, history=history, gpu_depreciation_per_year=0.25)
    return FirmView(**(base | kw))


def test_rent_or_buy_orders_while_owning_is_cheaper_and_rents_otherwise():
    rule = make("capacity", {"rule": "rent_or_buy", "headroom": 0.25})
    forecast = make("capacity", {"rule": "forecast", "headroom": 0.25})
    owning = 30_000 * (0.25 + 0.1) / 8760 + 0.35
    assert rule.owning_cost(_me()) == pytest.approx(owning)  # 1.55 USD per GPU-hour
    wanted = forecast.order(_me(), None)
    assert wanted > 0
    assert rule.order(_me(), None) == wanted  # no market: buy
    assert rule.order(_me(compute_price_usd_per_gpu_hour=owning * 1.01), None) == wanted
    assert rule.order(_me(compute_price_usd_per_gpu_hour=owning * 0.99), None) == 0.0
    # Cheaper GPUs tip it back to owning.
    assert rule.order(_me(compute_price_usd_per_gpu_hour=1.0, gpu_price_usd=10_000), None) \
        == wanted


def test_forecast_counts_contracted_gpus_that_outlast_the_lead_time():
    """GPUs under a host's contract serve like owned ones: an order is the need less them."""
    forecast = make("capacity", {"rule": "forecast", "headroom": 0.25})
    wanted = forecast.order(_me(), None)
    assert wanted > 300
    assert forecast.order(_me(gpus_contracted=300.0), None) == pytest.approx(wanted - 300)
    assert forecast.order(_me(gpus_contracted=wanted + 1.0), None) == 0.0


def test_a_contract_ending_before_an_order_arrives_is_not_counted():
    model = _model("scenario=miner_pivot", "horizon_days=2")
    renter = model.firms["lab"].renter
    lead = model.firms["lab"].fleet.cfg.gpu_lead_days
    renter.add_contract("miner", 500.0, 1.6, lead + 10)
    renter.add_contract("miner", 200.0, 1.6, lead)  # its last day is the day the order arrives
    assert renter.contracted_gpus == 700.0
    assert model.firms["lab"].view().gpus_contracted == 500.0


@pytest.mark.parametrize("gpu_price,buys", [(30_000.0, False), (1_000.0, True)])
def test_a_lab_on_rent_or_buy_rents_when_renting_is_cheaper(gpu_price, buys):
    """With a 0.3 USD operating cost a 30,000 USD GPU costs 1.50 USD per GPU-hour to own, a
    1,000 USD one 0.34; the giant's cloud rents at 0.35 while it has spare GPUs (at the lab's
    bid when it runs short).  The lab buys only when owning is the cheaper, and rents either
    way."""
    model = _run_model(*TRADE, "horizon_days=150", f"firms.lab.gpu_price_usd={gpu_price}",
                       "firms.lab.cost_per_gpu_hour_usd=0.3")
    _, market, events = model.tables()
    owning = gpu_price * (0.25 + 0.1) / 8760 + 0.3
    price = market.set_index("day")["compute_price_usd_per_gpu_hour"]
    first = next(r.day for r in model.compute.clearings if r.volume > 0)
    reviews = [d for d in range(30, 150, 30) if d > first]  # the capacity rule's review days
    cheap = [d for d in reviews if price.loc[d - 1] == pytest.approx(0.35)]
    assert cheap  # reviews at which renting cost 0.35
    orders = events[(events["firm"] == "lab") & (events["kind"] == "gpu_order")]
    assert set(orders["day"]) <= set(range(0, 150, 30))
    ordered_cheap = orders[orders["day"].isin(cheap)]
    assert (len(ordered_cheap) > 0) == buys == (owning < 0.35)
    assert sum(r.fills["lab"].bought for r in model.compute.clearings) > 0


# ----------------------------------------------------------------------------- research
def test_research_spend_falls_as_the_compute_price_rises():
    rule = make("research", {"rule": "revenue_share", "share": 0.3, "run_days": 60,
                             "max_gpu_share": 1.0})
    no_market = rule.plan(_me(gpus_serving=1e6), None)[0]
    assert no_market == pytest.approx(0.3 * 60e6 / (0.35 * 24 * 60))
    held = [rule.plan(_me(gpus_serving=1e6, compute_price_usd_per_gpu_hour=r), None)[0]
            for r in (0.2, 1.0, 2.0, 4.0)]
    assert held[0] == pytest.approx(no_market)  # below the operating cost: no opportunity
    assert held[0] > held[1] > held[2] > held[3]
    for r, g in zip((1.0, 2.0, 4.0), held[1:], strict=True):
        assert g == pytest.approx(0.3 * 60e6 / (r * 24 * 60))  # cost + (r - cost) = r
    # The serving margin still counts when it is larger.
    binding = _me(gpus_serving=1e6, rationed_m_tokens=5.0, compute_price_usd_per_gpu_hour=1.0)
    assert binding.gpu_hour_shadow_price_usd == pytest.approx((0.5 - 0.02) * 17.8)


def test_research_spend_falls_as_the_compute_price_rises_in_the_model():
    model = _model(*TRADE, "horizon_days=120")
    for _ in range(100):
        model.step()
    lab = model.firms["lab"]
    rule, ctx = lab.trainer.rule, lab.context("research")
    spend = []
    prices = (0.5, 5.0, 20.0, 40.0, 80.0)
    for price in prices:
        model.compute.last_price = price
        me = lab.view()
        assert me.compute_price_usd_per_gpu_hour == price
        plan = rule.plan(me, ctx)
        spend.append(0.0 if plan is None else plan[0])
    # Capped at max_gpu_share of the serving GPUs while GPU time is cheap, then falling.
    assert all(a >= b for a, b in zip(spend, spend[1:], strict=False))
    assert spend[2] > spend[3] > spend[4] > 0
    assert spend[3] == pytest.approx(spend[4] * 2, rel=1e-9)  # budget / (price * 24 * days)


# ----------------------------------------------------------------------------- configs
BAD = [
    (["compute.clear_every_days=0"], "compute.clear_every_days"),
    (["compute.clear_every_days=1.5"], "compute.clear_every_days"),
    (["compute.gpu_price_halving_years=0"], "compute.gpu_price_halving_years"),
    (["compute.gpu_price_halving_years=-inf"], "compute.gpu_price_halving_years"),
    (["compute.gpu_price_halving_years=nan"], "compute.gpu_price_halving_years"),
    (["compute.gpu_supply_per_quarter=-5"], "compute.gpu_supply_per_quarter"),
    (["compute.enabled=1"], "compute.enabled"),
    (["compute.rent=1"], "compute.rent"),
    (["firms.lab.bid_share=0"], "firms.lab.bid_share"),
    (["firms.lab.bid_share=1.5"], "firms.lab.bid_share"),
    (["firms.lab.max_rent_usd_per_gpu_hour=-1"], "firms.lab.max_rent_usd_per_gpu_hour"),
    (["firms.giant.sell_spare_gpus=maybe"], "firms.giant.sell_spare_gpus"),
    (["firms.lab.jurisdiction=''"], "firms.lab.jurisdiction"),
    (["firms.lab.jurisdiction='c n'"], "firms.lab.jurisdiction"),
    (["firms.lab.capacity.rule=rent_or_buy", "firms.lab.capacity.cost_of_capital_per_year=2"],
     "firms.lab.capacity.cost_of_capital_per_year"),
    (["shocks=[{at: 3, kind: export_control}]"], "shocks[0].firms"),
    (["shocks=[{at: 3, kind: export_control, firm: nobody}]"], "shocks[0].firm"),
    (["shocks=[{at: 3, kind: export_control, firms: [lab, nobody]}]"], "shocks[0].firms[1]"),
    (["shocks=[{at: 3, kind: export_control, firm: lab, gpu_cap: -1}]"], "shocks[0].gpu_cap"),
    (["shocks=[{at: 3, kind: export_control, firm: lab, rentals: 2}]"], "shocks[0].rentals"),
    (["shocks=[{at: 3, kind: demand_jump, factor: 2, firms: [lab]}]"], "shocks[0].firms"),
]


@pytest.mark.parametrize("overrides,key", BAD, ids=[" ".join(o) for o, _ in BAD])
def test_bad_compute_config_is_one_line_naming_the_key(overrides, key):
    with pytest.raises(ConfigError) as info:
        sim.validate(sim.compose(overrides))
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"{key}="), message
    assert "allowed:" in message


def test_inf_means_no_limit_and_is_shown_as_such():
    cfg = sim.validate(sim.compose(["compute.gpu_supply_per_quarter=inf",
                                    "compute.gpu_price_halving_years=3"]))
    assert cfg.compute.gpu_supply_per_quarter == math.inf
    assert cfg.compute.gpu_price_halving_years == 3.0
    assert sim.validate(sim.compose()).compute.gpu_price_halving_years == math.inf
    from sim.config import ComputeConfig
    from sim.core.params import describe

    allowed = {k: a for k, a, _, _ in describe(ComputeConfig)}
    assert allowed["gpu_supply_per_quarter"] == "a number in [0, inf]"
    assert allowed["gpu_price_halving_years"] == "a number in (0, inf]"
    assert allowed["clear_every_days"] == "an integer in [1, 365]"


def test_the_scenario_names_its_firms_jurisdictions():
    cfg = sim.validate(sim.compose(["scenario=export_controls"]))
    assert cfg.compute.enabled and cfg.firms["lab"].jurisdiction == "cn"
    assert cfg.firms["giant"].jurisdiction == "us" and cfg.firms["giant"].sell_spare_gpus
    assert cfg.firms["lab"].capacity["rule"] == "rent_or_buy"
    (shock,) = cfg.shocks
    assert dataclasses.astuple(shock)[:2] == ("2025-07-01", "export_control")
    assert shock.gpu_cap == 0 and shock.rentals


# ----------------------------------------------------------------------------- the world
def _world_clear(asks, bids, world_price, bid_rule=None, places=None):
    a, u = (np.array(x, dtype=float) for x in zip(*asks, strict=True))
    b, w = (np.array(x, dtype=float) for x in zip(*bids, strict=True))
    ask_at = places[0] if places else ["us"] * a.size
    bid_at = places[1] if places else ["us"] * b.size
    rule = bid_rule or ["global"] * b.size
    return clear_with_controls(*with_world(a, u, ask_at, b, w, bid_at, rule, world_price))


def test_the_rest_of_the_world_sets_the_price_and_takes_the_rest():
    """Hand-solved: asks (1, 10) and (3, 10), bids (5, 8) and (1.5, 8), the world at 2.  The
    world asks 72 at 2 and bids 72 at 2: the ask at 1 sells its 10 and the bid at 5 buys its 8,
    both at 2; the ask at 3 and the bid at 1.5 are on the wrong side of 2 and do not trade."""
    res = _world_clear([(1, 10), (3, 10)], [(5, 8), (1.5, 8)], 2.0)
    assert res.world.price == 2.0
    np.testing.assert_allclose(res.sold[:2], [10, 0])
    np.testing.assert_allclose(res.bought[:2], [8, 0])
    np.testing.assert_allclose(res.earned[:2], [20, 0])
    np.testing.assert_allclose(res.paid[:2], [16, 0])


@pytest.mark.parametrize("world_price", [0.5, 0.8, 1.0, 2.0, 3.0, 4.0, 6.0])
def test_with_the_world_every_firm_order_on_the_right_side_of_its_price_fills(world_price):
    asks, bids = [(1, 10), (2, 5), (4, 7)], [(5, 8), (3, 4), (0.8, 9)]
    res = _world_clear(asks, bids, world_price)
    assert res.world.price == world_price
    for k, (p, v) in enumerate(asks):
        assert res.sold[k] == pytest.approx(v if p < world_price else 0.0 if p > world_price
                                            else res.sold[k])
    for k, (p, v) in enumerate(bids):
        assert res.bought[k] == pytest.approx(v if p > world_price else 0.0 if p < world_price
                                              else res.bought[k])


@pytest.mark.parametrize("asks,bids", [([(1, 0)], [(9.78, 144)]), ([(1, 50)], [(0.5, 0)]),
                                       ([(1, 5)], [(3, 5)])])
def test_the_world_price_holds_when_one_side_of_the_firms_is_empty(asks, bids):
    """A lone bid (or ask) is no vertical stretch: it trades its whole volume at the world's
    price, not at the middle between its own price and the world's."""
    res = _world_clear(asks, bids, 2.0)
    assert res.world.price == 2.0
    assert res.sold[0] == asks[0][1] and res.bought[0] == bids[0][1] * (bids[0][0] > 2.0)


def test_the_world_is_not_in_an_export_controls_local_auction():
    """A buyer that may rent only at home buys from its home seller, not from the world."""
    res = _world_clear([(1, 10)], [(5, 8), (5, 8)], 0.5, bid_rule=["local", "global"],
                       places=(["cn"], ["cn", "us"]))
    assert res.local["cn"].price == 1.0  # the home auction alone: ask (1, 10) against bid (5, 8)
    assert res.bought[0] == 8.0 and res.paid[0] == 8.0
    assert res.bought[1] == 8.0 and res.paid[1] == 4.0  # the free buyer rents from the world


@pytest.fixture(scope="module")
def default_run():
    model = _run_model("horizon_days=120", "output.figures=false")
    return model, *model.tables()


def test_the_default_market_takes_the_worlds_price(default_run):
    model, firms, market, _ = default_run
    cfg = model.cfg.compute
    assert cfg.world_rentals
    days = market["day"].to_numpy()
    cleared = days - days % cfg.clear_every_days  # each day shows its last clearing
    want = [model.compute.world_price(d) for d in cleared]
    np.testing.assert_allclose(market["compute_price_usd_per_gpu_hour"], want)
    for rec in model.compute.clearings:
        sold = sum(f.sold for f in rec.fills.values())
        bought = sum(f.bought for f in rec.fills.values())
        assert rec.volume == pytest.approx(max(sold, bought))
        assert rec.world_net == pytest.approx(bought - sold)
        assert rec.unmet == pytest.approx(max(rec.demand - bought, 0.0))
        for name, fill in rec.fills.items():  # every trade at the world's price
            assert fill.paid_usd == pytest.approx(fill.bought * rec.price), name
            assert fill.earned_usd == pytest.approx(fill.sold * rec.price), name
    lab = firms[firms["firm"] == "lab"]
    assert (lab["gpus_rented"] > 0).any()


def test_the_default_run_keeps_every_invariant(run_cached):
    result = run_cached("horizon_days=400", "output.figures=false")
    for check in ALL:
        check(result)


@pytest.mark.parametrize("case", ["efficient_far_over_capacity", "efficient_cliff"])
def test_the_efficient_benchmark_fills_capacities_far_below_demand(case):
    """Two days of a ten-year ``china_2024`` run (seed 1): at marginal cost the three firms'
    demand is 18-25 (and 36-66) times their capacities.  The efficient prices fill every
    capacity exactly (the Kuhn-Tucker conditions with every capacity binding), cold or from the
    day before's answer; Newton's method on demand itself had overshot to prices at which
    nobody buys (demand falls off a cliff in price; its log does not)."""
    from sim.economics import SegmentMarket, demand_state, efficient_prices

    z = np.load(Path(__file__).parent / "data" / f"{case}.npz")
    market = SegmentMarket(z["qualities"], z["costs"], z["sizes"], z["alpha"], z["theta"],
                           float(z["outside"][0]), float(z["outside"][1]), z["capacities"])
    players = np.arange(3)
    for start in (None, z["start"]):
        p = market.costs.copy()
        p[players] = efficient_prices(market, market.costs.copy(), players, start=start)
        d = demand_state(market, p)[1]
        np.testing.assert_allclose(d[players], market.capacities[players], rtol=1e-9)
        assert (p[players] > market.costs[players]).all()
