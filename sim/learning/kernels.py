"""Compiled kernels of the static benchmarks (numba), loaded on first use by
:func:`sim.economics.nash_prices` so that importing :mod:`sim.economics` loads no numba."""

from __future__ import annotations

import math

import numpy as np
from numba import njit

__all__ = ["best_response_elastic", "demand_state", "nash_system"]


@njit(cache=True)
def nash_system(base, alpha, sizes, costs, p, players, capped, caps, index, factor, rate, slope):
    """The players' equilibrium conditions and their Jacobian, as
    :func:`sim.economics._nash_system` states them (the same formulas, one pass over the
    segments).  ``index``, ``factor`` and ``rate`` are the usage price index ``P(p_i)``,
    ``g(p_i)``, ``e_i = eta / (p_i + kappa)`` and ``e_i' = -eta / (p_i + kappa)^2`` per firm
    (``p``, 1, 0 and 0 with fixed usage).
    Returns ``(f, jac, d, g)``."""
    n_seg, n = base.shape
    k = players.shape[0]
    d = np.zeros(k)
    g = np.zeros(k)
    cross_d = np.zeros((k, k))
    g_cross = np.zeros((k, k))
    own_d = np.zeros(k)
    g_own = np.zeros(k)
    m = np.empty(k)
    for r in range(k):
        m[r] = p[players[r]] - costs[players[r]]
    s = np.empty(n)
    for j in range(n_seg):
        a = alpha[j]
        top = 0.0
        for i in range(n):
            v = base[j, i] - a * index[i]
            s[i] = v
            if v > top:
                top = v
        total = np.exp(-top)
        for i in range(n):
            s[i] = np.exp(s[i] - top)
            total += s[i]
        for i in range(n):
            s[i] /= total
        w = sizes[j] * a
        for r in range(k):
            i = players[r]
            si = s[i]
            u = 1.0 - si
            gi = factor[i]
            ei = rate[i]
            big_a = a * gi
            mr = m[r]
            d[r] += sizes[j] * si
            g[r] += sizes[j] * si * (1.0 - mr * (ei + big_a * u))
            own_d[r] -= w * gi * si * u
            g_own[r] += sizes[j] * (-big_a * si * u * (1.0 - mr * (ei + big_a * u))
                                    + si * (-(ei + big_a * u)
                                            - mr * (slope[i] - ei * big_a * u
                                                    + big_a * big_a * si * u)))
            cross = 1.0 - mr * ei - mr * big_a * (1.0 - 2.0 * si)
            for c in range(k):
                if c != r:
                    sk = s[players[c]]
                    gk = factor[players[c]]
                    cross_d[r, c] += w * gk * si * sk
                    g_cross[r, c] += w * gk * si * sk * cross
    f = np.empty(k)
    jac = np.empty((k, k))
    for r in range(k):
        i = players[r]
        dr = factor[i] * d[r]  # D_i = g_i sum_j M_j s_ij
        if capped[r]:
            scale = caps[r]
            f[r] = (dr - caps[r]) / scale
            for c in range(k):
                jac[r, c] = factor[i] * cross_d[r, c] / scale
            jac[r, r] = (factor[i] * own_d[r] - rate[i] * dr) / scale
        else:
            scale = max(d[r], 1e-300)
            f[r] = g[r] / scale
            for c in range(k):
                jac[r, c] = g_cross[r, c] / scale
            jac[r, r] = g_own[r] / scale
        d[r] = dr
    return f, jac, d, g


@njit(cache=True, inline="always")
def _usage(p, kappa, eta):
    """``(P(p), g(p), e(p))``: the usage price index, factor and semi-elasticity
    (:class:`sim.markets.tokens.Usage`)."""
    x = math.log1p(p / kappa)
    return (kappa * math.expm1((1.0 - eta) * x) / (1.0 - eta), math.exp(-eta * x),
            eta / (p + kappa))


@njit(cache=True, inline="always")
def _expit(x):
    if x >= 0.0:
        return 1.0 / (1.0 + math.exp(-x))
    z = math.exp(x)
    return z / (1.0 + z)


