"""Closed-form and numeric benchmarks from industrial-organisation theory.

Logit functions use the parameterisation of Calvano, Calzolari, Denicolò & Pastorello (2020,
AER 110(10)): firm ``i`` with quality index ``a_i``, price ``p_i`` and marginal cost ``c_i`` faces

    s_i = exp((a_i - p_i) / mu) / (sum_j exp((a_j - p_j) / mu) + exp(a_0 / mu)),

the outside good having index ``a_0`` and ``mu`` the horizontal-differentiation scale.  The
simulator's segment parameterisation maps onto it with ``alpha = 1/mu`` and
``a_i - a_0 = theta * (q_i - q_0) + p_0`` (see :mod:`sim.markets.tokens`).

All prices, costs and profits here are per unit mass of customers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize

from sim.markets.tokens import choice_probabilities

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

    Solves the first-order condition ``p_i - c_i = mu / (1 - s_i(p_i, p_-i))``; its left side rises
    and its right side falls in ``p_i`` on ``(c_i, inf)``, so the root is unique; it is bracketed
    from ``[c_i, c_i + mu]`` by doubling the upper end until the sign changes.
    """
    a, c = _as_arrays(a, c)
    p = np.array(np.broadcast_to(np.asarray(prices, dtype=float), a.shape))

    def foc(x):
        p[i] = x
        s = logit_shares(p, a, a0, mu)[i]
        return (x - c[i]) * (1.0 - s) - mu

    lo, hi = c[i], c[i] + mu
    while foc(hi) < 0:
        hi = c[i] + 2.0 * (hi - c[i])
    return float(optimize.brentq(foc, lo, hi, xtol=1e-14, rtol=1e-14))


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


def hhi(shares) -> float:
    """Herfindahl-Hirschman index ``sum_i (100 s_i)^2`` on the 0-10,000 scale.

    ``shares`` are fractions; they are normalised to sum to 1 (shares of the inside market).
    An all-zero vector gives 0.
    """
    s = np.asarray(shares, dtype=float)
    total = s.sum()
    if total <= 0:
        return 0.0
    s = s / total
    return float(10_000.0 * np.sum(s * s))


def profit_gain(profit, nash, monopoly):
    """Calvano et al.'s profit gain ``Delta = (profit - nash) / (monopoly - nash)``.

    0 at the static Nash profit, 1 at the joint-monopoly profit.
    """
    return (np.asarray(profit, dtype=float) - nash) / (monopoly - nash)
