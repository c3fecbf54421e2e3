"""Invariants of a run's tables (money, capacity, shares), shared by the default and slow suites.

Each ``check_*`` takes a :class:`sim.Result` and asserts one invariant on every day."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from sim.markets import tokens

#: Columns that are NaN by design when ``output.benchmarks`` is off.
BENCHMARK_COLUMNS = ["nash_price_usd_per_m", "monopoly_price_usd_per_m"]
#: Columns of a miner turned host's sites: NaN on the rows of every other kind.
HOST_COLUMNS = ["mw_mining", "mw_hosting", "mw_converting", "gpus_hosting",
                "mining_revenue_usd", "hosting_revenue_usd"]
#: The default scenario without its miner turned host, the Bitcoin network and the compute market:
#: the token market of two firms alone, for tests about that market.
WITHOUT_HOSTS = ("~firms.host", "bitcoin.enabled=false", "compute.enabled=false")

#: Columns of a token seller and its GPU fleet: NaN on a host's rows.
SELLER_COLUMNS = ["price_usd_per_m", "marginal_cost_usd_per_m", "quality", "choice_share",
                  "token_share", "firm_share", "demand_m_tokens", "served_m_tokens",
                  "rationed_m_tokens", "capacity_m_tokens", "gpus", "gpus_serving",
                  "gpus_training", "gpus_on_order", "gpus_rented", "gpus_rented_out"]
#: Market columns that are NaN by design when ``bitcoin.enabled`` is false.
NETWORK_COLUMNS = ["btc_price_usd", "hashprice_usd_per_ph_day", "difficulty",
                   "network_hashrate_eh_s", "block_height", "block_subsidy_btc"]
#: The market's compute columns: NaN by design when ``compute.enabled`` is off.
COMPUTE_COLUMNS = ["compute_price_usd_per_gpu_hour", "compute_volume_gpu_hours",
                   "compute_unmatched_gpu_hours", "compute_supply_gpu_hours",
                   "compute_world_net_gpu_hours"]
#: Compute prices: NaN without a market, and until the auction a firm may rent in has traded.
COMPUTE_PRICE = "compute_price_usd_per_gpu_hour"


def check_no_nan_or_inf_anywhere(result):
    for name in ("firms", "market", "events"):
        df = getattr(result, name)
        assert not df.empty, name
        if name == "firms":
            host = (df["kind"] == "miner_host").to_numpy()
            for cols, na in ((HOST_COLUMNS, ~host), (SELLER_COLUMNS, host)):
                block = df[cols].to_numpy(dtype=float)
                assert np.isnan(block[na]).all(), f"{cols} filled where they do not apply"
                assert np.isfinite(block[~na]).all(), f"non-finite value in {cols}"
            off = df.loc[~host, BENCHMARK_COLUMNS]
            if result.config.output.benchmarks:
                assert np.isfinite(off["monopoly_price_usd_per_m"]).all(), "non-finite monopoly"
                # NaN where no pure-strategy equilibrium was found (capacity-constrained best
                # responses that cycle, Bertrand-Edgeworth), which is rare; never infinite.
                nash = off["nash_price_usd_per_m"]
                assert not np.isinf(nash).any(), "infinite Nash benchmark"
                assert nash.isna().mean() <= 0.01, "Nash benchmark missing on many days"
            else:
                assert off.isna().all().all(), "benchmarks computed though off"
            df = df.drop(columns=BENCHMARK_COLUMNS + HOST_COLUMNS + SELLER_COLUMNS)
        if name == "market":
            net = df[NETWORK_COLUMNS]
            if result.config.bitcoin.enabled:
                assert np.isfinite(net.to_numpy()).all(), "non-finite network column"
            else:
                assert net.isna().all().all(), "network columns filled though bitcoin is off"
            df = df.drop(columns=NETWORK_COLUMNS)
        if name in ("firms", "market"):
            _check_compute_columns(result, name, df)
            df = df.drop(columns=COMPUTE_COLUMNS if name == "market" else [COMPUTE_PRICE])
        numeric = df.select_dtypes("number")
        assert np.isfinite(numeric.to_numpy()).all(), f"non-finite value in {name}"
        assert not df.isna().any().any(), f"missing value in {name}"


def _tokens(result) -> pd.DataFrame:
    """The rows of the firms that sell tokens (every kind but the miners turned hosts)."""
    f = result.firms
    return f[f["kind"] != "miner_host"]


def _check_compute_columns(result, name, df):
    """NaN on every row without a compute market; with one, volumes finite and >= 0, and a
    price, once there is one, finite and >= 0 ever after (it is the last traded price)."""
    cols = COMPUTE_COLUMNS if name == "market" else [COMPUTE_PRICE]
    if not result.config.compute.enabled:
        assert df[cols].isna().all().all(), f"compute columns in {name} though it is off"
        return
    if name == "market":
        vol = df[COMPUTE_COLUMNS[1:-1]].to_numpy()
        assert np.isfinite(vol).all() and (vol >= 0).all(), "bad compute volume"
        net = df["compute_world_net_gpu_hours"]  # bought from the world less sold to it
        assert np.isfinite(net).all(), "bad net trade with the world"
        if not result.config.compute.world_rentals:
            assert (net == 0).all(), "trade with the world though world_rentals is off"
    groups = [df[COMPUTE_PRICE]] if name == "market" else \
        [rows[COMPUTE_PRICE] for _, rows in df.groupby("firm")]
    for price in groups:
        seen = price.notna().cummax()
        restricted = name == "firms" and any(s.kind == "export_control"
                                             for s in result.config.shocks)
        if not restricted:  # an export control can take a firm out of the priced market
            assert price[seen].notna().all(), "a compute price went missing after a trade"
        assert (price.dropna() >= 0).all() and np.isfinite(price.dropna()).all()


def check_customer_spend_equals_sum_of_revenues(result):
    revenue = _tokens(result).groupby("day")["revenue_usd"].sum()
    spend = result.market.set_index("day")["customer_spend_usd"]
    np.testing.assert_allclose(revenue.reindex(spend.index, fill_value=0.0), spend, rtol=1e-12,
                               atol=1e-9)


def check_revenue_is_price_times_tokens_served(result):
    f = _tokens(result)
    np.testing.assert_allclose(f["revenue_usd"], f["price_usd_per_m"] * f["served_m_tokens"],
                               rtol=1e-12)


def check_tokens_served_within_capacity(result):
    f = _tokens(result)
    if result.config.market.capacity_limits:
        assert (f["served_m_tokens"] <= f["capacity_m_tokens"] * (1 + 1e-12) + 1e-9).all()
    # On days when nobody is rationed, every firm serves exactly its first-round demand.
    calm = result.market.loc[result.market["rationed_m_tokens"] == 0, "day"]
    rows = f[f["day"].isin(calm)]
    np.testing.assert_allclose(rows["served_m_tokens"], rows["demand_m_tokens"], rtol=1e-12)


def check_choice_shares_sum_to_one_with_outside_option(result):
    inside = result.firms.groupby("day")["choice_share"].sum()
    m = result.market.set_index("day")
    np.testing.assert_allclose(inside.reindex(m.index, fill_value=0.0) + m["outside_choice_share"]
                               + m["no_purchase_choice_share"], 1.0, atol=1e-12)


def _usage(result):
    seg = result.config.segments
    return tokens.Usage(seg.usage_elasticity, seg.usage_satiation_usd_per_m)


def check_every_token_is_served_by_someone_or_counted_unserved(result):
    """Customers are conserved: each segment's zero-price usage is bought from a firm or the
    outside seller (tokens over the usage factor at its price) or not bought at all."""
    m = result.market.set_index("day")
    f = result.firms
    g = _usage(result)
    customers = (f["served_m_tokens"] / g.factor(f["price_usd_per_m"].to_numpy())).groupby(
        f["day"]).sum().reindex(m.index, fill_value=0.0)
    outside = m["outside_m_tokens"] / g.factor(m["outside_price_usd_per_m"].to_numpy())
    np.testing.assert_allclose(customers + outside + m["no_purchase_m_tokens"],
                               m["total_demand_m_tokens"], rtol=1e-9)
    served = f.groupby("day")["served_m_tokens"].sum()
    np.testing.assert_allclose(served.reindex(m.index, fill_value=0.0).to_numpy(),
                               m["served_m_tokens"], rtol=1e-12, atol=1e-9)
    # With an outside seller (no capacity limit) nobody is left unserved.
    if result.config.outside.enabled:
        assert (m["unserved_m_tokens"] == 0).all()


def check_cash_changes_equal_booked_flows(result):
    f = result.firms.sort_values(["firm", "day"])
    inflow = (f["revenue_usd"] - f["serving_cost_usd"] - f["training_cost_usd"]
              - f["fixed_cost_usd"] - f["capex_usd"] + f["funding_usd"] + f["subsidy_usd"]
              - f["compute_rent_usd"] + f["compute_sales_usd"])
    for firm, rows in f.assign(inflow=inflow).groupby("firm"):
        cash = rows["cash_usd"].to_numpy()
        start = result.config.firms[firm].cash_usd
        expected = start + np.cumsum(rows["inflow"].to_numpy())
        np.testing.assert_allclose(cash, expected, rtol=1e-9, atol=1e-3 * max(start, 1.0) * 1e-6,
                                   err_msg=firm)


def check_operating_profit_definition(result):
    f = result.firms
    np.testing.assert_allclose(
        f["operating_profit_usd"],
        f["revenue_usd"] - f["serving_cost_usd"] - f["training_cost_usd"] - f["fixed_cost_usd"]
        - f["depreciation_usd"] - f["compute_rent_usd"] + f["compute_sales_usd"], rtol=1e-9,
        atol=1e-6)


def check_gpu_books(result):
    f = _tokens(result)
    # Owned GPUs serve, train, or are rented out to the compute market until its next clearing.
    np.testing.assert_allclose(f["gpus"], f["gpus_serving"] + f["gpus_training"]
                               + f["gpus_rented_out"], rtol=1e-12)
    assert (f[["gpus", "gpus_serving", "gpus_training", "gpus_on_order", "gpus_rented",
               "gpus_rented_out"]] >= -1e-9).all().all()
    # Capacity is the serving pool's and the rented GPUs' output.
    for name, rows in f.groupby("firm"):
        cfg = result.config.firms[name]
        per_gpu = result.config.technology.tokens_per_gpu_hour_m * cfg.inference_efficiency * 24
        np.testing.assert_allclose(rows["capacity_m_tokens"],
                                   (rows["gpus_serving"] + rows["gpus_rented"]) * per_gpu,
                                   rtol=1e-12)


def check_serving_cost_is_gpu_hours_times_hourly_cost(result):
    """The owned GPU-hours used cost ``cost_per_gpu_hour_usd`` each: those serving tokens beyond
    the rented GPUs' (tokens are served on rented GPUs first) and those rented out."""
    f = _tokens(result)
    for name, rows in f.groupby("firm"):
        cfg = result.config.firms[name]
        tph = result.config.technology.tokens_per_gpu_hour_m * cfg.inference_efficiency
        owned = np.maximum(rows["served_m_tokens"] / tph - rows["gpus_rented"] * 24.0, 0.0)
        np.testing.assert_allclose(rows["serving_cost_usd"],
                                   (owned + rows["gpus_rented_out"] * 24.0)
                                   * cfg.cost_per_gpu_hour_usd, rtol=1e-12, atol=1e-9)


