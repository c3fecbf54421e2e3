"""sim.economics against solutions computed independently inside the tests."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import optimize

from sim import economics as econ
from sim.markets.tokens import Usage

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


# ------------------------------------------------------------------------------ segment market

def _calvano_as_segments(a, c, a0, mu, theta=0.01, p0=0.3):
    """Calvano's market as one segment of the token market, through a non-trivial map:
    alpha = 1/mu and theta (q_i - q0) + p0 = a_i - a0 with q0 = 50."""
    a = np.asarray(a, dtype=float)
    q0 = 50.0
    return econ.SegmentMarket(qualities=q0 + (a - a0 - p0) / theta, costs=np.asarray(c, float),
                              sizes=[1.0], alpha=[1.0 / mu], theta=[theta], outside_price=p0,
                              outside_quality=q0)


def _many_segments(seed=0, S=200, n=3):
    rng = np.random.default_rng(seed)
    return econ.SegmentMarket(
        qualities=rng.uniform(180, 220, n), costs=rng.uniform(0.5, 1.5, n),
        sizes=rng.lognormal(0, 1, S), alpha=rng.lognormal(np.log(2.0), 0.8, S),
        theta=rng.lognormal(np.log(0.01), 0.5, S), outside_price=2.0, outside_quality=190.0)


def test_segment_shares_are_calvanos():
    a, c = [2.0, 1.8, 2.2], [1.0, 0.9, 1.1]
    market = _calvano_as_segments(a, c, 0.1, 0.3)
    p = np.array([1.4, 1.5, 1.6])
    np.testing.assert_allclose(econ.segment_demand(market, p), _shares(p, a, 0.1, 0.3),
                               rtol=1e-12)
    np.testing.assert_allclose(econ.segment_profits(market, p),
                               (p - c) * _shares(p, a, 0.1, 0.3), rtol=1e-12)


@pytest.mark.parametrize("n", [2, 3])
def test_segment_nash_and_monopoly_equal_the_closed_forms(n):
    a, c = np.full(n, A), np.full(n, C)
    market = _calvano_as_segments(a, c, A0, MU)
    pn = econ.nash_prices(market, tol=1e-14)
    np.testing.assert_allclose(pn, econ.logit_nash_prices(a, c, A0, MU), rtol=1e-12)
    np.testing.assert_allclose(econ.monopoly_prices(market), econ.logit_monopoly_prices(a, c,
                                                                                       A0, MU),
                               rtol=1e-10)
    if n == 2:
        assert pn[0] == pytest.approx(1.47293, abs=5e-6)
    # The default tolerance (1e-10 per sweep) is within 1e-9 of the closed form.
    np.testing.assert_allclose(econ.nash_prices(market), pn, atol=1e-9)


def test_segment_nash_and_monopoly_asymmetric_closed_forms():
    a, c, a0, mu = [2.5, 1.5, 2.0], [1.0, 0.4, 0.8], 0.3, 0.4
    market = econ.SegmentMarket.logit(a, c, a0, mu)
    np.testing.assert_allclose(econ.nash_prices(market, tol=1e-14),
                               econ.logit_nash_prices(a, c, a0, mu), rtol=1e-12)
    np.testing.assert_allclose(econ.monopoly_prices(market),
                               econ.logit_monopoly_prices(a, c, a0, mu), rtol=1e-10)


def test_nash_of_some_players_holds_the_others_fixed():
    market = _many_segments(1, S=30)
    p = np.array([1.5, 1.7, 1.9])
    pn = econ.nash_prices(market, p, players=[0, 2], tol=1e-13)
    trial = p.copy()
    trial[[0, 2]] = pn
    for k, i in enumerate((0, 2)):
        assert econ.best_response(market, trial, i) == pytest.approx(pn[k], rel=1e-11)
    pm = econ.monopoly_prices(market, p, players=[0, 2])
    # No small move of the players' prices raises their joint profit.
    joint = econ.segment_profits(market, np.array([pm[0], 1.7, pm[1]]))[[0, 2]].sum()
    rng = np.random.default_rng(0)
    for _ in range(50):
        x = pm + rng.normal(0, 1e-3, 2)
        trial = np.array([x[0], 1.7, x[1]])
        assert econ.segment_profits(market, trial)[[0, 2]].sum() <= joint + 1e-12


def test_nash_raises_when_it_does_not_converge():
    market = _many_segments(2, S=20)
    with pytest.raises(RuntimeError, match="did not converge"):
        econ.nash_prices(market, max_iter=1, tol=0.0)


def test_best_response_equals_the_logit_best_response():
    a, c, a0, mu = [2.5, 1.5, 2.0], [1.0, 0.4, 0.8], 0.3, 0.4
    market = _calvano_as_segments(a, c, a0, mu)
    for p in ([1.2, 1.0, 1.5], [3.0, 0.5, 2.0], [1.0, 1.0, 1.0]):
        for i in range(3):
            # FOC p_i - c_i = mu / (1 - s_i), written out.
            br = econ.best_response(market, p, i)
            q = np.array(p, dtype=float)
            q[i] = br
            assert br - c[i] == pytest.approx(mu / (1 - _shares(q, a, a0, mu)[i]), rel=1e-12)
            assert econ.logit_best_response(p, i, a, c, a0, mu) == pytest.approx(br, rel=1e-12)


def test_best_response_many_segments_is_the_profit_maximum():
    market = _many_segments(3)
    p = np.array([1.6, 1.8, 2.0])
    grid = np.linspace(market.costs[1], market.costs[1] + 20, 200_001)

    def profit(x):
        trial = np.tile(p, (x.size, 1))
        trial[:, 1] = x
        return np.array([econ.segment_profits(market, row)[1] for row in trial])

    br = econ.best_response(market, p, 1)
    coarse = grid[::100][np.argmax(profit(grid[::100]))]
    fine = np.linspace(coarse - 0.02, coarse + 0.02, 4001)
    assert abs(br - fine[np.argmax(profit(fine))]) < 2e-5
    assert profit(np.array([br]))[0] >= profit(fine).max() - 1e-9
    # A precomputed rival log term gives the same answer.
    L = market.rival_log_term(p, 1)
    assert econ.best_response(market, p, 1, rival_log_term=L) == br


def test_best_response_with_two_separated_peaks_finds_the_higher():
    """A mass market with high price sensitivity and a small, price-insensitive niche: the
    profit has two local maxima; the best response is the global one."""
    for niche, expect_high in ((0.02, False), (0.5, True)):
        market = econ.SegmentMarket(qualities=[0.0], costs=[1.0], sizes=[1.0, niche],
                                    alpha=[10.0, 0.05], theta=[0.0, 0.0], outside_price=1.5,
                                    outside_quality=0.0)
        grid = np.linspace(1.0, 200.0, 400_001)
        profits = np.array([econ.segment_profits(market, [x])[0] for x in grid[::20]])
        best = grid[::20][np.argmax(profits)]
        br = econ.best_response(market, [0.0], 0)
        assert (br > 10) == expect_high
        assert br == pytest.approx(best, abs=0.02)


def test_capacity_binding_best_response_is_where_demand_equals_capacity():
    a, c = [A, A], [C, C]
    market = econ.SegmentMarket.logit(a, c, A0, MU)
    p = np.array([1.5, 1.5])
    free = econ.best_response(market, p, 0)
    d_free = _shares([free, 1.5], a, A0, MU)[0]
    # Capacity above the uncapped demand: no change.
    assert econ.best_response(market, p, 0, capacity=d_free * 1.01) == free
    assert econ.best_response(market, p, 0, capacity=np.inf) == free
    # Capacity below it: the price at which demand equals capacity.
    k = 0.5 * d_free
    capped = econ.best_response(market, p, 0, capacity=k)
    assert capped > free
    assert _shares([capped, 1.5], a, A0, MU)[0] == pytest.approx(k, rel=1e-12)
    # The market's own capacities via capacity=True.
    limited = econ.SegmentMarket.logit(a, c, A0, MU)
    limited = econ.SegmentMarket(limited.qualities, limited.costs, limited.sizes, limited.alpha,
                                 limited.theta, 0.0, A0, capacities=[k, 1.0])
    assert econ.best_response(limited, p, 0, capacity=True) == capped
    assert econ.best_response(limited, p, 0) == free
    np.testing.assert_allclose(econ.segment_profits(limited, [capped, 1.5], capacity=True)[0],
                               (capped - 1) * k, rtol=1e-12)


def test_capacity_binding_many_segments():
    market = _many_segments(4)
    p = np.array([1.6, 1.8, 2.0])
    free = econ.best_response(market, p, 0)
    d = econ.segment_demand(market, np.array([free, 1.8, 2.0]))[0]
    capped = econ.best_response(market, p, 0, capacity=0.3 * d)
    assert econ.segment_demand(market, np.array([capped, 1.8, 2.0]))[0] == pytest.approx(
        0.3 * d, rel=1e-10)


def test_cleared_margins_without_capacity_are_segment_profits():
    market = _many_segments(5, S=40)
    p = np.array([1.6, 1.8, 2.0])
    joint = np.array([[1.5, 1.9], [2.5, 2.1]])
    out = econ.cleared_margins(market, p, [0, 2], joint, capacity=False)
    for r, row in enumerate(joint):
        q = np.array([row[0], 1.8, row[1]])
        np.testing.assert_allclose(out[r], econ.segment_profits(market, q)[[0, 2]], rtol=1e-12)


def test_cleared_margins_with_capacity_serve_at_most_capacity():
    base = _many_segments(6, S=40)
    p = np.array([1.6, 1.8, 2.0])
    d = econ.segment_demand(base, p)
    caps = 0.5 * d
    market = econ.SegmentMarket(base.qualities, base.costs, base.sizes, base.alpha, base.theta,
                                base.outside_price, base.outside_quality, capacities=caps)
    out = econ.cleared_margins(market, p, [0, 1, 2], p, rechoice_rounds=2)[0]
    np.testing.assert_allclose(out, (p - base.costs) * caps, rtol=1e-12)


def test_elasticity_of_one_segment_is_minus_alpha_p_one_minus_s():
    a, c, a0, mu = [2.5, 1.5, 2.0], [1.0, 0.4, 0.8], 0.3, 0.4
    market = econ.SegmentMarket.logit(a, c, a0, mu)
    p = np.array([1.7, 1.1, 1.4])
    s = _shares(p, a, a0, mu)
    el = econ.elasticities(market, p)
    np.testing.assert_allclose(el.own, -p * (1 - s) / mu, rtol=1e-12)
    # Cross elasticities of logit: e_ik = alpha p_k s_k.
    for i in range(3):
        for k in range(3):
            if i != k:
                assert el.matrix[i, k] == pytest.approx(p[k] * s[k] / mu, rel=1e-12)
                # Logit diversion is proportional to the rivals' shares: s_k / (1 - s_i).
                assert el.diversion[i, k] == pytest.approx(s[k] / (1 - s[i]), rel=1e-12)
    np.testing.assert_allclose(el.diversion_outside, (1 - s.sum()) / (1 - s), rtol=1e-12)
    np.testing.assert_allclose(el.diversion.sum(axis=1) + el.diversion_outside, 1.0,
                               rtol=1e-14)


def test_elasticities_many_segments_match_finite_differences():
    market = _many_segments(7, S=50)
    p = np.array([1.6, 1.8, 2.0])
    el = econ.elasticities(market, p)
    d = econ.segment_demand(market, p)
    h = 1e-6
    for k in range(3):
        up, dn = p.copy(), p.copy()
        up[k] += h
        dn[k] -= h
        slope = (econ.segment_demand(market, up) - econ.segment_demand(market, dn)) / (2 * h)
        np.testing.assert_allclose(el.matrix[:, k], slope * p[k] / d, rtol=1e-6)
        if k:  # diversion from firm 0 to k: dD_k/dp_0 over -dD_0/dp_0
            up, dn = p.copy(), p.copy()
            up[0] += h
            dn[0] -= h
            d0 = (econ.segment_demand(market, up) - econ.segment_demand(market, dn)) / (2 * h)
            assert el.diversion[0, k] == pytest.approx(d0[k] / -d0[0], rel=1e-6)
    np.testing.assert_allclose(el.diversion.sum(axis=1) + el.diversion_outside, 1.0,
                               rtol=1e-13)


def test_lerner_and_inverse_elasticity_rule():
    market = econ.SegmentMarket.logit([A, A], [C, C], A0, MU)
    pn = econ.nash_prices(market, tol=1e-14)
    np.testing.assert_allclose(econ.lerner(pn, [C, C]), -1 / econ.elasticities(market, pn).own,
                               rtol=1e-10)
    assert econ.lerner(2.0, 1.5) == 0.25


def test_hhi_with_the_outside_seller():
    assert econ.hhi([0.2, 0.2]) == pytest.approx(5_000)  # default: inside market
    assert econ.hhi([0.2, 0.2], normalise=False) == pytest.approx(10_000 * (0.04 + 0.04 + 0.36))
    assert econ.hhi([0.0, 0.0], normalise=False) == pytest.approx(10_000)
    assert econ.hhi([0.5, 0.5], normalise=False) == pytest.approx(5_000)
    with pytest.raises(ValueError):
        econ.hhi([0.7, 0.7], normalise=False)


def test_segment_market_checks_shapes():
    with pytest.raises(ValueError, match="per firm"):
        econ.SegmentMarket([1.0, 2.0], [1.0], [1.0], [1.0], [1.0], 0.0, 0.0)
    with pytest.raises(ValueError, match="per segment"):
        econ.SegmentMarket([1.0], [1.0], [1.0, 2.0], [1.0], [1.0], 0.0, 0.0)
    with pytest.raises(ValueError, match="positive"):
        econ.SegmentMarket([1.0], [1.0], [1.0], [0.0], [1.0], 0.0, 0.0)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), segments=st.integers(1, 12),
       cap_share=st.floats(0.05, 2.0))
def test_best_response_property_no_grid_price_does_better(seed, segments, cap_share):
    rng = np.random.default_rng(seed)
    market = econ.SegmentMarket(
        qualities=rng.uniform(0, 100, 2), costs=rng.uniform(0.1, 2.0, 2),
        sizes=rng.lognormal(0, 1, segments), alpha=rng.lognormal(0, 1, segments),
        theta=rng.lognormal(np.log(0.02), 0.5, segments), outside_price=rng.uniform(0, 3),
        outside_quality=rng.uniform(0, 100))
    p = market.costs + rng.uniform(0, 3, 2)
    free = econ.best_response(market, p, 0)
    cap = cap_share * econ.segment_demand(market, np.array([free, p[1]]))[0]
    for k in (None, cap):
        br = econ.best_response(market, p, 0, capacity=k)
        assert br >= market.costs[0]
        grid = market.costs[0] + np.geomspace(1e-3, 1e3, 3000)
        trial = np.column_stack([grid, np.full(grid.size, p[1])])
        d = np.array([econ.segment_demand(market, row)[0] for row in trial])
        cap_k = np.inf if k is None else k
        best_grid = ((grid - market.costs[0]) * np.minimum(d, cap_k)).max()
        d_br = econ.segment_demand(market, np.array([br, p[1]]))[0]
        assert (br - market.costs[0]) * min(d_br, cap_k) >= best_grid * (1 - 1e-9) - 1e-300


@pytest.fixture(scope="module")
def algorithmic_pricing_snapshot():
    import sim
    from sim.strategies.learning import Snapshot
    from sim.world.model import PriceWarModel

    model = PriceWarModel(sim.validate(sim.compose([
        "scenario=algorithmic_pricing", "shocks=[]", "~firms.lab",
        "firms.algo_a.pricing.pretrain_max_periods=0",
        "firms.algo_b.pricing.pretrain_max_periods=0"])))
    for _ in range(2):
        model.step()
    return Snapshot.of(model.view(model.firms["algo_a"]))


@pytest.mark.parametrize("firms", [2, 3])
def test_arena_benchmarks_are_nash_and_joint_monopoly(algorithmic_pricing_snapshot, firms):
    """The Q arena's benchmarks on the algorithmic_pricing market, with its two learners and
    with a third, asymmetric firm: at the Nash prices each player's price is its best response
    to the others; at the joint-monopoly prices no small move raises the players' summed
    profit; with two symmetric learners both equal Calvano's closed forms."""
    import dataclasses

    from sim.strategies.learning import Snapshot

    snap = algorithmic_pricing_snapshot
    if firms == 3:
        market = dataclasses.replace(snap.market, qualities=np.array([200.0, 210.0, 190.0]),
                                     costs=np.array([1.0, 0.9, 1.1]))
        snap = Snapshot(market, np.array([1.7, 1.6, 1.5]), snap.rechoice_rounds)
    market = snap.market
    for players in (np.arange(firms), np.array([0, 1])):
        b = snap.benchmarks(players)
        full = snap.prices.copy()
        full[players] = b.nash_price
        for k, i in enumerate(players):
            assert econ.best_response(market, full, int(i)) == pytest.approx(b.nash_price[k],
                                                                            rel=1e-9)
        full[players] = b.monopoly_price
        joint = econ.segment_profits(market, full)[players].sum()
        for i in players:
            for h in (1e-4, -1e-4):
                moved = full.copy()
                moved[i] += h
                assert econ.segment_profits(market, moved)[players].sum() <= joint + 1e-12
        np.testing.assert_allclose(b.monopoly_profit, econ.segment_profits(market, full)[players],
                                   rtol=1e-12)
    if firms == 2:
        a, c = np.full(2, 2.0), np.full(2, 1.0)
        b = snap.benchmarks(np.arange(2))
        np.testing.assert_allclose(b.nash_price, econ.logit_nash_prices(a, c, 0.0, 0.25),
                                   rtol=1e-9)
        np.testing.assert_allclose(b.monopoly_price, econ.logit_monopoly_prices(a, c, 0.0, 0.25),
                                   rtol=1e-9)


