"""The clearing function: closed forms, invariants and hypothesis property tests."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from invariants import check_clearing, finite, markets

from sim.markets import tokens

ELASTIC = tokens.Usage(0.7, 0.5)


@given(markets(), st.booleans())
def test_clearing_invariants(m, unlimited):
    check_clearing(m, unlimited=unlimited)


@given(markets(), st.booleans())
def test_clearing_invariants_with_elastic_usage(m, unlimited):
    check_clearing(m, ELASTIC, unlimited)


@given(markets(), st.sampled_from([tokens.FIXED, ELASTIC]), st.floats(0.0, 1.0, **finite))
def test_a_uniform_price_cut_never_lowers_tokens_bought_or_surplus(m, usage, cut):
    """Lowering every price by the same amount (no capacity limits) moves customers from not
    buying to buying and towards the cheaper offers, and each uses more: tokens bought and
    consumer surplus never fall.  (With d = the cut, shares move by
    ``ds_i = alpha s_i (g_i - sum_k s_k g_k) dd`` and ``sum_i g_i ds_i >= 0`` by Cauchy-Schwarz.
    A cut by the same *fraction* can lower tokens bought when usage is elastic: customers move
    from a free offer to a dearer one, at which they use less.)"""
    prices, quality, caps, sizes, alpha, theta, p0, q0, rounds = m
    delta = cut * prices.min()
    before = tokens.clear(prices, quality, None, sizes, alpha, theta, 0.0, q0, usage=usage)
    after = tokens.clear(prices - delta, quality, None, sizes, alpha, theta, 0.0, q0,
                         usage=usage)
    assert after.served.sum() >= before.served.sum() * (1 - 1e-12) - 1e-12
    assert after.no_purchase <= before.no_purchase * (1 + 1e-12) + 1e-12
    assert after.consumer_surplus >= before.consumer_surplus * (1 - 1e-12) - 1e-12


@given(markets(), st.data(), st.sampled_from([tokens.FIXED, ELASTIC]))
def test_lowering_own_price_never_lowers_demand(m, data, usage):
    prices, quality, caps, sizes, alpha, theta, p0, q0, rounds = m
    i = data.draw(st.integers(0, len(prices) - 1))
    cut = data.draw(st.floats(0.0, 1.0, **finite))
    before = tokens.clear(prices, quality, None, sizes, alpha, theta, p0, q0,
                          usage=usage).demand[i]
    lower = prices.copy()
    lower[i] *= cut
    after = tokens.clear(lower, quality, None, sizes, alpha, theta, p0, q0,
                         usage=usage).demand[i]
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
    np.testing.assert_allclose(r.no_purchase, sizes @ (np.exp(u0) / den), rtol=1e-12)
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
    # With no re-choice and no seller without a limit, everyone turned away goes without, and
    # the tokens they wanted are unserved.
    none = tokens.clear(prices, quality, np.array([10.0, 1e9]), sizes, alpha, theta, 5.0, 1000.0,
                        rechoice_rounds=0)
    assert none.unserved == pytest.approx(free.demand[0] - 10.0)
    assert none.no_purchase == pytest.approx(free.no_purchase + free.demand[0] - 10.0)
    # With a seller without a limit they choose between it and going without: none unserved.
    open_ = tokens.clear(prices, quality, np.array([10.0, np.inf]), sizes, alpha, theta, 5.0,
                         1000.0, rechoice_rounds=0)
    assert open_.unserved == 0.0
    np.testing.assert_allclose(open_.served, tight.served, rtol=1e-12)


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
    assert r.served.sum() + r.no_purchase == pytest.approx(10.0)
    assert np.isfinite(r.consumer_surplus)


def test_usage_index_is_the_integral_of_usage():
    """``P' = g``, ``P(0) = 0``, and fixed usage is ``P(p) = p``."""
    p = np.linspace(0.0, 20.0, 2001)
    h = 1e-6
    for u in (tokens.Usage(0.3, 2.0), ELASTIC):
        np.testing.assert_allclose((u.index(p + h) - u.index(p - h)) / (2 * h), u.factor(p),
                                   rtol=1e-7)
        assert u.index(0.0) == 0.0 and u.factor(0.0) == 1.0
        slope = (np.log(u.factor(p + h)) - np.log(u.factor(p - h))) / (2 * h)
        np.testing.assert_allclose(u.rate(p), -slope, rtol=1e-7)
    np.testing.assert_array_equal(tokens.FIXED.index(p), p)
    for bad in (dict(elasticity=1.0), dict(elasticity=-0.1), dict(satiation=0.0)):
        with pytest.raises(ValueError):
            tokens.Usage(**bad)