@njit(cache=True)
def _elastic_foc(p, c, base, alpha, sizes, kappa, eta):
    """``pi'(p) / g(p) = sum_j M_j s_j (1 - (p - c)(e + alpha_j g (1 - s_j)))``."""
    index, g, e = _usage(p, kappa, eta)
    m = p - c
    total = 0.0
    for j in range(base.shape[0]):
        s = _expit(min(base[j] - alpha[j] * index, 700.0))
        total += sizes[j] * s * (1.0 - m * (e + alpha[j] * g * (1.0 - s)))
    return total


@njit(cache=True)
def _elastic_demand(p, base, alpha, sizes, kappa, eta):
    """``D(p) = g(p) sum_j M_j s_j(p)``."""
    index, g, _ = _usage(p, kappa, eta)
    total = 0.0
    for j in range(base.shape[0]):
        total += sizes[j] * _expit(min(base[j] - alpha[j] * index, 700.0))
    return g * total


@njit(cache=True)
def _value(kind, x, j, c, base, alpha, sizes, kappa, eta, target):
    """``pi'/g`` at ``x`` (``kind`` 0), ``D(x) - target`` (1) or ``h_j(x) - 1`` (2), where
    ``h_j(p) = (p - c)(e(p) + alpha_j g(p)(1 - s_j(p)))`` is segment ``j``'s markup term."""
    if kind == 0:
        return _elastic_foc(x, c, base, alpha, sizes, kappa, eta)
    if kind == 1:
        return _elastic_demand(x, base, alpha, sizes, kappa, eta) - target
    index, g, e = _usage(x, kappa, eta)
    s = _expit(min(base[j] - alpha[j] * index, 700.0))
    return (x - c) * (e + alpha[j] * g * (1.0 - s)) - 1.0


@njit(cache=True)
def _root(kind, j, lo, hi, flo, fhi, c, base, alpha, sizes, kappa, eta, target, rtol):
    """A bracket ``(lo, hi)`` of a root of :func:`_value` (``kind``, segment ``j``), from ends
    of opposite signs, narrowed to ``hi - lo <= rtol * max(|hi|, 1e-3)``: the Illinois variant
    of regula falsi, with a bisection step whenever one end has stayed three times."""
    side = 0
    for _ in range(400):
        if hi - lo <= rtol * max(abs(hi), 1e-3):
            break
        x = hi - fhi * (hi - lo) / (fhi - flo)
        if not lo < x < hi or side == 3 or side == -3:
            x = 0.5 * (lo + hi)
            side = 0
        fx = _value(kind, x, j, c, base, alpha, sizes, kappa, eta, target)
        if fx == 0.0:
            return x, x
        if (fx > 0.0) == (flo > 0.0):
            lo, flo = x, fx
            side = side - 1 if side <= 0 else -1
            if side <= -2:
                fhi *= 0.5
        else:
            hi, fhi = x, fx
            side = side + 1 if side >= 0 else 1
            if side >= 2:
                flo *= 0.5
    return lo, hi


