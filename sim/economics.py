"""Closed-form and numeric benchmarks from industrial-organisation theory.

Logit functions use the parameterisation of Calvano, Calzolari, Denicolò & Pastorello (2020,
AER 110(10)): firm ``i`` with quality index ``a_i``, price ``p_i`` and marginal cost ``c_i`` faces

    s_i = exp((a_i - p_i) / mu) / (sum_j exp((a_j - p_j) / mu) + exp(a_0 / mu)),

the outside good having index ``a_0`` and ``mu`` the horizontal-differentiation scale.  The
simulator's segment parameterisation maps onto it with ``alpha = 1/mu`` and
``a_i - a_0 = theta * (q_i - q_0) + p_0`` (see :mod:`sim.markets.tokens`).

All prices, costs and profits here are per unit mass of customers.

Segment market
--------------
The simulator's token market (:mod:`sim.markets.tokens`) is described by :class:`SegmentMarket`:
``n`` firms with qualities ``q_i`` and marginal costs ``c_i``, ``S`` customer segments of size
``M_j`` (million tokens a day), price sensitivity ``alpha_j`` and quality taste ``theta_j``, and an
outside offer ``(p_0, q_0)``.  Utilities relative to the outside option are

.. math::

    v_{ij} = \\alpha_j (\\theta_j (q_i - q_0) - (p_i - p_0)),
    \\qquad s_{ij} = \\frac{e^{v_{ij}}}{1 + \\sum_k e^{v_{kj}}},
    \\qquad D_i = \\sum_j M_j s_{ij},

and firm ``i``'s daily profit is ``(p_i - c_i) D_i`` (or ``(p_i - c_i) min(D_i, K_i)`` against a
capacity ``K_i``).  With price-elastic usage (:class:`sim.markets.tokens.Usage`, ``eta > 0``)
every ``p`` in a utility becomes the usage price index ``P(p)`` and demand is
``D_i = g(p_i) sum_j M_j s_ij``; the solvers below handle both, the fixed-usage case by the
closed forms stated with them.
:func:`segment_demand`, :func:`segment_profits`, :func:`best_response`,
:func:`nash_prices`, :func:`monopoly_prices`, :func:`elasticities` and :func:`cleared_margins`
are the one set of solvers for it; the Calvano functions above are the one-segment case
(:meth:`SegmentMarket.logit`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from scipy import optimize
from scipy.special import expit

from sim.markets.tokens import (
    FIXED,
    Usage,
    choice_probabilities,
    clear,
    log_inclusive,
    relative_utilities,
)

__all__ = [
    "logit_shares",
    "logit_profits",
    "logit_nash_prices",
    "logit_monopoly_prices",
    "logit_best_response",
    "CournotOutcome",
    "cournot",
    "bertrand_homogeneous",
    "hhi",
    "profit_gain",
    "SegmentMarket",
    "segment_demand",
    "segment_profits",
    "cleared_margins",
    "best_response",
    "nash_prices",
    "monopoly_prices",
    "Elasticities",
    "elasticities",
    "lerner",
    "demand_jacobian",
    "efficient_prices",
    "surplus",
    "surplus_and_demand",
    "demand_state",
]


def _as_arrays(a, c=None):
    a = np.atleast_1d(np.asarray(a, dtype=float))
    if c is None:
        return a
    c = np.broadcast_to(np.asarray(c, dtype=float), a.shape).copy()
    return a, c


def logit_shares(prices, a, a0: float = 0.0, mu: float = 0.25) -> np.ndarray:
    """Logit market shares ``s_i = exp((a_i-p_i)/mu) / (sum_j exp((a_j-p_j)/mu) + exp(a0/mu))``.

    Parameters
    ----------
    prices : array_like (n,) or (k, n)
        Prices; a 2-d array is ``k`` price vectors, each evaluated separately.
    a : array_like (n,)
        Quality indices.
    a0 : float
        Outside good's index.
    mu : float
        Differentiation scale (> 0).

    Returns
    -------
    ndarray (n,)
        Inside shares; the outside share is ``1 - shares.sum()``.
    """
    a = _as_arrays(a)
    p = np.asarray(prices, dtype=float)
    p = np.broadcast_to(p, a.shape) if p.ndim < 2 else p
    v = ((a - p) - a0).reshape(-1, a.shape[0]) / mu
    shares, _ = choice_probabilities(v)
    return shares.reshape(p.shape)


def logit_profits(prices, a, c, a0: float = 0.0, mu: float = 0.25) -> np.ndarray:
    """Per-firm profit ``(p_i - c_i) * s_i(p)``; ``prices`` (n,) or (k, n) as in
    :func:`logit_shares`."""
    a, c = _as_arrays(a, c)
    p = np.asarray(prices, dtype=float)
    p = np.broadcast_to(p, a.shape) if p.ndim < 2 else p
    return (p - c) * logit_shares(p, a, a0, mu)


def logit_best_response(prices, i: int, a, c, a0: float = 0.0, mu: float = 0.25) -> float:
    """Firm ``i``'s static best response to rivals' ``prices``.

    The root of the first-order condition ``p_i - c_i = mu / (1 - s_i(p_i, p_-i))``, unique on
    ``(c_i, inf)``, in closed form ``p_i = c_i + mu (1 + W(exp(z - 1)))`` with
    ``z = (a_i - c_i - a_0) / mu - ln(1 + sum_{k != i} exp((a_k - p_k - a_0) / mu))``: the
    one-segment case of :func:`best_response` on :meth:`SegmentMarket.logit`.
    """
    a, c = _as_arrays(a, c)
    p = np.array(np.broadcast_to(np.asarray(prices, dtype=float), a.shape))
    return best_response(SegmentMarket.logit(a, c, a0, mu), p, i)


def logit_nash_prices(a, c, a0: float = 0.0, mu: float = 0.25) -> np.ndarray:
    """Static Bertrand-Nash prices of the logit oligopoly.

    Solves the stacked first-order conditions ``(p_i - c_i) (1 - s_i(p)) = mu`` with Powell's
    hybrid method from ``c + mu`` and checks the residual.

    Returns
    -------
    ndarray (n,)
    """
    a, c = _as_arrays(a, c)

    def foc(p):
        return (p - c) * (1.0 - logit_shares(p, a, a0, mu)) - mu

    sol = optimize.root(foc, c + mu, method="hybr", options={"xtol": 1e-13})
    if np.max(np.abs(foc(sol.x))) > 1e-10 * max(mu, 1.0):  # pragma: no cover
        raise RuntimeError(f"logit Nash solve failed: {sol.message}")
    return sol.x


def logit_monopoly_prices(a, c, a0: float = 0.0, mu: float = 0.25) -> np.ndarray:
    """Prices that maximise joint profit ``sum_i (p_i - c_i) s_i(p)``.

    The first-order conditions ``m_i - sum_k m_k s_k = mu`` (``m_i = p_i - c_i``) give a common
    markup ``m = mu / s_0(p)``, where ``s_0`` is the outside share; ``m`` is the unique root of
    ``m * s_0(c + m) - mu = 0``.

    Returns
    -------
    ndarray (n,)
    """
    a, c = _as_arrays(a, c)

    def foc(m):
        s0 = 1.0 - logit_shares(c + m, a, a0, mu).sum()
        return m * s0 - mu

    hi = mu
    while foc(hi) < 0:
        hi *= 2.0
    m = optimize.brentq(foc, mu, hi, xtol=1e-14, rtol=1e-14)
    return c + m


@dataclass(frozen=True)
class CournotOutcome:
    """Symmetric Cournot equilibrium: per-firm quantity, total quantity, price, per-firm profit."""

    quantity: float
    total_quantity: float
    price: float
    profit: float


def cournot(a: float, b: float, c: float, n: int) -> CournotOutcome:
    """Cournot-Nash equilibrium: ``n`` symmetric firms, inverse demand ``P = a - b*Q``, cost ``c``.

    ``q* = (a - c) / (b (n + 1))``, ``P* = (a + n c) / (n + 1)``,
    ``profit* = (a - c)^2 / (b (n + 1)^2)``.
    """
    if n < 1:
        raise ValueError(f"n={n}: must be at least 1")
    if b <= 0:
        raise ValueError(f"b={b}: must be positive")
    if a <= c:
        raise ValueError(f"a={a}, c={c}: demand intercept must exceed cost")
    q = (a - c) / (b * (n + 1))
    return CournotOutcome(q, n * q, (a + n * c) / (n + 1), (a - c) ** 2 / (b * (n + 1) ** 2))


def bertrand_homogeneous(costs) -> tuple[float, np.ndarray]:
    """Homogeneous-good Bertrand equilibrium price and the firms that sell.

    With two or more firms the price is the second-lowest marginal cost (``p = c`` when the lowest
    cost is shared); the lowest-cost firms sell.  Returns ``(price, winners)``.
    """
    costs = np.asarray(costs, dtype=float)
    if costs.size < 2:
        raise ValueError(f"costs has {costs.size} firms: Bertrand needs at least 2")
    order = np.sort(costs)
    return float(order[1]), np.flatnonzero(costs == order[0])


def hhi(shares, normalise: bool = True) -> float:
    """Herfindahl-Hirschman index ``sum_i (100 s_i)^2`` on the 0-10,000 scale.

    ``shares`` are fractions.  With ``normalise`` (the default) they are rescaled to sum to 1
    (shares of the inside market).  With ``normalise=False`` they are shares of all customers
    and the outside seller, holding the rest ``1 - sum_i s_i``, is counted as one more seller
    (a market with only the outside seller has HHI 10,000).  An all-zero vector gives 0 when
    normalised.
    """
    s = np.asarray(shares, dtype=float)
    total = s.sum()
    if not normalise:
        if total > 1.0 + 1e-9 or np.any(s < 0):
            raise ValueError(f"shares sum to {total}: shares of all customers must be "
                             "non-negative and sum to at most 1")
        rest = max(1.0 - total, 0.0)
        return float(10_000.0 * (np.sum(s * s) + rest * rest))
    if total <= 0:
        return 0.0
    s = s / total
    return float(10_000.0 * np.sum(s * s))


def profit_gain(profit, nash, monopoly):
    """Calvano et al.'s profit gain ``Delta = (profit - nash) / (monopoly - nash)``.

    0 at the static Nash profit, 1 at the joint-monopoly profit.
    """
    return (np.asarray(profit, dtype=float) - nash) / (monopoly - nash)


# --------------------------------------------------------------------------------------------
# The segment market: the simulator's token market as arrays
# --------------------------------------------------------------------------------------------

def _vec(x) -> np.ndarray:
    return np.atleast_1d(np.asarray(x, dtype=float))


@dataclass(frozen=True, eq=False)
class SegmentMarket:
    """The token market's demand side and the firms' costs, as arrays (see the module doc).

    Attributes
    ----------
    qualities, costs : (n,) firms' quality points and marginal costs (USD per million tokens).
    sizes, alpha, theta : (S,) segment sizes ``M_j`` (million tokens a day), price sensitivities
        ``alpha_j > 0`` (per USD/M) and quality tastes ``theta_j`` (USD/M per point).
    outside_price, outside_quality : the no-purchase reference offer ``(p_0, q_0)`` (Calvano's
        outside good); a seller with unlimited capacity, such as a frontier closed model, is a
        firm with an exogenous price (not a player of the solvers).
    capacities : (n,) million tokens a day each firm can serve (``inf`` for no limit), or
        ``None`` for no limits.
    usage : price-elastic usage (:class:`sim.markets.tokens.Usage`); fixed by default.

    Prices are not part of the market: every function takes them as an argument.
    """

    qualities: np.ndarray
    costs: np.ndarray
    sizes: np.ndarray
    alpha: np.ndarray
    theta: np.ndarray
    outside_price: float
    outside_quality: float
    capacities: np.ndarray | None = None
    usage: Usage = FIXED

    def __post_init__(self):
        for name in ("qualities", "costs", "sizes", "alpha", "theta"):
            object.__setattr__(self, name, _vec(getattr(self, name)))
        object.__setattr__(self, "outside_price", float(self.outside_price))
        object.__setattr__(self, "outside_quality", float(self.outside_quality))
        if self.capacities is not None:
            object.__setattr__(self, "capacities", _vec(self.capacities))
        n, s = self.qualities.shape[0], self.sizes.shape[0]
        if self.costs.shape != (n,) or (self.capacities is not None
                                        and self.capacities.shape != (n,)):
            raise ValueError(f"costs and capacities must have one entry per firm ({n})")
        if self.alpha.shape != (s,) or self.theta.shape != (s,):
            raise ValueError(f"alpha and theta must have one entry per segment ({s})")
        if not np.all(self.alpha > 0):
            raise ValueError("alpha: every segment's price sensitivity must be positive")

    @property
    def n(self) -> int:
        """Number of firms."""
        return self.qualities.shape[0]

    @classmethod
    def logit(cls, a, c, a0: float = 0.0, mu: float = 0.25) -> SegmentMarket:
        """Calvano et al.'s logit market (see :func:`logit_shares`) as one segment of unit size:
        ``alpha = 1/mu``, ``theta = 1``, ``q_i = a_i``, ``q_0 = a_0``, ``p_0 = 0``."""
        a, c = _as_arrays(a, c)
        return cls(qualities=a, costs=c, sizes=[1.0], alpha=[1.0 / mu], theta=[1.0],
                   outside_price=0.0, outside_quality=float(a0))

    def utilities(self, prices) -> np.ndarray:
        """``v_ij`` (S, n) at ``prices`` (:func:`sim.markets.tokens.relative_utilities`)."""
        return relative_utilities(_vec(prices), self.qualities, self.alpha, self.theta,
                                  self.outside_price, self.outside_quality, self.usage)

    def shares(self, prices) -> tuple[np.ndarray, np.ndarray]:
        """Choice probabilities ``s_ij`` (S, n) and ``s_0j`` (S,) at ``prices``."""
        return choice_probabilities(self.utilities(prices))

    def rival_log_term(self, prices, i: int) -> np.ndarray:
        """``L_j = ln(1 + sum_{k != i} exp(v_kj))`` (S,): firm ``i``'s rivals' and the outside
        option's logit weight, as :func:`sim.markets.tokens.own_price_demand` takes it."""
        prices = _vec(prices)
        others = np.arange(self.n) != i
        return log_inclusive(relative_utilities(
            prices[others], self.qualities[others], self.alpha, self.theta, self.outside_price,
            self.outside_quality, self.usage))

    def price_free_utilities(self) -> np.ndarray:
        """``b_ij`` (S, n) with ``v_ij = b_ij - alpha_j P(p_i)``:
        ``alpha_j (theta_j (q_i - q_0) + P(p_0))``."""
        return self.alpha[:, None] * (self.theta[:, None] * (self.qualities[None, :]
                                                             - self.outside_quality)
                                      + float(self.usage.index(self.outside_price)))


