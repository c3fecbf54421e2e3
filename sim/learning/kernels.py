"""Compiled kernels of the static benchmarks (numba), loaded on first use by
:func:`sim.economics.nash_prices` so that importing :mod:`sim.economics` loads no numba."""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["nash_system"]


@njit(cache=True)
def nash_system(base, alpha, sizes, costs, p, players, capped, caps):
    """The players' equilibrium conditions and their Jacobian, as
    :func:`sim.economics._nash_system` states them (the same formulas, one pass over the
    segments).  Returns ``(f, jac, d, g)``."""
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
            v = base[j, i] - a * p[i]
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
            si = s[players[r]]
            u = 1.0 - si
            am = a * m[r]
            bend = am * (2.0 * si - 1.0)
            d[r] += sizes[j] * si
            g[r] += sizes[j] * si * (1.0 - am * u)
            own_d[r] -= w * si * u
            g_own[r] -= w * si * u * (2.0 + bend)
            for c in range(k):
                if c != r:
                    sk = s[players[c]]
                    cross_d[r, c] += w * si * sk
                    g_cross[r, c] += w * si * sk * (1.0 + bend)
    f = np.empty(k)
    jac = np.empty((k, k))
    for r in range(k):
        if capped[r]:
            scale = caps[r]
            f[r] = (d[r] - caps[r]) / scale
            for c in range(k):
                jac[r, c] = cross_d[r, c] / scale
            jac[r, r] = own_d[r] / scale
        else:
            scale = max(d[r], 1e-300)
            f[r] = g[r] / scale
            for c in range(k):
                jac[r, c] = g_cross[r, c] / scale
            jac[r, r] = g_own[r] / scale
    return f, jac, d, g