@njit(cache=True)
def best_response_elastic(base, alpha, sizes, c, kappa, eta, cap, grid):
    """Firm's best price with price-elastic usage, as
    :func:`sim.economics._best_response_elastic` states the method: ``base`` (S,) is
    ``v_j(p) - L_j + alpha_j P(p)``, the segments with ``M_j > 0`` only; ``cap`` the capacity
    (``inf`` for none).  Each segment's own optimum ``r_j`` (``h_j(r_j) = 1``) is bracketed to
    ``1e-10`` relative, and the bracket ``[min_j lo_j, max_j hi_j]`` holds every maximiser
    (``pi' > 0`` below every ``r_j``, ``< 0`` above them); ``pi'`` on ``grid`` markups
    geometrically spaced over it; each ``+ -> -`` sign change refined to ``1e-14`` relative;
    the most profitable local maximum; then the capacity step (the price ``p_K`` that fills
    ``cap``, or a more profitable local maximum above it)."""
    lo, hi = math.inf, -math.inf
    for j in range(base.shape[0]):
        # h_j rises from 0 at c to infinity: double the markup until h_j >= 1
        top = c + 2.0 / alpha[j] + 1e-3
        f_top = _value(2, top, j, c, base, alpha, sizes, kappa, eta, 0.0)
        for _ in range(200):
            if f_top >= 0.0:
                break
            top = c + 2.0 * (top - c)
            f_top = _value(2, top, j, c, base, alpha, sizes, kappa, eta, 0.0)
        left, right = _root(2, j, c, top, -1.0, f_top, c, base, alpha, sizes, kappa, eta, 0.0,
                            1e-10)
        lo = min(lo, left)
        hi = max(hi, right)
    maxima = np.empty(grid + 2)
    count = 0
    if hi - lo <= 1e-15 * abs(hi):  # an exact root r_j of one segment: the optimum
        maxima[0] = lo
        count = 1
    else:
        ratio = (hi - c) / (lo - c)
        prev_p = lo
        prev_f = _elastic_foc(lo, c, base, alpha, sizes, kappa, eta)
        if prev_f <= 0.0:
            maxima[0] = lo
            count = 1
        for k in range(1, grid):
            p = hi if k == grid - 1 else c + (lo - c) * ratio ** (k / (grid - 1.0))
            f = _elastic_foc(p, c, base, alpha, sizes, kappa, eta)
            if prev_f > 0.0 and f <= 0.0:
                if f == 0.0:
                    maxima[count] = p
                else:
                    left, right = _root(0, 0, prev_p, p, prev_f, f, c, base, alpha, sizes,
                                        kappa, eta, 0.0, 1e-14)
                    maxima[count] = 0.5 * (left + right)
                count += 1
            prev_p, prev_f = p, f
        if prev_f > 0.0:
            maxima[count] = hi
            count += 1
    best, p_u = -math.inf, maxima[0]
    for k in range(count):
        v = (maxima[k] - c) * _elastic_demand(maxima[k], base, alpha, sizes, kappa, eta)
        if v > best:
            best, p_u = v, maxima[k]
    if not (cap < math.inf) or cap <= 0.0:
        return p_u
    d_u = _elastic_demand(p_u, base, alpha, sizes, kappa, eta)
    if d_u <= cap:
        return p_u
    top = c + 2.0 * (p_u - c)
    for _ in range(2000):
        if _elastic_demand(top, base, alpha, sizes, kappa, eta) < cap:
            break
        top = c + 2.0 * (top - c)
    left, right = _root(1, 0, p_u, top, d_u - cap,
                        _elastic_demand(top, base, alpha, sizes, kappa, eta) - cap, c, base,
                        alpha, sizes, kappa, eta, cap, 1e-14)
    best_p = 0.5 * (left + right)
    best = (best_p - c) * cap
    for k in range(count):
        if maxima[k] > best_p:
            v = (maxima[k] - c) * _elastic_demand(maxima[k], base, alpha, sizes, kappa, eta)
            if v > best:
                best, best_p = v, maxima[k]
    return best_p


@njit(cache=True)
def demand_state(base, alpha, sizes, index, factor, rate):
    """Consumer surplus, first-round demand and its Jacobian at one price vector, in one pass
    over the segments (:func:`sim.economics.surplus_and_demand`,
    :func:`sim.economics.demand_jacobian` state the formulas).  ``base`` (S, n) is the
    price-free part of the utilities, ``v_ij = base_ij - alpha_j P(p_i)``; ``index``,
    ``factor`` and ``rate`` are ``P(p_i)``, ``g(p_i)`` and ``e_i`` per seller.
    Returns ``(cs, D, dD/dp)``."""
    n_seg, n = base.shape
    s = np.empty(n)
    c = np.zeros(n)
    own = np.zeros(n)
    cross = np.zeros((n, n))
    cs = 0.0
    for j in range(n_seg):
        a = alpha[j]
        top = 0.0
        for i in range(n):
            s[i] = base[j, i] - a * index[i]
            if s[i] > top:
                top = s[i]
        total = math.exp(-top)
        for i in range(n):
            s[i] = math.exp(s[i] - top)
            total += s[i]
        cs += sizes[j] / a * (top + math.log(total))
        w = sizes[j] * a
        for i in range(n):
            s[i] /= total
            c[i] += sizes[j] * s[i]
            own[i] += w * s[i] * (1.0 - s[i])
            for k in range(i):
                cross[i, k] += w * s[i] * s[k]
    d = np.empty(n)
    jac = np.empty((n, n))
    for i in range(n):
        d[i] = factor[i] * c[i]
    for i in range(n):
        jac[i, i] = -(rate[i] * d[i] + factor[i] * factor[i] * own[i])
        for k in range(i):
            x = factor[i] * factor[k] * cross[i, k]
            jac[i, k] = x
            jac[k, i] = x
    return cs, d, jac