def segment_demand(market: SegmentMarket, prices) -> np.ndarray:
    """First-round (unrationed) demand ``D_i = g(p_i) sum_j M_j s_ij`` (n,), million tokens a
    day (``g = 1`` with fixed usage)."""
    shares, _ = market.shares(prices)
    return market.usage.factor(_vec(prices)) * (market.sizes @ shares)


def segment_profits(market: SegmentMarket, prices, capacity: bool = False) -> np.ndarray:
    """Daily profit of each firm (n,), USD: ``(p_i - c_i) D_i``, or with ``capacity`` (and a
    market with capacities) ``(p_i - c_i) min(D_i, K_i)``.  Rationed customers' re-choice is not
    modelled here; :func:`cleared_margins` clears the market with it."""
    prices = _vec(prices)
    d = segment_demand(market, prices)
    if capacity and market.capacities is not None:
        d = np.minimum(d, market.capacities)
    return (prices - market.costs) * d


def cleared_margins(market: SegmentMarket, prices, players, joint, rechoice_rounds: int = 1,
                    capacity: bool = True) -> np.ndarray:
    """Daily operating margin ``(p_i - c_i) served_i`` of the ``players`` (firm indices) at each
    row of ``joint`` (their prices, (k, len(players))), every other firm at ``prices``; each row
    cleared by :func:`sim.markets.tokens.clear` (proportional rationing and
    ``rechoice_rounds`` re-choice rounds), with the market's capacities only if ``capacity``.
    Returns (k, len(players))."""
    players = np.asarray(players)
    joint = np.atleast_2d(np.asarray(joint, dtype=float))
    p = _vec(prices).copy()
    caps = market.capacities if capacity else None
    out = np.empty(joint.shape)
    for r, row in enumerate(joint):
        p[players] = row
        res = clear(p, market.qualities, caps, market.sizes, market.alpha, market.theta,
                    market.outside_price, market.outside_quality, rechoice_rounds, market.usage)
        out[r] = (row - market.costs[players]) * res.served[players]
    return out