def check_subsidy_covers_the_shortfall_up_to_cap(result):
    """A parent pays ``min(cap, left, max(0, owed'))`` a day, ``owed' = owed - (revenue -
    serving - training - fixed - capex)`` and ``owed = max(0, owed' - subsidy)``, out of a budget
    (``left``), and nothing after it withdraws: recomputed day by day from the tables."""
    f, ev = result.firms, result.events
    for name, rows in f.sort_values("day").groupby("firm"):
        cfg = result.config.firms[name]
        cap = getattr(cfg, "subsidy_usd_per_day", 0.0)  # giants only
        budget = getattr(cfg, "subsidy_budget_usd", None)
        gone = ev[(ev["firm"] == name) & (ev["kind"] == "parent_withdraws")]["day"]
        withdrawn_after = int(gone.iloc[0]) if len(gone) else None
        surplus = (rows["revenue_usd"] - rows["serving_cost_usd"] - rows["training_cost_usd"]
                   - rows["fixed_cost_usd"] - rows["capex_usd"] - rows["compute_rent_usd"]
                   + rows["compute_sales_usd"]).to_numpy()
        expected, owed, paid = [], 0.0, 0.0
        for day, s in zip(rows["day"], surplus, strict=True):
            left = np.inf if budget is None else max(budget - paid, 0.0)
            per_day = cap if left > 0 and (withdrawn_after is None or day <= withdrawn_after) \
                else 0.0
            owed -= s
            pay = min(per_day, left, max(0.0, owed))
            owed = max(0.0, owed - pay)
            paid += pay
            expected.append(pay)
        np.testing.assert_allclose(rows["subsidy_usd"], expected, rtol=1e-9,
                                   atol=1e-6 * max(cap, 1.0), err_msg=name)