def test_capacity_constrained_nash_is_a_fixed_point_of_capped_best_responses():
    """With capacity binding, best-response dynamics contract slowly; the solver still returns
    prices at which each firm's capped best response to the others is its own price."""
    rng = np.random.default_rng(3)
    sizes, alpha = rng.lognormal(0.0, 1.0, 50), rng.lognormal(1.0, 0.5, 50)
    market = econ.SegmentMarket(qualities=[1300.0, 1290.0], costs=[0.1, 0.35], sizes=sizes,
                                alpha=alpha, theta=np.full(50, 0.01), outside_price=4.0,
                                outside_quality=1300.0, capacities=[0.15 * sizes.sum(), 1e9])
    p = econ.nash_prices(market, [1.0, 1.0], capacity=True)
    for i in range(2):
        assert econ.best_response(market, p, i, capacity=True) == pytest.approx(p[i], rel=1e-9)
    demand = econ.segment_demand(market, p)
    assert demand[0] == pytest.approx(market.capacities[0], rel=1e-8)  # the capacity binds
    uncapped = econ.nash_prices(market, [1.0, 1.0])
    assert p[0] > uncapped[0]


@pytest.mark.parametrize("capacity", [False, True])
def test_newtons_equilibrium_is_the_best_response_fixed_point(capacity):
    """The Newton path (verify=False) lands where verified best-response dynamics do, with and
    without binding capacities, and a warm-started joint monopoly equals a cold one."""
    rng = np.random.default_rng(7)
    sizes, alpha = rng.lognormal(0.0, 1.0, 80), rng.lognormal(1.0, 0.6, 80)
    market = econ.SegmentMarket(qualities=[1300.0, 1280.0, 1250.0], costs=[0.05, 0.2, 0.1],
                                sizes=sizes, alpha=alpha, theta=rng.lognormal(-4.6, 1.0, 80),
                                outside_price=4.0, outside_quality=1300.0,
                                capacities=np.array([0.1, 0.5, 1.0]) * sizes.sum())
    fast = econ.nash_prices(market, [1.0, 1.0, 1.0], capacity=capacity, verify=False)
    for i in range(3):
        full = fast.copy()
        assert econ.best_response(market, full, i, capacity=capacity) == \
            pytest.approx(fast[i], rel=1e-8)
    cold = econ.monopoly_prices(market, fast)
    warm = econ.monopoly_prices(market, fast, start=cold * 1.01, warm=True)
    np.testing.assert_allclose(warm, cold, rtol=1e-7)