def _w_exp(t: np.ndarray) -> np.ndarray:
    """Lambert W of ``exp(t)``: the root ``w > 0`` of ``w + ln w = t``, for any real ``t``
    without forming ``exp(t)``.  Newton's method on the concave ``w + ln w - t`` from Winitzki's
    approximation ``W(x) ~ l (1 - ln(1 + l) / (2 + l))``, ``l = ln(1 + x)``; after the first
    step the iterates rise monotonically to the root (quadratically near it).  Stops when a step
    moves ``1 + w`` (what :func:`best_response` uses) by less than ``1e-15`` relative."""
    t = np.maximum(np.asarray(t, dtype=float), -700.0)  # W(e^t) = e^t to double precision
    big = np.logaddexp(0.0, t)  # ln(1 + e^t); Winitzki's start, within 2% of W everywhere
    w = big * (1.0 - np.log1p(big) / (2.0 + big))
    for _ in range(100):
        new = (1.0 + t - np.log(w)) * (w / (1.0 + w))
        done = np.all(np.abs(new - w) <= 1e-15 * (1.0 + new))
        w = new
        if done:
            break
    return w


#: Logit exponents are capped here before ``exp``: ``s = 1`` and ``1 - s = 0`` to double
#: precision well before it, and ``exp`` does not overflow.
_EXP_CAP = 700.0


@functools.cache
def _unit_grid(size: int) -> np.ndarray:
    grid = np.linspace(0.0, 1.0, size)
    grid.flags.writeable = False
    return grid


def _capacity_of(market: SegmentMarket, i: int, capacity) -> float:
    if capacity is None or capacity is False:
        return np.inf
    if capacity is True:
        return np.inf if market.capacities is None else float(market.capacities[i])
    return float(capacity)


def _maxima(pg: np.ndarray, f: np.ndarray, foc, lo: float, hi: float) -> list[float]:
    """Local maxima of profit on the bracket ``[lo, hi]`` from ``pi'`` on its grid ``pg``
    (values ``f``): each sign change from ``+`` to ``-`` refined by Brent's method on ``foc``."""
    maxima = [lo] if f[0] <= 0 else []
    for k in np.flatnonzero((f[:-1] > 0) & (f[1:] <= 0)):
        maxima.append(pg[k + 1] if f[k + 1] == 0 else
                      optimize.brentq(foc, pg[k], pg[k + 1],
                                      xtol=1e-14 * max(abs(pg[k + 1]), 1e-3)))
    if f[-1] > 0:  # pragma: no cover - pi'(max r_j) <= 0 up to round-off
        maxima.append(hi)
    return maxima


def _capped(p_u: float, maxima: list[float], c: float, cap: float, demand, profit) -> float:
    """The best price against capacity ``cap`` given the uncapped optimum ``p_u`` and the
    uncapped local maxima (see :func:`best_response`): ``p_u`` if its demand fits, else the
    better of the price ``p_K`` that fills capacity and any local maximum above it."""
    if not np.isfinite(cap) or cap <= 0 or demand(p_u) <= cap:
        return p_u
    top = c + 2.0 * (p_u - c)
    for _ in range(2000):
        if demand(top) < cap:
            break
        top = c + 2.0 * (top - c)
    p_k = float(optimize.brentq(lambda p: demand(p) - cap, p_u, top,
                                xtol=1e-14 * max(abs(top), 1e-3)))
    above = [(profit(p), p) for p in maxima if p > p_k]
    if above and max(above)[0] > profit(p_k):
        return float(max(above)[1])
    return p_k


