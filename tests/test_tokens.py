"""The clearing function: closed forms, invariants and hypothesis property tests."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from invariants import check_clearing, finite, markets

from sim.markets import tokens


@given(markets())
def test_clearing_invariants(m):
    check_clearing(m)


@given(markets(), st.data())
def test_lowering_own_price_never_lowers_demand(m, data):
    prices, quality, caps, sizes, alpha, theta, p0, q0, rounds = m
    i = data.draw(st.integers(0, len(prices) - 1))
    cut = data.draw(st.floats(0.0, 1.0, **finite))
    before = tokens.clear(prices, quality, None, sizes, alpha, theta, p0, q0).demand[i]
    lower = prices.copy()
    lower[i] *= cut
    after = tokens.clear(lower, quality, None, sizes, alpha, theta, p0, q0).demand[i]
    assert after >= before * (1 - 1e-12) - 1e-12


def test_unconstrained_clearing_matches_closed_form():
    rng = np.random.default_rng(5)
    s = 7
    sizes, alpha, theta = rng.uniform(1, 5, s), rng.uniform(0.5, 3, s), rng.uniform(0, .02, s)
    prices, quality = np.array([1.0, 2.0, 0.5]), np.array([1200.0, 1300.0, 1150.0])
    p0, q0 = 4.0, 1250.0
    r = tokens.clear(prices, quality, None, sizes, alpha, theta, p0, q0)
    u = alpha[:, None] * (theta[:, None] * quality[None, :] - prices[None, :])
    u0 = alpha * (theta * q0 - p0)
    den = np.exp(u).sum(1) + np.exp(u0)
    share = np.exp(u) / den[:, None]
    np.testing.assert_allclose(r.demand, sizes @ share, rtol=1e-12)
    np.testing.assert_allclose(r.outside, sizes @ (np.exp(u0) / den), rtol=1e-12)
    # Small & Rosen: CS = sum_j M_j / alpha_j * (ln sum_k exp(u_kj) - u_0j), inside options added.
    cs = np.sum(sizes / alpha * (np.log(den) - u0))
    assert r.consumer_surplus == pytest.approx(cs, rel=1e-12)
    assert r.unserved == 0 and np.all(r.rationed == 0)


def test_huge_capacity_equals_no_capacity():
    rng = np.random.default_rng(1)
    args = (rng.uniform(0, 3, 4), rng.uniform(1100, 1300, 4))
    seg = (rng.uniform(1, 9, 20), rng.uniform(.5, 4, 20), rng.uniform(0, .05, 20), 3.0, 1250.0)
    a = tokens.clear(*args, None, *seg)
    b = tokens.clear(*args, np.full(4, 1e12), *seg)
    np.testing.assert_allclose(a.served, b.served, rtol=1e-14)
    assert a.consumer_surplus == pytest.approx(b.consumer_surplus, rel=1e-14)


def test_rationing_sends_customers_to_rivals_and_lowers_surplus():
    sizes, alpha, theta = np.array([100.0]), np.array([2.0]), np.array([0.0])
    prices, quality = np.array([0.5, 1.0]), np.array([1000.0, 1000.0])
    free = tokens.clear(prices, quality, None, sizes, alpha, theta, 5.0, 1000.0)
    tight = tokens.clear(prices, quality, np.array([10.0, 1e9]), sizes, alpha, theta, 5.0, 1000.0)
    assert tight.served[0] == pytest.approx(10.0)
    assert tight.served[1] > free.served[1]  # re-choice moves demand to the rival
    assert tight.consumer_surplus < free.consumer_surplus
    # With no re-choice, everyone turned away buys from the outside seller: nobody is unserved.
    none = tokens.clear(prices, quality, np.array([10.0, 1e9]), sizes, alpha, theta, 5.0, 1000.0,
                        rechoice_rounds=0)
    assert none.unserved == 0.0
    assert none.outside == pytest.approx(free.outside + free.demand[0] - 10.0)


def test_extreme_utilities_do_not_overflow():
    sizes, alpha, theta = np.array([1.0, 2.0]), np.array([50.0, 80.0]), np.array([0.1, 0.2])
    r = tokens.clear(np.array([0.0, 0.0]), np.array([1500.0, 1499.0]), None, sizes, alpha,
                     theta, 100.0, 900.0)
    assert np.isfinite(r.demand).all() and np.isfinite(r.consumer_surplus)
    assert r.demand.sum() == pytest.approx(3.0)


def test_own_price_demand_matches_clearing():
    rng = np.random.default_rng(2)
    sizes, alpha, theta = rng.uniform(1, 5, 30), rng.uniform(.5, 3, 30), rng.uniform(0, .02, 30)
    prices, quality = np.array([1.0, 1.5, 2.0]), np.array([1200.0, 1250.0, 1300.0])
    v = tokens.relative_utilities(prices[1:], quality[1:], alpha, theta, 3.0, 1250.0)
    grid = np.array([0.2, 1.0, 2.5])
    d = tokens.own_price_demand(grid, quality[0], tokens.log_inclusive(v), sizes, alpha, theta,
                                3.0, 1250.0, block=7)  # blocks that do not divide S
    for g, dg in zip(grid, d, strict=True):
        p = prices.copy()
        p[0] = g
        assert dg == pytest.approx(tokens.clear(p, quality, None, sizes, alpha, theta, 3.0,
                                                1250.0).demand[0], rel=1e-12)


def test_log_inclusive_is_stable_and_exact():
    v = np.array([[0.0, np.log(3.0)], [1000.0, 999.0], [-1000.0, -2000.0]])
    out = tokens.log_inclusive(v)
    assert out[0] == pytest.approx(np.log(1 + 1 + 3))
    assert out[1] == pytest.approx(1000.0 + np.log1p(np.exp(-1.0)))
    assert out[2] == pytest.approx(0.0, abs=1e-300)


def test_rationing_when_first_round_probabilities_underflow():
    """All weight on a full firm, the others' probabilities underflow: re-choice still works."""
    sizes, alpha, theta = np.array([10.0]), np.array([50.0]), np.array([0.0])
    prices, quality = np.array([0.0, 20.0, 25.0]), np.array([1000.0, 1000.0, 1000.0])
    r = tokens.clear(prices, quality, np.array([1.0, 1e9, 1e9]), sizes, alpha, theta, 30.0, 1000.0)
    assert r.served[0] == pytest.approx(1.0)
    # Re-choice between firms 1 and 2 and the outside option: firm 1 wins by exp(250).
    assert r.served[1] == pytest.approx(9.0)
    assert r.served.sum() + r.outside + r.unserved == pytest.approx(10.0)
    assert np.isfinite(r.consumer_surplus)