def test_rationing_penalty_matches_the_hypoexponential_closed_form():
    """``Lambda(c) = E[ln sum c_k E_k] + gamma``: for distinct ``c`` it is
    ``sum_k w_k ln c_k`` with ``w_k = prod_{l != k} c_k / (c_k - c_l)``."""
    rho = np.array([0.3, 0.9, 1e-6, 1.0 - 1e-9])
    two = tokens.rationing_penalty(np.vstack([rho, np.ones(4)]))
    np.testing.assert_allclose(two[:3], rho[:3] * np.log(rho[:3]) / (rho[:3] - 1), rtol=1e-12)
    assert two[3] == pytest.approx(1.0, abs=1e-8)
    c = np.array([[0.05, 0.2], [0.4, 0.5], [1.0, 1.0]])
    got = tokens.rationing_penalty(c)
    for j in range(2):
        ck = c[:, j]
        w = [np.prod([ck[k] / (ck[k] - ck[m]) for m in range(3) if m != k]) for k in range(3)]
        assert got[j] == pytest.approx(float(np.dot(w, np.log(ck))), abs=1e-11)
    # Two coefficients through the quadrature (a third one that is ~0 changes nothing).
    tiny = tokens.rationing_penalty(np.vstack([np.full(2, 1e-300), [0.3, 0.9], np.ones(2)]))
    np.testing.assert_allclose(tiny, two[:2], atol=1e-11)


@pytest.mark.parametrize("rounds", [0, 1, 2])
def test_surplus_under_rationing_is_exact_by_simulation(rounds):
    """Simulate individual customers (Gumbel tastes, random proportional rationing, re-choice
    among the open sellers, a final choice between the unlimited seller and going without):
    their mean utility over the no-market baseline is the clearing's consumer surplus."""
    rng = np.random.default_rng(rounds)
    n_cust = 400_000
    v = np.array([1.0, 0.6, 0.2, -0.5])  # utilities relative to not buying; the last unlimited
    caps = np.array([0.25, 0.12, 0.2, np.inf])
    eps = rng.gumbel(size=(n_cust, 5))
    u = np.concatenate([np.zeros((n_cust, 1)), np.broadcast_to(v, (n_cust, 4))], axis=1) + eps
    open_ = np.ones(5, bool)
    left = np.concatenate([[np.inf], caps * n_cust])
    util = np.full(n_cust, np.nan)
    active = np.ones(n_cust, bool)
    for r in range(rounds + 2):
        if r == rounds + 1:  # the final round: the unlimited seller or nothing
            open_ = np.array([True, False, False, False, True])
        choice = np.where(open_[None, :], u, -np.inf).argmax(axis=1)
        turned = np.zeros(n_cust, bool)
        for k in range(1, 5):
            who = active & (choice == k)
            if who.sum() > left[k]:
                turned |= who & (rng.random(n_cust) > left[k] / who.sum())
                left[k], open_[k] = 0.0, False
            else:
                left[k] -= who.sum()
        done = active & ~turned
        util[done] = u[done, choice[done]]
        active = turned
    assert not np.isnan(util).any()
    mc = util - np.euler_gamma
    res = tokens.clear(-v, np.zeros(4), caps, np.array([1.0]), np.array([1.0]), np.array([0.0]),
                       0.0, 0.0, rounds)
    se = mc.std() / np.sqrt(n_cust)
    assert res.consumer_surplus == pytest.approx(mc.mean(), abs=4 * se)
    # The old credit (each round's inclusive value, as if the rationed were a random draw of
    # tastes) is an upper bound that the simulation rejects.
    assert res.rationing_loss > 0