def best_response(market: SegmentMarket, prices, i: int, capacity=None,
                  rival_log_term: np.ndarray | None = None, grid: int = 48) -> float:
    """Firm ``i``'s profit-maximising price against its rivals' ``prices``.

    .. math::

        p^* = \\arg\\max_{p \\ge c_i} (p - c_i) \\min(D_i(p), K), \\qquad
        D_i(p) = \\sum_j \\frac{M_j}{1 + e^{L_j - v_{ij}(p)}},

    with ``L_j = ln(1 + sum_{k != i} exp(v_kj))`` the rivals' log term (pass ``rival_log_term``
    to reuse a cached one, e.g. the offer book's, and ``prices`` may then be ``None``; it is
    computed from ``prices`` otherwise; ``prices[i]`` is ignored).

    **Uncapped optimum.**  Write ``s_j(p)`` for ``i``'s share of segment ``j`` and ``m = p - c_i``.
    The profit's derivative is

    .. math::

        \\pi'(p) = \\sum_j M_j s_j \\left[1 - \\alpha_j m (1 - s_j)\\right].

    Term ``j`` is positive below and negative above the segment's own optimum ``r_j``, the root
    of ``alpha_j m (1 - s_j) = 1``, which in closed form is

    .. math::

        r_j = c_i + \\frac{1 + W(e^{z_j - 1})}{\\alpha_j}, \\qquad z_j = v_{ij}(c_i) - L_j

    (``W`` the Lambert W function).  So ``pi' > 0`` below ``min_j r_j`` and ``pi' < 0`` above
    ``max_j r_j``: every maximiser lies in ``[min_j r_j, max_j r_j]`` (over segments with
    ``M_j > 0``), a bracket derived from the model, not guessed.  With one segment (or all
    ``r_j`` equal) the bracket is a point and the closed form is the answer.  Otherwise
    ``pi'`` is evaluated on ``grid`` markups geometrically spaced over the bracket, each sign
    change from ``+`` to ``-`` (a local maximum) is refined by Brent's root finder on ``pi'``,
    and the candidate with the highest profit wins.

    **Capacity.**  With a capacity ``K`` (``capacity`` a number, or ``True`` for the market's
    ``capacities[i]``; ``None``/``False`` for none): demand falls in the own price, so profit is
    ``(p - c_i) K``, rising, until ``D_i(p_K) = K``, and the uncapped profit above ``p_K``.
    Hence the optimum is the uncapped one if ``D_i(p_u) <= K``, else the better of ``p_K``
    (found by Brent's method on ``D_i(p) - K``) and any local maximum of the uncapped profit
    above ``p_K`` (in one segment there is none: the optimum is ``max(p_u, p_K)``).

    Returns
    -------
    float
        The price, USD per million tokens.
    """
    c = float(market.costs[i])
    L = market.rival_log_term(prices, i) if rival_log_term is None else rival_log_term
    if not market.usage.fixed:
        return _best_response_elastic(market, i, c, L, capacity, grid)
    a, big_m = market.alpha, market.sizes
    base = a * (market.theta * (market.qualities[i] - market.outside_quality)
                + market.outside_price) - L  # v_ij(p) - L_j = base_j - alpha_j p
    live = big_m > 0
    if not live.all() and live.any():
        a, big_m, base = a[live], big_m[live], base[live]

    def foc(p):
        e = np.exp(np.minimum(base - a * p, _EXP_CAP))  # s / (1 - s)
        r = 1.0 / (1.0 + e)  # 1 - s
        return float(big_m @ (e * r * (1.0 - a * (p - c) * r)))

    def profit(p):
        return (p - c) * float(big_m @ expit(base - a * p))

    r = c + (1.0 + _w_exp(base - a * c - 1.0)) / a
    lo, hi = float(r.min()), float(r.max())
    if hi - lo <= 1e-13 * abs(hi):
        maxima = [lo]
    else:
        pg = c + (lo - c) * ((hi - c) / (lo - c)) ** _unit_grid(max(int(grid), 2))
        pg[0], pg[-1] = lo, hi
        x = base[:, None] - a[:, None] * pg[None, :]
        np.minimum(x, _EXP_CAP, out=x)
        e = np.exp(x, out=x)
        r = e + 1.0
        np.reciprocal(r, out=r)
        e *= r  # s
        ar = a[:, None] * r
        ar *= (c - pg)[None, :]
        ar += 1.0
        e *= ar
        maxima = _maxima(pg, big_m @ e, foc, lo, hi)
    p_u = float(maxima[int(np.argmax([profit(p) for p in maxima]))])
    return _capped(p_u, maxima, c, _capacity_of(market, i, capacity),
                   lambda p: float(big_m @ expit(base - a * p)), profit)


def _best_response_elastic(market: SegmentMarket, i: int, c: float, L: np.ndarray, capacity,
                           grid: int) -> float:
    """:func:`best_response` with price-elastic usage (``eta > 0``).

    With ``g(p) = (1 + p/kappa)^(-eta)``, ``P' = g`` and ``e(p) = eta / (p + kappa)``, profit
    ``pi(p) = (p - c) g(p) sum_j M_j s_j(p)`` with ``s_j = expit(b_j - L_j - alpha_j P(p))`` has

    .. math::

        \\pi'(p) = g(p) \\sum_j M_j s_j \\left[1 - m \\left(e(p) + \\alpha_j g(p) (1 - s_j)
            \\right)\\right].

    ``h_j(p) = m (e + alpha_j g (1 - s_j))`` rises in ``p`` (``eta (p - c) / (p + kappa)`` and
    ``(p - c) g(p)`` rise for ``c > -kappa`` and ``eta < 1``; ``1 - s_j`` rises), from 0 at
    ``c`` to infinity, so each segment's term changes sign once, at its own optimum ``r_j``
    (found by bisection), and every maximiser lies in ``[min r_j, max r_j]``: the bracket, grid
    and capacity logic of :func:`best_response` then apply unchanged.  Compiled
    (:func:`sim.learning.kernels.best_response_elastic`): the roots ``r_j`` by bisection, each
    local maximum and ``p_K`` by regula falsi (Illinois) to ``1e-14`` relative.
    """
    from sim.learning.kernels import best_response_elastic  # compiled; loaded on first use

    a, big_m = market.alpha, market.sizes
    base = market.price_free_utilities()[:, i] - L  # v_ij(p) - L_j = base_j - alpha_j P(p)
    live = big_m > 0
    if not live.all() and live.any():
        a, big_m, base = a[live], big_m[live], base[live]
    return float(best_response_elastic(
        np.ascontiguousarray(base), np.ascontiguousarray(a), np.ascontiguousarray(big_m), c,
        market.usage.satiation, market.usage.elasticity, _capacity_of(market, i, capacity),
        max(int(grid), 2)))