@pytest.mark.parametrize("usage", [Usage(), Usage(0.6, 0.5)], ids=["fixed", "elastic"])
def test_compiled_nash_system_equals_the_numpy_statement_and_its_jacobian(usage):
    from sim.learning.kernels import nash_system

    rng = np.random.default_rng(11)
    sizes, alpha = rng.lognormal(0.0, 1.0, 40), rng.lognormal(1.0, 0.5, 40)
    market = econ.SegmentMarket(qualities=[1300.0, 1280.0, 1250.0], costs=[0.05, 0.2, 0.1],
                                sizes=sizes, alpha=alpha, theta=rng.lognormal(-4.6, 1.0, 40),
                                outside_price=4.0, outside_quality=1300.0, usage=usage)
    base = market.price_free_utilities()
    p = np.array([0.9, 1.1, 0.7])
    players = np.array([0, 2], dtype=np.int64)
    capped = np.array([True, False])
    caps = np.array([0.2 * sizes.sum(), 0.0])
    want = econ._nash_system(base, market, p, players, capped, caps)
    got = nash_system(base, market.alpha, market.sizes, market.costs, p, players, capped, caps,
                      *econ._usage_terms(market, p))
    for w, g in zip(want, got, strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-15)
    # The conditions are what they say: D_i - K_i for the capped player, and the profit's
    # derivative (by central differences) over g_i for the other.
    d = econ.segment_demand(market, p)
    assert got[2][0] == pytest.approx(d[0], rel=1e-12)
    h = 1e-6
    up, down = p.copy(), p.copy()
    up[2] += h
    down[2] -= h
    dpi = (econ.segment_profits(market, up)[2] - econ.segment_profits(market, down)[2]) / (2 * h)
    assert got[3][1] * usage.factor(p[2]) == pytest.approx(dpi, rel=1e-6)
    # The Jacobian is the derivative of each condition (central differences), row-scaled as f:
    # the capped row is D_0 over K_0, the other G_2 over C_2 = D_2 / g_2.
    scale = np.array([caps[0], d[2] / usage.factor(p[2])])
    for col, k in enumerate(players):
        up, down = p.copy(), p.copy()
        up[k] += h
        down[k] -= h
        su = econ._nash_system(base, market, up, players, capped, caps)
        sd = econ._nash_system(base, market, down, players, capped, caps)
        fd = np.array([su[2][0] - sd[2][0], su[3][1] - sd[3][1]]) / (2 * h)
        np.testing.assert_allclose(got[1][:, col] * scale, fd, rtol=1e-5, atol=1e-9)