def check_market_days_are_contiguous_and_dated(result):
    m = result.market
    assert list(m["day"]) == list(range(result.config.horizon_days))
    start = pd.Timestamp(result.config.start_date)
    assert (m["date"] == start + pd.to_timedelta(m["day"], unit="D")).all()
    assert m["hhi"].between(0, 10_000).all()


# ----------------------------------------------------------------------------- clearing
finite = dict(allow_nan=False, allow_infinity=False)


def _market(draw, n, s):
    prices = draw(arrays(float, n, elements=st.floats(0.0, 20.0, **finite)))
    quality = draw(arrays(float, n, elements=st.floats(900.0, 1500.0, **finite)))
    caps = draw(arrays(float, n, elements=st.floats(0.0, 200.0, **finite)))
    sizes = draw(arrays(float, s, elements=st.floats(0.0, 100.0, **finite)))
    alpha = draw(arrays(float, s, elements=st.floats(0.05, 10.0, **finite)))
    theta = draw(arrays(float, s, elements=st.floats(0.0, 0.1, **finite)))
    p0 = draw(st.floats(0.0, 50.0, **finite))
    q0 = draw(st.floats(900.0, 1500.0, **finite))
    rounds = draw(st.integers(0, 3))
    return prices, quality, caps, sizes, alpha, theta, p0, q0, rounds