def _game(market: SegmentMarket, prices, players, default: np.ndarray):
    """``(players, prices)``: the players' indices (default every firm) and a copy of
    ``prices`` (``default`` when none are given, which needs every firm to be a player)."""
    players = np.arange(market.n) if players is None else np.atleast_1d(np.asarray(players))
    if prices is None:
        if players.size != market.n:
            raise ValueError("prices are needed for the firms that are not players")
        return players, default
    return players, _vec(prices).copy()


def _usage_terms(market: SegmentMarket, p: np.ndarray):
    """``(P(p), g(p), e(p), e'(p))`` per firm: the usage price index, usage factor,
    ``e = eta / (p + kappa)`` and its slope ``-eta / (p + kappa)^2``."""
    u = market.usage
    e = u.rate(p)
    slope = np.zeros_like(p) if u.fixed else -e / (p + u.satiation)
    return u.index(p), u.factor(p), e, slope


def _nash_system(base: np.ndarray, market: SegmentMarket, p: np.ndarray, players: np.ndarray,
                 capped: np.ndarray, caps: np.ndarray):
    r"""The players' equilibrium conditions at ``p`` and their Jacobian (the reference form of
    the compiled :func:`sim.learning.kernels.nash_system`).

    ``base`` (S, n) is the price-free part of the utilities, ``v_ij = base_ij - alpha_j P(p_i)``.
    With ``g_i = g(p_i)``, ``e_i = eta / (p_i + kappa)``, ``A_ij = alpha_j g_i``,
    ``m_i = p_i - c_i`` and ``u_ij = 1 - s_ij``: for a player with a slack capacity the
    first-order condition ``G_i = pi_i' / g_i = sum_j M_j s_ij (1 - m_i (e_i + A_ij u_ij)) = 0``,
    divided by ``C_i = sum_j M_j s_ij``; for a player whose capacity binds
    ``h_i = (D_i - K_i) / K_i = 0`` with ``D_i = g_i C_i``.  The derivatives:

    .. math::

        \partial G_i / \partial p_i = \sum_j M_j ig[-A u s (1 - m (e + A u))
            - s (e + A u) - m s (e' - e A u + A^2 s u)ig]_{ij},

        \partial G_i / \partial p_k = \sum_j M_j lpha_j g_k s_{ij} s_{kj}
            [1 - m_i e_i - m_i A_{ij} (1 - 2 s_{ij})],

        \partial D_i / \partial p_i = -e_i D_i - g_i \sum_j M_j A_{ij} s_{ij} u_{ij}, \qquad
        \partial D_i / \partial p_k = g_i \sum_j M_j lpha_j g_k s_{ij} s_{kj}.

    With fixed usage (``g = 1``, ``e = 0``) these are the logit conditions
    ``sum_j M_j s_ij (1 - alpha_j m_i (1 - s_ij)) = 0``.
    """
    a = market.alpha
    index, factor, e, slope = _usage_terms(market, p)
    v = base - a[:, None] * index[None, :]
    top = np.maximum(v.max(axis=1), 0.0)
    ex = np.exp(v - top[:, None])
    s = ex / (np.exp(-top) + ex.sum(axis=1))[:, None]  # (S, n)
    sp = s[:, players]
    gi, ei, si_slope = factor[players], e[players], slope[players]
    m = (p - market.costs)[players]
    big_a = a[:, None] * gi[None, :]
    u = 1.0 - sp
    sizes = market.sizes[:, None]
    c_i = market.sizes @ sp
    d = gi * c_i
    inner = 1.0 - m * (ei + big_a * u)
    g = (sizes * sp * inner).sum(axis=0)
    g_own = (sizes * (-big_a * u * sp * inner - sp * (ei + big_a * u)
                      - m * sp * (si_slope - ei * big_a * u + big_a * big_a * sp * u))).sum(axis=0)
    wk = (market.sizes * a)[:, None] * sp * gi[None, :]  # M_j alpha_j g_k s_kj
    bend = 1.0 - m * ei - m * big_a * (1.0 - 2.0 * sp)
    g_cross = (sp * bend).T @ wk
    cross_d = gi[:, None] * (sp.T @ wk)
    own_d = -ei * d - gi * (sizes * big_a * sp * u).sum(axis=0)
    scale = np.where(capped, caps, np.maximum(c_i, 1e-300))
    f = np.where(capped, d - np.where(capped, caps, 0.0), g) / scale
    jac = np.where(capped[:, None], cross_d, g_cross)
    np.fill_diagonal(jac, np.where(capped, own_d, g_own))
    return f, jac / scale[:, None], d, g


def _nash_newton(market: SegmentMarket, p0: np.ndarray, players: np.ndarray, capacity: bool,
                 tol: float) -> np.ndarray | None:
    r"""Semismooth Newton's method on the players' Kuhn-Tucker conditions.

    With a capacity ``K_i``, player ``i``'s price is a best response when either its capacity
    is slack and its first-order condition holds (``D_i < K_i``, ``G_i = 0``), or its capacity
    binds and it would not rather charge more (``D_i = K_i``, ``G_i <= 0``: lower prices sell
    no more).  Both cases are the single equation

    .. math::

        \Phi_i(p) = \max\left(\frac{G_i}{C_i}, \frac{D_i - K_i}{K_i}\right) = 0

    (:func:`_nash_system` states ``G_i``, ``C_i`` and ``D_i``; without a capacity
    ``Phi_i = G_i / C_i``).  ``Phi`` is piecewise smooth, and Newton's method with, in each row,
    the Jacobian of the larger branch converges to its roots as fast as on a smooth system
    (semismooth Newton), including at the kinks where a capacity just binds and ``G_i < 0``.
    Each step is halved until ``max |Phi|`` falls.  Returns ``None`` when it does not settle
    (the caller falls back on best-response dynamics)."""
    caps = market.capacities[players] if (capacity and market.capacities is not None) \
        else np.full(players.size, np.inf)
    usable = np.isfinite(caps) & (caps > 0)
    p = p0.copy()
    floor = market.costs[players] + 1e-12 * np.maximum(1.0, np.abs(market.costs[players]))
    p[players] = np.maximum(p[players], floor)
    base = market.price_free_utilities()
    from sim.learning.kernels import nash_system  # compiled; loaded on first use

    players = players.astype(np.int64)
    caps_k = np.where(np.isfinite(caps), caps, 0.0)
    safe_caps = np.where(usable, caps_k, 1.0)
    capped = np.zeros(players.size, bool)

    def system(q, capped):
        """``Phi`` at ``q`` and its Jacobian (the branch of each row chosen at ``q``)."""
        terms = _usage_terms(market, q)
        out = nash_system(base, market.alpha, market.sizes, market.costs, q, players, capped,
                          caps_k, *terms)
        d, g = out[2], out[3]
        c_i = np.maximum(d / terms[1][players], 1e-300)
        want = usable & ((d - caps_k) / safe_caps > g / c_i)
        if np.array_equal(want, capped):
            return out, want
        return nash_system(base, market.alpha, market.sizes, market.costs, q, players, want,
                           caps_k, *terms), want

    (f, jac, _, _), capped = system(p, capped)
    for _ in range(100):
        norm = np.abs(f).max()
        if norm <= min(tol, 1e-13):  # the conditions hold to round-off
            return p
        try:
            step = np.linalg.solve(jac, -f)
        except np.linalg.LinAlgError:
            return None
        t = 1.0
        while True:  # damped: halve the step until the residual falls
            trial = p.copy()
            trial[players] = np.maximum(p[players] + t * step, floor)
            result, mask = system(trial, capped)
            if np.abs(result[0]).max() < norm:
                break
            if t < 1e-4:  # stuck far from a root: let the caller start elsewhere
                return None
            t *= 0.5
        moved = np.abs(trial[players] - p[players])
        p, (f, jac, _, _), capped = trial, result, mask
        if np.all(moved <= tol * np.maximum(1.0, np.abs(p[players]))):
            return p if np.abs(f).max() <= max(tol, 1e-9) else None
    return None