def _elastic_market(seed, segments, capacities=None):
    rng = np.random.default_rng(seed)
    usage = Usage(rng.uniform(0.1, 0.9), rng.uniform(0.02, 1.0))
    sizes = rng.lognormal(0.0, 1.0, segments) * 1e3
    return econ.SegmentMarket(
        qualities=rng.uniform(1250.0, 1300.0, 3), costs=rng.uniform(0.05, 0.5, 3), sizes=sizes,
        alpha=rng.lognormal(np.log(rng.uniform(1.0, 15.0)), 0.8, segments),
        theta=rng.lognormal(np.log(0.01), 1.0, segments), outside_price=0.0,
        outside_quality=rng.uniform(1200.0, 1300.0), capacities=capacities, usage=usage)


def _profit_longhand(market, prices, i, cap=np.inf):
    """``(p_i - c_i) min(D_i, K)`` with ``D_i = g(p_i) sum_j M_j s_ij`` written out."""
    u = market.usage
    index = lambda p: u.satiation * ((1 + p / u.satiation) ** (1 - u.elasticity) - 1) \
        / (1 - u.elasticity)  # noqa: E731
    v = market.alpha[:, None] * (market.theta[:, None] * (market.qualities[None, :]
                                                          - market.outside_quality)
                                 - index(np.asarray(prices))[None, :])
    s = np.exp(v[:, i]) / (1.0 + np.exp(v).sum(axis=1))
    d = (1 + prices[i] / u.satiation) ** (-u.elasticity) * (market.sizes @ s)
    return (prices[i] - market.costs[i]) * min(d, cap)


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("segments", [1, 7, 60])
def test_elastic_best_response_beats_every_price_on_a_fine_grid(seed, segments):
    """With price-elastic usage the best response earns at least the profit of every price on
    a 4,000-point grid up to ten times its markup, with and without a capacity that binds."""
    market = _elastic_market(seed, segments)
    rng = np.random.default_rng(100 + seed)
    p = market.costs + rng.uniform(0.0, 2.0, 3)
    for i in range(3):
        c = market.costs[i]
        free = econ.best_response(market, p, i)
        demand = econ.segment_demand(market, np.where(np.arange(3) == i, free, p))[i]
        for cap in (np.inf, 0.4 * demand):
            br = econ.best_response(market, p, i, capacity=cap)
            grid = c + np.linspace(0.0, 10.0 * (br - c), 4001)
            best_on_grid = max(_profit_longhand(market, np.where(np.arange(3) == i, x, p), i,
                                                cap) for x in grid)
            at_br = _profit_longhand(market, np.where(np.arange(3) == i, br, p), i, cap)
            assert at_br >= best_on_grid * (1 - 1e-12)
            if np.isfinite(cap):  # the capacity binds: the price sells exactly K
                assert br > free
                assert econ.segment_demand(market, np.where(np.arange(3) == i, br, p))[i] == \
                    pytest.approx(cap, rel=1e-10)