@st.composite
def markets(draw):
    n = draw(st.integers(1, 6))
    s = draw(st.integers(1, 12))
    return _market(draw, n, s)


def check_clearing(m, usage=tokens.FIXED, unlimited=False):
    """Invariants of one clearing of a random market drawn by :func:`markets`; with
    ``unlimited`` a seller without a capacity limit (an outside seller) is added last."""
    prices, quality, caps, sizes, alpha, theta, p0, q0, rounds = m
    if unlimited:
        prices, quality = np.append(prices, p0), np.append(quality, q0 + 50.0)
        caps = np.append(caps, np.inf)
    r = tokens.clear(prices, quality, caps, sizes, alpha, theta, 0.0, q0, rounds, usage)
    total = sizes.sum()
    tol = 1e-9 * max(total, 1.0)
    g = usage.factor(prices)
    assert np.all(r.served <= caps + 1e-12), "served exceeds capacity"
    assert np.all(r.served >= 0) and r.unserved >= -tol and r.no_purchase >= -tol
    eps = 1e-12  # round-off in the share weights
    assert np.all((r.choice_share >= 0) & (r.choice_share <= 1 + eps))
    assert 0 <= r.no_purchase_choice_share <= 1 + eps
    if total > 0:
        assert r.choice_share.sum() + r.no_purchase_choice_share == pytest.approx(1.0, abs=1e-9)
    # Every customer buys from a seller (tokens over the usage factor) or goes without.
    assert (r.served / g).sum() + r.no_purchase == pytest.approx(total, rel=1e-9, abs=tol)
    assert r.spend == pytest.approx(float(r.revenue.sum()), rel=1e-12, abs=1e-12)
    np.testing.assert_allclose(r.revenue, prices * r.served, rtol=1e-12)
    np.testing.assert_allclose(r.rationed, np.maximum(r.demand - caps, 0), rtol=1e-9, atol=tol)
    # Everyone can always go without, so surplus is never below the nobody-buys baseline; and
    # rationing at given prices never raises it.
    assert np.isfinite(r.consumer_surplus) and r.consumer_surplus >= -tol
    assert r.rationing_loss >= 0
    free = tokens.clear(prices, quality, None, sizes, alpha, theta, 0.0, q0, rounds, usage)
    assert r.consumer_surplus <= free.consumer_surplus + tol
    if r.rationed.sum() == 0:
        assert r.rationing_loss == 0
    # A seller without a capacity limit leaves nobody unserved.
    if unlimited:
        assert r.unserved == 0.0


def check_hhi_with_outside_counts_the_outside_seller(result):
    """``hhi_with_outside = sum (100 x_k / X)^2`` over the firms' served tokens and the outside
    seller's, ``X`` their sum (tokens bought), recomputed from the tables."""
    m = result.market.set_index("day")
    served = _tokens(result).pivot_table(index="day", columns="firm", values="served_m_tokens",
                                      aggfunc="sum").reindex(m.index, fill_value=0.0).fillna(0.0)
    bought = served.sum(axis=1) + m["outside_m_tokens"]
    expected = 10_000.0 * (((served.div(bought, axis=0)) ** 2).sum(axis=1)
                           + (m["outside_m_tokens"] / bought) ** 2)
    np.testing.assert_allclose(m["hhi_with_outside"], expected, rtol=1e-9)
    assert (m["hhi_with_outside"] <= 10_000.0 + 1e-9).all()