def nash_prices(market: SegmentMarket, prices=None, players=None, capacity: bool = False,
                tol: float = 1e-10, max_iter: int = 500, verify: bool = True) -> np.ndarray:
    """Static Bertrand-Nash prices of the ``players`` (default: every firm), every other firm
    at its price in ``prices``.

    A Nash equilibrium is a fixed point ``p = BR(p)`` of the players' best responses
    (:func:`best_response`, capped at the market's capacities if ``capacity``).  It is found by
    semismooth Newton's method on the players' Kuhn-Tucker conditions (the first-order
    condition, or ``D_i = K_i`` where a capacity binds; :func:`_nash_newton`) from ``prices``
    (default ``c + mean_j(1/alpha_j)``), and when it does not settle from there, from one
    Gauss-Seidel sweep of best responses later.  With ``verify`` the answer is accepted only
    once a sweep of the robust best responses moves no price by more than
    ``tol * max(1, |p|)`` (a first-order
    condition can have several roots when segments differ a lot); otherwise, and whenever
    Newton does not settle, Gauss-Seidel best-response dynamics take over, jumping to the fixed
    point by Powell's hybrid method on ``BR(p) - p`` when they contract slowly.  Raises
    ``RuntimeError`` after ``max_iter`` sweeps.

    Returns
    -------
    (len(players),) prices.
    """
    players, p = _game(market, prices, players, market.costs + float(np.mean(1.0 / market.alpha)))
    cap = bool(capacity)

    def sweep(q: np.ndarray) -> np.ndarray:
        q = q.copy()
        for i in players:
            q[i] = best_response(market, q, int(i), capacity=cap)
        return q

    def converged(new: np.ndarray, old: np.ndarray) -> bool:
        return bool(np.all(np.abs(new[players] - old[players])
                           <= tol * np.maximum(1.0, np.abs(old[players]))))

    def residual(x: np.ndarray) -> np.ndarray:  # simultaneous (Jacobi) best responses
        q = p.copy()
        q[players] = x
        return np.array([best_response(market, q, int(i), capacity=cap) for i in players]) - x

    newton_tol = tol * 1e-2 if verify else tol
    fast = _nash_newton(market, p, players, cap, newton_tol)
    if fast is None:  # far from the equilibrium: one sweep of best responses brings it near
        p = sweep(p)
        fast = _nash_newton(market, p, players, cap, newton_tol)
    if fast is not None:
        if not verify:
            return fast[players]
        p = fast
    tried_root = False
    for it in range(max_iter):
        new = sweep(p)
        if converged(new, p):
            return new[players]
        if it >= 2 and not tried_root:  # slow contraction: jump to the fixed point
            tried_root = True
            sol = optimize.root(residual, new[players], method="hybr",
                                options={"xtol": tol * 1e-2})
            if np.all(np.isfinite(sol.x)) and np.all(sol.x >= market.costs[players] - 1e-12):
                new = p.copy()
                new[players] = sol.x
        p = new
    raise RuntimeError(f"best-response iteration did not converge in {max_iter} sweeps")


def _joint_profit(market: SegmentMarket, p: np.ndarray, players: np.ndarray):
    """The players' summed profit ``J = sum_{i in P} (p_i - c_i) D_i`` and its gradient

    ``dJ/dp_k = D_k (1 - m_k e_k)
    - sum_j M_j alpha_j g_k s_kj (m_k g_k - sum_{i in P} m_i g_i s_ij)``

    (``g``, ``e`` as in :func:`_nash_system`; with fixed usage
    ``dJ/dp_k = D_k - sum_j M_j alpha_j s_kj (m_k - sum_{i in P} m_i s_ij)``)."""
    s, _ = market.shares(p)
    _, factor, e, _ = _usage_terms(market, p)
    sp = s[:, players]
    gp, ep = factor[players], e[players]
    m = p[players] - market.costs[players]
    d = gp * (market.sizes @ sp)
    inner = sp @ (m * gp)
    w = (market.sizes * market.alpha)[:, None] * sp * gp[None, :]
    grad = d * (1.0 - m * ep) - (w * ((m * gp)[None, :] - inner[:, None])).sum(axis=0)
    return float(m @ d), grad


def _monopoly_newton(neg, x: np.ndarray, costs: np.ndarray, scale: float) -> np.ndarray | None:
    """Newton's method on the joint first-order conditions ``dJ/dp = 0`` (the Hessian by
    central differences of the analytic gradient), each step backtracked until ``J`` rises.
    Returns ``None`` unless it converges to a point where the Hessian is negative definite."""
    k = x.size
    for _ in range(50):
        j, g = neg(x)
        if np.max(np.abs(g)) <= 1e-12 * scale:
            break
        h = np.empty((k, k))
        for c in range(k):
            e = 1e-6 * max(1.0, abs(x[c]))
            up, down = x.copy(), x.copy()
            up[c] += e
            down[c] -= e
            h[:, c] = (neg(up)[1] - neg(down)[1]) / (2 * e)
        h = 0.5 * (h + h.T)  # of -J: positive definite at a maximum
        if np.any(np.linalg.eigvalsh(h) <= 0):
            return None
        step = np.linalg.solve(h, -g)
        t = 1.0
        while True:
            trial = np.maximum(x + t * step, costs)
            if neg(trial)[0] <= j or t < 1e-6:
                break
            t *= 0.5
        if np.max(np.abs(trial - x)) <= 1e-13 * max(1.0, np.max(np.abs(x))):
            x = trial
            break
        x = trial
    else:
        return None
    _, g = neg(x)
    return x if np.max(np.abs(g)) <= 1e-8 * scale else None