@pytest.mark.parametrize("seed", range(4))
def test_newton_solves_equilibria_where_every_capacity_just_binds(seed):
    """Capacities set below the uncapped equilibrium's demand give an equilibrium in which each
    firm sells exactly its capacity and would rather charge less if it could sell more (a kink
    of its profit).  Newton's method on the Kuhn-Tucker conditions reaches it (it does not fall
    back on best-response dynamics) from the uncapped equilibrium, where every capacity is
    exceeded, and from just above it, where none binds yet; it is a fixed point of the capped
    best responses."""
    base = _elastic_market(seed, 40)
    free = econ.nash_prices(base, None)
    caps = 0.7 * econ.segment_demand(base, free)
    market = econ.SegmentMarket(base.qualities, base.costs, base.sizes, base.alpha, base.theta,
                                base.outside_price, base.outside_quality, caps, base.usage)
    players = np.arange(3)
    p = econ._nash_newton(market, free, players, True, 1e-10)
    assert p is not None
    np.testing.assert_allclose(econ.segment_demand(market, p), caps, rtol=1e-9)
    for i in range(3):
        assert econ.best_response(market, p, i, capacity=True) == pytest.approx(p[i], rel=1e-9)
    for above in (1.005, 1.05):
        assert np.all(econ.segment_demand(market, above * p) < caps)
        again = econ._nash_newton(market, above * p, players, True, 1e-10)
        assert again is not None
        np.testing.assert_allclose(again, p, rtol=1e-9)


