"""Compiled kernels of the static benchmarks (numba), loaded on first use by
:func:`sim.economics.nash_prices` so that importing :mod:`sim.economics` loads no numba."""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["nash_system"]


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