def monopoly_prices(market: SegmentMarket, prices=None, players=None,
                    start=None, warm: bool = False) -> np.ndarray:
    """Prices of the ``players`` (default: every firm) that maximise their joint profit
    ``sum_{i in P} (p_i - c_i) D_i(p)`` without capacity limits, every other firm at its price
    in ``prices``.

    L-BFGS-B on ``p_i >= c_i`` with the analytic gradient (see :func:`_joint_profit`) from
    ``start`` (default ``1.05`` times the players' :func:`nash_prices`), then the first-order
    conditions ``dJ/dp = 0`` polished by Powell's hybrid method (kept if it lowers the gradient
    and does not lower ``J``).  Newton's method on ``dJ/dp = 0`` (:func:`_monopoly_newton`) is
    tried first from ``start``, then from a coarse L-BFGS-B solution, and kept when it
    converges to a maximum; ``warm`` is accepted for callers that pass a nearby market's
    solution as ``start``.

    Returns
    -------
    (len(players),) prices.
    """
    players, base = _game(market, prices, players, market.costs.copy())
    if start is None:
        start = 1.05 * nash_prices(market, None if prices is None else base, players)

    def full(x):
        p = base.copy()
        p[players] = x
        return p

    def neg(x):
        j, g = _joint_profit(market, full(x), players)
        return -j, -g

    scale = max(abs(neg(_vec(start))[0]), 1e-300)
    fast = _monopoly_newton(neg, _vec(start), market.costs[players], scale)
    if fast is not None:
        return fast
    bounds = [(c, None) for c in market.costs[players]]
    rough = optimize.minimize(lambda x: tuple(v / scale for v in neg(x)), _vec(start), jac=True,
                              method="L-BFGS-B", bounds=bounds,
                              options={"ftol": 1e-10, "gtol": 1e-7, "maxiter": 200})
    fast = _monopoly_newton(neg, rough.x, market.costs[players], scale)
    if fast is not None:  # near the maximum now: Newton finishes in a few steps
        return fast
    res = optimize.minimize(lambda x: tuple(v / scale for v in neg(x)), _vec(start), jac=True,
                            method="L-BFGS-B",
                            bounds=[(c, None) for c in market.costs[players]],
                            options={"ftol": 1e-15, "gtol": 1e-13, "maxiter": 10_000})
    x = res.x
    sol = optimize.root(lambda y: neg(y)[1] / scale, x, method="hybr",
                        options={"xtol": 1e-14})
    if (np.all(np.isfinite(sol.x)) and np.all(sol.x >= market.costs[players])
            and np.max(np.abs(neg(sol.x)[1])) < np.max(np.abs(neg(x)[1]))
            and -neg(sol.x)[0] >= -neg(x)[0] - 1e-14 * scale):
        x = sol.x
    return np.asarray(x, dtype=float)


@dataclass(frozen=True)
class Elasticities:
    """Demand responses at one price vector (see :func:`elasticities`).

    Attributes
    ----------
    own : (n,) own-price elasticities ``e_ii = (dD_i/dp_i) p_i / D_i`` (negative).
    matrix : (n, n) price elasticities ``e_ik = (dD_i/dp_k) p_k / D_i``; diagonal ``own``.
    diversion : (n, n) diversion ratios ``DR_ik``: the share of the demand firm ``i`` loses
        when it raises its price that goes to firm ``k`` (zero diagonal).
    diversion_outside : (n,) the share no firm gains: customers who stop buying, and less
        usage with elastic usage; ``diversion.sum(axis=1) + diversion_outside == 1``.
    """

    own: np.ndarray
    matrix: np.ndarray
    diversion: np.ndarray
    diversion_outside: np.ndarray


def elasticities(market: SegmentMarket, prices) -> Elasticities:
    """Own- and cross-price elasticities and diversion ratios of first-round demand.

    With ``w_j = M_j alpha_j``, ``g_i = g(p_i)``, ``e_i = eta / (p_i + kappa)``,
    ``N_ik = g_i g_k sum_j w_j s_ij s_kj`` (symmetric) and ``N_i0 = g_i^2 sum_j w_j s_ij s_0j``:

    .. math::

        \\frac{\\partial D_i}{\\partial p_k} = N_{ik} \\; (k \\ne i), \\qquad
        -\\frac{\\partial D_i}{\\partial p_i} = e_i D_i + g_i^2 \\sum_j w_j s_{ij} (1 - s_{ij})
            = e_i D_i + \\sum_{k \\ne i} \\frac{g_i}{g_k} N_{ik} + N_{i0},

    elasticities ``e_ik = (dD_i/dp_k) p_k / D_i`` (one segment, fixed usage:
    ``e_ii = -alpha p_i (1 - s_i)``), and diversion ratios ``DR_ik = N_ik / |dD_i/dp_i|``: the
    tokens firm ``k`` gains per token ``i`` loses.  ``DR_i0 = 1 - sum_k DR_ik`` is the rest,
    tokens nobody else sells: customers who stop buying, and (with elastic usage) less usage.
    With fixed usage ``DR_i0 = N_i0 / |dD_i/dp_i|``.
    """
    prices = _vec(prices)
    s, s0 = market.shares(prices)
    _, factor, e, _ = _usage_terms(market, prices)
    w = market.sizes * market.alpha
    ws = w[:, None] * s
    x = ws.T @ s  # sum_j w_j s_ij s_kj
    own_x = (ws * (1.0 - s)).sum(axis=0)
    d = factor * (market.sizes @ s)
    cross = factor[:, None] * factor[None, :] * x
    np.fill_diagonal(cross, 0.0)
    slope = e * d + factor**2 * own_x  # -dD_i/dp_i
    jac = cross - np.diag(slope)
    with np.errstate(divide="ignore", invalid="ignore"):
        matrix = jac * prices[None, :] / d[:, None]
        diversion = cross / slope[:, None]
        outside = 1.0 - diversion.sum(axis=1)
    return Elasticities(own=np.diag(matrix).copy(), matrix=matrix, diversion=diversion,
                        diversion_outside=outside)


def lerner(prices, costs) -> np.ndarray:
    """Lerner index ``(p - c) / p`` (at a static Nash optimum of one segment,
    ``-1 / e_ii``)."""
    p = np.asarray(prices, dtype=float)
    return (p - np.asarray(costs, dtype=float)) / p


def demand_jacobian(market: SegmentMarket, prices) -> np.ndarray:
    """``dD_i/dp_k`` (n, n) of first-round demand (the formulas of :func:`elasticities`)."""
    prices = _vec(prices)
    s, _ = market.shares(prices)
    _, factor, e, _ = _usage_terms(market, prices)
    ws = (market.sizes * market.alpha)[:, None] * s
    x = factor[:, None] * factor[None, :] * (ws.T @ s)
    own = e * factor * (market.sizes @ s) + factor**2 * (ws * (1.0 - s)).sum(axis=0)
    np.fill_diagonal(x, -own)
    return x