def check_welfare_identities(result):
    """Producer surplus is the firms' operating profit, subsidy what the parents paid, and total
    surplus consumer plus producer surplus, every day."""
    m = result.market.set_index("day")
    f = result.firms.groupby("day")
    ps = f["operating_profit_usd"].sum().reindex(m.index, fill_value=0.0)
    np.testing.assert_allclose(m["producer_surplus_usd"], ps, rtol=1e-12, atol=1e-6)
    sub = f["subsidy_usd"].sum().reindex(m.index, fill_value=0.0)
    np.testing.assert_allclose(m["subsidy_paid_usd"], sub, rtol=1e-12, atol=1e-6)
    np.testing.assert_allclose(m["total_surplus_usd"],
                               m["consumer_surplus_usd"] + m["producer_surplus_usd"], rtol=1e-12)


def check_deadweight_loss(result):
    """Deadweight loss is the efficient benchmark's surplus less consumer surplus and the
    firms' margins (price less marginal cost, times tokens served), never negative; rationing
    loss never negative."""
    m = result.market.set_index("day")
    f = _tokens(result)
    f = f.assign(margin=(f["price_usd_per_m"] - f["marginal_cost_usd_per_m"])
                 * f["served_m_tokens"])
    margin = f.groupby("day")["margin"].sum().reindex(m.index, fill_value=0.0)
    assert (m["deadweight_loss_usd"] >= 0).all() and (m["rationing_loss_usd"] >= 0).all()
    scale = np.maximum(m["efficient_surplus_usd"].abs(), 1.0)
    gap = m["efficient_surplus_usd"] - m["consumer_surplus_usd"] - margin
    # Equal where the gap is positive; a tiny negative gap (round-off) is recorded as 0.
    assert (gap >= -1e-9 * scale).all()
    # Round-off of the surplus terms (up to ~1e12 USD a day in long runs) is the tolerance.
    assert (np.abs(m["deadweight_loss_usd"] - np.maximum(gap, 0.0))
            <= 1e-9 * np.maximum(scale, np.abs(m["deadweight_loss_usd"]))).all()


def check_host_revenue_is_mining_plus_hosting(result):
    """A host's revenue is its mining revenue (``revenue_usd``) plus its hosting revenue (the
    GPU-hours it sells, ``compute_sales_usd``), and mining revenue is the hashprice times the
    PH/s of the MW mining, every day."""
    f = result.firms
    h = f[f["kind"] == "miner_host"]
    if h.empty:
        return
    np.testing.assert_allclose(h["revenue_usd"], h["mining_revenue_usd"], rtol=1e-12, atol=1e-6)
    np.testing.assert_allclose(h["compute_sales_usd"], h["hosting_revenue_usd"], rtol=1e-12,
                               atol=1e-6)
    m = result.market.set_index("day")
    for name, rows in h.groupby("firm"):
        cfg = result.config.firms[name]
        hashprice = m.loc[rows["day"], "hashprice_usd_per_ph_day"].to_numpy()
        np.testing.assert_allclose(rows["mining_revenue_usd"],
                                   hashprice * rows["mw_mining"] * 1000.0
                                   / cfg.efficiency_j_per_th, rtol=1e-12, atol=1e-6)


#: Every table invariant, for ``pytest.mark.parametrize``.
ALL = [
    check_no_nan_or_inf_anywhere, check_customer_spend_equals_sum_of_revenues,
    check_revenue_is_price_times_tokens_served, check_tokens_served_within_capacity,
    check_choice_shares_sum_to_one_with_outside_option,
    check_every_token_is_served_by_someone_or_counted_unserved,
    check_cash_changes_equal_booked_flows, check_operating_profit_definition, check_gpu_books,
    check_serving_cost_is_gpu_hours_times_hourly_cost, check_subsidy_covers_the_shortfall_up_to_cap,
    check_market_days_are_contiguous_and_dated, check_hhi_with_outside_counts_the_outside_seller,
    check_welfare_identities, check_deadweight_loss, check_host_revenue_is_mining_plus_hosting,
]