@pytest.mark.parametrize("usage", [Usage(), Usage(0.6, 0.5)], ids=["fixed", "elastic"])
def test_compiled_demand_state_equals_surplus_demand_and_jacobian(usage):
    """The one-pass kernel gives the consumer surplus, demand and demand Jacobian of the numpy
    statements, and the Jacobian is the derivative of the demand (central differences)."""
    market = _elastic_market(11, 30)
    market = econ.SegmentMarket(market.qualities, market.costs, market.sizes, market.alpha,
                                market.theta, 0.0, market.outside_quality, usage=usage)
    p = market.costs + np.array([0.3, 0.7, 1.1])
    cs, d, jac = econ.demand_state(market, p)
    want_cs, want_d = econ.surplus_and_demand(market, p)
    assert cs == pytest.approx(want_cs, rel=1e-12)
    np.testing.assert_allclose(d, want_d, rtol=1e-12)
    np.testing.assert_allclose(d, econ.segment_demand(market, p), rtol=1e-12)
    np.testing.assert_allclose(jac, econ.demand_jacobian(market, p), rtol=1e-12)
    for k in range(3):
        h = 1e-6
        up, down = p.copy(), p.copy()
        up[k] += h
        down[k] -= h
        fd = (econ.segment_demand(market, up) - econ.segment_demand(market, down)) / (2 * h)
        np.testing.assert_allclose(jac[:, k], fd, rtol=1e-6)
    # Roy's identity: dCS/dp_k = -D_k.
    for k in range(3):
        up, down = p.copy(), p.copy()
        up[k] += 1e-6
        down[k] -= 1e-6
        dcs = (econ.demand_state(market, up)[0] - econ.demand_state(market, down)[0]) / 2e-6
        assert dcs == pytest.approx(-d[k], rel=1e-6)