def surplus_and_demand(market: SegmentMarket, prices) -> tuple[float, np.ndarray]:
    """``(consumer surplus, first-round demand D (n,))`` at ``prices`` without rationing, from
    one evaluation of the utilities: ``CS = sum_j (M_j / alpha_j) ln(1 + sum_k exp(v_kj))`` USD
    a day and ``D_i = g(p_i) sum_j M_j s_ij`` (:func:`segment_demand`)."""
    prices = _vec(prices)
    v = market.utilities(prices)
    cs = float((market.sizes / market.alpha) @ log_inclusive(v))
    shares, _ = choice_probabilities(v)
    return cs, market.usage.factor(prices) * (market.sizes @ shares)


def demand_state(market: SegmentMarket, prices, base: np.ndarray | None = None):
    """``(CS, D, dD/dp)`` at ``prices``: :func:`surplus_and_demand` and
    :func:`demand_jacobian` in one compiled pass over the segments
    (:func:`sim.learning.kernels.demand_state`); ``base`` is
    :meth:`SegmentMarket.price_free_utilities`, computed if not given."""
    from sim.learning.kernels import demand_state as kernel  # compiled; loaded on first use

    prices = _vec(prices)
    index, factor, e, _ = _usage_terms(market, prices)
    if base is None:
        base = market.price_free_utilities()
    cs, d, jac = kernel(base, market.alpha, market.sizes, index, factor, e)
    return float(cs), d, jac


def surplus(market: SegmentMarket, prices, players=None) -> tuple[float, float]:
    """``(consumer surplus, the players' summed margin sum_i (p_i - c_i) D_i)`` at ``prices``
    without rationing, USD a day (:func:`surplus_and_demand`)."""
    prices = _vec(prices)
    players = np.arange(market.n) if players is None else np.asarray(players)
    cs, d = surplus_and_demand(market, prices)
    return cs, float(((prices - market.costs)[players] * d[players]).sum())


def efficient_prices(market: SegmentMarket, prices=None, players=None,
                     tol: float = 1e-12, start=None) -> np.ndarray:
    """The welfare-maximising prices of the ``players`` given their capacities: every player
    at marginal cost unless its capacity binds, then at the price that fills it, every other
    seller at its price in ``prices``.

    Total surplus ``W(p) = CS(p) + sum_i (p_i - c_i) D_i(p)`` has ``dW/dp_k =
    sum_i (p_i - c_i) dD_i/dp_k`` (Roy's identity: ``dCS/dp_k = -D_k``), so the maximum of
    ``W`` subject to ``D_i <= K_i`` has ``p_i = c_i + lambda_i`` with ``lambda_i >= 0`` the
    shadow price of ``i``'s capacity, zero unless ``D_i = K_i`` (the Kuhn-Tucker conditions;
    a player without capacity, ``K_i = 0``, is at ``+inf``: it sells nothing;
    by duality no allocation of the customers, rationed or not, does better).  Found by Newton's
    method on ``log D_B(p) = log K_B`` (damped: a step is halved until ``|log(D_B / K_B)|``
    shrinks) for the set ``B`` of binding capacities, the other players at
    cost, ``B`` grown while a player at cost is over its capacity and shrunk while a capped
    player's price is below its cost; ``start`` (the players' prices of a nearby market, e.g.
    yesterday's answer) seeds the set and Newton's method, and when that does not settle (a
    start far from today's answer) the solve starts again from every player at cost.

    Returns
    -------
    (len(players),) prices.
    """
    players, p = _game(market, prices, players, market.costs.copy())
    costs = market.costs[players]
    p[players] = costs
    if market.capacities is None:
        return costs.copy()
    caps = market.capacities[players]
    # A player without capacity sells nothing: its price is +inf (no customer chooses it).
    none = caps <= 0
    p[players[none]] = np.inf
    base = market.price_free_utilities()
    if start is not None:
        start = _vec(start)
        capped = (start > costs) & np.isfinite(start) & ~none
        warm = p.copy()
        warm[players] = np.where(capped, start, warm[players])
        got, settled = _efficient_from(market, warm, players, costs, caps, none, capped, base,
                                       tol)
        if settled:
            return got
    # Cold: every player at cost, the binding set grown from there.
    return _efficient_from(market, p, players, costs, caps, none,
                           np.zeros(players.size, bool), base, tol)[0]


def _efficient_from(market: SegmentMarket, p: np.ndarray, players: np.ndarray,
                    costs: np.ndarray, caps: np.ndarray, none: np.ndarray, capped: np.ndarray,
                    base: np.ndarray, tol: float) -> tuple[np.ndarray, bool]:
    """:func:`efficient_prices` from prices ``p`` and the binding set ``capped``: the players'
    prices, and whether they settled (Newton's method solved every binding set it was given, and
    the last has no player at cost over its capacity and none capped below its cost)."""
    p = p.copy()
    for _ in range(2 * players.size + 3):
        # Solve D_B(p) = K_B for the binding set B (a warm start is only where Newton begins),
        # then grow B by the players at cost over capacity, shrink it by those below cost.
        idx = players[capped]
        k = caps[capped]
        state = demand_state(market, p, base) if idx.size else None
        solved = not idx.size
        for _ in range(100 if idx.size else 0):
            _, d, jac = state
            with np.errstate(divide="ignore"):
                g = np.log(d[idx] / k)  # log excess demand of the capped players
            if np.all(np.abs(g) <= tol):
                solved = True
                break
            # Newton's method on log D_B(p) = log K_B: log demand is close to linear in prices
            # (exactly, in one logit segment), where demand itself falls off a cliff.
            j = jac[np.ix_(idx, idx)] / d[idx][:, None]
            try:
                step = np.linalg.solve(j, -g)
            except np.linalg.LinAlgError:  # a flat direction: the least-squares step
                step = np.linalg.lstsq(j, -g, rcond=None)[0]
            if not np.all(np.isfinite(step)):
                break
            # Damped: halve the step until the usage index stays finite (prices above -kappa)
            # and the log excess demand shrinks.
            merit, t, new = float(g @ g), 1.0, None
            while t >= 1e-8:
                trial = p.copy()
                trial[idx] = p[idx] + t * step
                if np.all(trial[idx] > -market.usage.satiation * 0.999):
                    got = demand_state(market, trial, base)
                    with np.errstate(divide="ignore"):
                        r = np.log(got[1][idx] / k)
                    if np.all(np.isfinite(r)) and float(r @ r) < merit:
                        new = got
                        break
                t *= 0.5
            if new is None:
                break
            p, state = trial, new
        d = demand_state(market, p, base)[1][players]
        over = ~capped & ~none & (d > caps * (1.0 + 1e-12))
        low = capped & (p[players] < costs)
        if not over.any() and not low.any():
            return p[players].copy(), solved
        capped = (capped | over) & ~low
        free = ~capped & ~none
        p[players[free]] = costs[free]
    return p[players].copy(), False
