"""sim.economics against solutions computed independently inside the tests."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import optimize

from sim import economics as econ

A, C, A0, MU = 2.0, 1.0, 0.0, 0.25  # Calvano et al. (2020) baseline


def _shares(p, a, a0, mu):
    """Logit shares written out longhand (no shared code with sim)."""
    num = [np.exp((ai - pi) / mu) for ai, pi in zip(a, p, strict=True)]
    den = sum(num) + np.exp(a0 / mu)
    return np.array([x / den for x in num])


def _nash_by_best_response_iteration(a, c, a0, mu):
    """Gauss-Seidel best-response dynamics, each best response by 1-D maximisation."""
    p = np.array(c, dtype=float) + mu
    for _ in range(500):
        old = p.copy()
        for i in range(len(p)):
            def neg_profit(x, i=i):
                q = p.copy()
                q[i] = x
                return -(x - c[i]) * _shares(q, a, a0, mu)[i]
            p[i] = optimize.minimize_scalar(neg_profit, bounds=(c[i], c[i] + 20 * mu),
                                            method="bounded", options={"xatol": 1e-12}).x
        if np.max(np.abs(p - old)) < 1e-11:
            break
    return p


def _joint_monopoly_by_maximisation(a, c, a0, mu):
    def neg_joint(p):
        return -np.sum((p - c) * _shares(p, a, a0, mu))
    res = optimize.minimize(neg_joint, np.array(c) + 2 * mu, method="Nelder-Mead",
                            options={"xatol": 1e-11, "fatol": 1e-14, "maxiter": 20000})
    return res.x


@pytest.mark.parametrize("n", [2, 3])
def test_logit_nash_prices_match_best_response_dynamics(n):
    a, c = [A] * n, [C] * n
    expected = _nash_by_best_response_iteration(a, c, A0, MU)
    np.testing.assert_allclose(econ.logit_nash_prices(a, c, A0, MU), expected, rtol=1e-7)


@pytest.mark.parametrize("n", [2, 3])
def test_logit_monopoly_prices_match_joint_maximisation(n):
    a, c = np.full(n, A), np.full(n, C)
    expected = _joint_monopoly_by_maximisation(a, c, A0, MU)
    np.testing.assert_allclose(econ.logit_monopoly_prices(a, c, A0, MU), expected, rtol=1e-6)


def test_calvano_baseline_numbers():
    """The duopoly figures quoted in calibration.md (Calvano et al. 2020)."""
    pn = econ.logit_nash_prices([A, A], [C, C], A0, MU)
    pm = econ.logit_monopoly_prices([A, A], [C, C], A0, MU)
    np.testing.assert_allclose(pn, 1.47293, atol=5e-6)
    np.testing.assert_allclose(pm, 1.92498, atol=5e-6)
    np.testing.assert_allclose(econ.logit_profits(pn, [A, A], [C, C], A0, MU), 0.22293, atol=5e-6)
    np.testing.assert_allclose(econ.logit_profits(pm, [A, A], [C, C], A0, MU), 0.33749, atol=5e-6)


def test_nash_first_order_condition_asymmetric():
    a, c, a0, mu = [2.5, 1.5, 2.0], [1.0, 0.4, 0.8], 0.3, 0.4
    p = econ.logit_nash_prices(a, c, a0, mu)
    s = _shares(p, a, a0, mu)
    np.testing.assert_allclose(p - c, mu / (1 - s), rtol=1e-9)
    np.testing.assert_allclose(p, _nash_by_best_response_iteration(a, c, a0, mu), rtol=1e-7)


def test_best_response_at_nash_is_nash():
    pn = econ.logit_nash_prices([A, A], [C, C], A0, MU)
    assert econ.logit_best_response(pn, 0, [A, A], [C, C], A0, MU) == pytest.approx(pn[0],
                                                                                     rel=1e-10)


def test_logit_shares_sum_below_one_and_match_longhand():
    p = [1.3, 1.9]
    s = econ.logit_shares(p, [A, A], A0, MU)
    np.testing.assert_allclose(s, _shares(p, [A, A], A0, MU), rtol=1e-12)
    assert 0 < s.sum() < 1


@pytest.mark.parametrize("a,b,c,n",
                         [(10.0, 1.0, 2.0, 1), (10.0, 0.5, 2.0, 2), (100.0, 2.0, 10.0, 5)])
def test_cournot_matches_best_response_iteration(a, b, c, n):
    """Iterate q_i = (a - c - b * Q_-i) / (2b) to the fixed point; compare with the formula."""
    q = np.zeros(n)
    for _ in range(10_000):
        for i in range(n):
            q[i] = max((a - c - b * (q.sum() - q[i])) / (2 * b), 0.0)
    out = econ.cournot(a, b, c, n)
    assert out.quantity == pytest.approx(q[0], rel=1e-9)
    assert out.total_quantity == pytest.approx(q.sum(), rel=1e-9)
    assert out.price == pytest.approx(a - b * q.sum(), rel=1e-9)
    assert out.profit == pytest.approx((a - b * q.sum() - c) * q[0], rel=1e-9)


@pytest.mark.parametrize("bad", [dict(n=0), dict(b=0.0), dict(a=1.0, c=2.0)])
def test_cournot_rejects_bad_input(bad):
    args = dict(a=10.0, b=1.0, c=2.0, n=2) | bad
    with pytest.raises(ValueError, match=next(iter(bad))):
        econ.cournot(**args)


def test_bertrand_homogeneous_price_is_cost():
    price, winners = econ.bertrand_homogeneous([3.0, 3.0, 3.0])
    assert price == 3.0 and list(winners) == [0, 1, 2]
    price, winners = econ.bertrand_homogeneous([2.0, 5.0, 3.0])
    assert price == 3.0 and list(winners) == [0]  # c1 < c2: p = c2, the low-cost firm sells
    with pytest.raises(ValueError):
        econ.bertrand_homogeneous([1.0])


def test_bertrand_no_profitable_deviation_on_a_price_grid():
    """At p = c with two firms, no unilateral move on a grid raises profit above zero."""
    c = 1.0
    grid = np.linspace(0.5, 2.0, 151)
    def profit(p_own, p_rival):  # unit demand, ties split
        if p_own < p_rival:
            return p_own - c
        return (p_own - c) / 2 if p_own == p_rival else 0.0
    price, _ = econ.bertrand_homogeneous([c, c])
    assert max(profit(p, price) for p in grid) <= 1e-12


def test_hhi_and_profit_gain():
    assert econ.hhi([1.0]) == 10_000
    assert econ.hhi([0.5, 0.5]) == pytest.approx(5_000)
    assert econ.hhi([0.2, 0.2, 0.1]) == pytest.approx(10_000 * (0.4**2 + 0.4**2 + 0.2**2))
    assert econ.hhi([0.0, 0.0]) == 0.0
    assert econ.profit_gain(0.22293, 0.22293, 0.33749) == 0.0
    assert econ.profit_gain(0.33749, 0.22293, 0.33749) == pytest.approx(1.0)
    np.testing.assert_allclose(econ.profit_gain([0.25, 0.3], 0.2, 0.4), [0.25, 0.5])


def test_more_firms_lower_nash_prices():
    prices = [econ.logit_nash_prices([A] * n, [C] * n, A0, MU)[0] for n in (1, 2, 3, 5)]
    assert all(x > y for x, y in itertools.pairwise(prices))
