"""The inference-token market: logit demand over customer segments, capacity rationing, surplus.

Pure functions of numpy arrays; no simulation state.  Shapes: ``S`` customer segments, ``n`` firms.

Demand model
------------
Segment ``j`` (market size ``M_j`` million tokens a day, price sensitivity ``alpha_j`` per USD/M,
quality taste ``theta_j`` in USD/M per quality point) values firm ``i``'s offer (price ``p_i`` in
USD per million tokens, quality ``q_i`` in points) at

    u_ij = alpha_j * (theta_j * q_i - p_i) + eps_ij

and the outside option (a frontier closed model at ``p_0``, ``q_0``) at
``u_0j = alpha_j * (theta_j * q_0 - p_0) + eps_0j`` with i.i.d. type-I extreme-value ``eps``.
``alpha_j * theta_j`` is the utility weight on quality; ``theta_j`` is the willingness to pay per
point.  Utilities are measured relative to the outside option,

    v_ij = alpha_j * (theta_j * (q_i - q_0) - (p_i - p_0)),

so the choice probabilities are

    s_ij = exp(v_ij) / (1 + sum_k exp(v_kj)),    s_0j = 1 / (1 + sum_k exp(v_kj)).

Consumer surplus (Small & Rosen 1981) relative to a market with only the outside option is the
inclusive value over the price sensitivity, in USD a day:

    CS_j = M_j / alpha_j * ln(1 + sum_k exp(v_kj)) = M_j / alpha_j * ln(1 / s_0j).

Rationing
---------
Firm ``i`` serves at most ``K_i`` million tokens a day.  When first-choice demand ``D_i`` exceeds
``K_i``, a random fraction ``1 - K_i / D_i`` of every segment's customers of ``i`` is turned away
(proportional rationing).  Rationed customers choose again, by the same logit restricted to the
firms with spare capacity and the outside option; ``rechoice_rounds`` such rounds are allowed and
what is still turned away after the last round goes to the outside seller, which has no capacity
limit, so no demand is left unserved.  Customers served in a re-choice round are credited the
inclusive value of that round's choice set; customers no firm could serve (who then buy from the
outside seller) are credited zero, i.e. the outside-only baseline (this ignores the selection of
rationed customers' taste shocks and so is an upper bound on surplus when capacity binds).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "Clearing",
    "clear",
    "relative_utilities",
    "choice_probabilities",
    "log_inclusive",
    "own_price_demand",
]

#: Exponents above this are evaluated in the max-shifted (overflow-safe) form.
_EXP_SAFE = 700.0


def relative_utilities(
    prices: np.ndarray,
    qualities: np.ndarray,
    alpha: np.ndarray,
    theta: np.ndarray,
    outside_price: float,
    outside_quality: float,
) -> np.ndarray:
    """Deterministic utilities relative to the outside option, ``v_ij`` (shape ``(S, n)``).

    ``v_ij = alpha_j * (theta_j * (q_i - q_0) - (p_i - p_0))``.
    """
    dq = np.asarray(qualities, dtype=float) - outside_quality
    dp = np.asarray(prices, dtype=float) - outside_price
    return alpha[:, None] * (theta[:, None] * dq[None, :] - dp[None, :])


def choice_probabilities(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Logit choice probabilities given utilities relative to the outside option.

    Parameters
    ----------
    v : array (S, n)
        ``v_ij = u_ij - u_0j``.

    Returns
    -------
    shares : array (S, n)
        ``s_ij = exp(v_ij) / (1 + sum_k exp(v_kj))``.
    outside : array (S,)
        ``s_0j = 1 / (1 + sum_k exp(v_kj))``.
    """
    if v.size and v.max() > _EXP_SAFE:
        # Overflow-safe form: shift each row by m_j = max(0, max_k v_kj).
        m = np.maximum(v.max(axis=1), 0.0)
        e = np.exp(v - m[:, None])
        e0 = np.exp(-m)
        denom = e0 + e.sum(axis=1)
        return e / denom[:, None], e0 / denom
    e = np.exp(v)
    denom = 1.0 + e.sum(axis=1)
    return e / denom[:, None], 1.0 / denom


def log_inclusive(v: np.ndarray) -> np.ndarray:
    """``ln(1 + sum_k exp(v_kj))`` per segment (the log inclusive value relative to the outside
    option), overflow-safe."""
    if v.shape[1] == 0:
        return np.zeros(v.shape[0])
    m = np.maximum(v.max(axis=1), 0.0)
    return m + np.log(np.exp(-m) + np.exp(v - m[:, None]).sum(axis=1))


@dataclass(frozen=True, slots=True)
class Clearing:
    """One day's token-market outcome.  Token volumes in million tokens, money in USD.

    Attributes
    ----------
    choice_share : (n,) first-round choice shares of all customers (sum with
        ``outside_choice_share`` to 1).
    outside_choice_share : first-round share choosing the outside option.
    demand : (n,) first-round (unrationed) demand ``D_i = sum_j M_j s_ij``.
    served : (n,) tokens served, ``<= capacity``.
    rationed : (n,) first-choice customers turned away, ``max(D_i - K_i, 0)``.
    outside : tokens served by the outside option: first choices, re-choices, and the customers
        no firm could serve after the last re-choice round (the outside seller has no limit).
    unserved : tokens nobody could serve: 0, since the outside seller serves everyone left
        (kept for a capacity-limited outside seller).
    spend : customer spend on the firms, ``sum_i p_i * served_i`` (USD).
    revenue : (n,) ``p_i * served_i`` (USD).
    consumer_surplus : USD, relative to an outside-only market (see module doc).
    """

    choice_share: np.ndarray
    outside_choice_share: float
    demand: np.ndarray
    served: np.ndarray
    rationed: np.ndarray
    outside: float
    unserved: float
    spend: float
    revenue: np.ndarray
    consumer_surplus: float


def clear(
    prices: np.ndarray,
    qualities: np.ndarray,
    capacities: np.ndarray | None,
    sizes: np.ndarray,
    alpha: np.ndarray,
    theta: np.ndarray,
    outside_price: float,
    outside_quality: float,
    rechoice_rounds: int = 1,
) -> Clearing:
    """Clear one day of the token market.

    Parameters
    ----------
    prices, qualities : (n,) offers, USD per million tokens and quality points.
    capacities : (n,) million tokens a day each firm can serve, or ``None`` for no limit.
    sizes, alpha, theta : (S,) segment market sizes (million tokens a day), price sensitivities
        (per USD/M) and quality tastes (USD/M per point).
    outside_price, outside_quality : the outside option's offer.
    rechoice_rounds : how many times rationed customers may choose again.

    Returns
    -------
    Clearing
        See :class:`Clearing`; the module docstring states the formulas.
    """
    prices = np.asarray(prices, dtype=float)
    n = prices.shape[0]
    total = float(sizes.sum())
    v = relative_utilities(prices, qualities, alpha, theta, outside_price, outside_quality)
    shares, s0 = choice_probabilities(v)
    # Market-size weights first, so shares stay exact even for tiny markets.
    weights = sizes / total if total > 0 else np.zeros_like(sizes)
    choice_share = weights @ shares
    outside_choice_share = float(weights @ s0) if total > 0 else 1.0
    demand = choice_share * total
    outside = outside_choice_share * total
    # ln(1/s0) is the log inclusive value relative to the outside option; s0 underflows when an
    # offer is overwhelmingly better than the outside option.
    log_iv = -np.log(s0) if n == 0 or s0.min() > 0 else log_inclusive(v)

    if capacities is None or n == 0 or not (demand > capacities).any():
        served = demand
        rationed = np.zeros(n)
        unserved = 0.0
        consumer_surplus = float((sizes / alpha) @ log_iv)
    else:
        served, rationed, outside, unserved, consumer_surplus = _ration(
            v, shares, s0, demand, np.asarray(capacities, dtype=float), sizes, alpha, log_iv,
            outside, rechoice_rounds,
        )

    revenue = prices * served
    return Clearing(
        choice_share=choice_share,
        outside_choice_share=outside_choice_share,
        demand=demand,
        served=served,
        rationed=rationed,
        outside=outside,
        unserved=unserved,
        spend=float(revenue.sum()),
        revenue=revenue,
        consumer_surplus=consumer_surplus,
    )


def _ration(v, shares, s0, demand, capacities, sizes, alpha, log_iv, outside, rounds):
    """Proportional rationing with ``rounds`` logit re-choice rounds (see module doc).

    A re-choice among the open firms ``O`` uses the first-round probabilities:
    ``exp(v_kj) / (1 + sum_{l in O} exp(v_lj)) = s_kj / (s_0j + sum_{l in O} s_lj)``, and the
    round's log inclusive value is ``ln((s_0j + sum_{l in O} s_lj) / s_0j)``; no exponential is
    recomputed (except where ``s_0j`` underflowed).
    """
    over = demand > capacities  # so demand > 0 there, and the ratio is below 1
    keep = np.ones_like(demand)
    keep[over] = capacities[over] / demand[over]
    served = demand * keep
    rationed = demand - served
    spare = capacities - served
    # Segment mass turned away in this round, and the surplus credited so far.
    turned_away = sizes * (shares @ (1.0 - keep))  # (S,)
    per_alpha = 1.0 / alpha
    consumer_surplus = float(((sizes - turned_away) * per_alpha) @ log_iv)
    open_ = keep >= 1.0  # firms with spare capacity
    exact = s0 > 0
    for _ in range(rounds):
        if not turned_away.any():
            break
        idx = np.flatnonzero(open_)
        sub = shares[:, idx]
        denom = s0 + sub.sum(axis=1)
        # Ratios first (s0 and denom can be subnormal together); both are at most 1.
        ok = denom > 0
        want = np.divide(sub, denom[:, None], out=np.zeros_like(sub), where=ok[:, None])
        want *= turned_away[:, None]  # (S, k)
        to_outside = np.divide(s0, denom, out=np.zeros_like(s0), where=ok) * turned_away
        lost = ~ok  # every first-round probability of this choice set underflowed
        if lost.any():
            sub_lost, s0_lost = choice_probabilities(v[np.ix_(lost, idx)])
            want[lost] = sub_lost * turned_away[lost, None]
            to_outside[lost] = s0_lost * turned_away[lost]
        want_total = want.sum(axis=0)
        spare_open = spare[idx]
        full = want_total > spare_open
        keep_r = np.ones_like(want_total)
        keep_r[full] = spare_open[full] / want_total[full]
        got = want_total * keep_r
        served[idx] += got
        spare[idx] -= got
        outside += float(to_outside.sum())
        again = want @ (1.0 - keep_r)  # (S,) turned away a second time
        if exact.all():
            round_iv = np.log(denom) - np.log(s0)
        else:
            round_iv = log_inclusive(v[:, idx])
        consumer_surplus += float(((turned_away - again) * per_alpha) @ round_iv)
        turned_away = again
        open_[idx] = keep_r >= 1.0
    # Customers no firm could serve buy from the outside seller, who has no capacity limit, and
    # get its utility, the baseline (credited zero); guard against round-off above capacity.
    outside += float(turned_away.sum())
    np.minimum(served, capacities, out=served)
    return served, rationed, outside, 0.0, consumer_surplus


def own_price_demand(
    own_prices: np.ndarray,
    own_quality: float,
    rival_log_term: np.ndarray,
    sizes: np.ndarray,
    alpha: np.ndarray,
    theta: np.ndarray,
    outside_price: float,
    outside_quality: float,
    block: int = 512,
) -> np.ndarray:
    """One firm's first-round demand at each of several own prices, rivals' offers fixed.

    With ``L_j = ln(1 + sum_{k != i} exp(v_kj))`` the rivals' log term (see
    :func:`log_inclusive`), ``D_i(p) = sum_j M_j / (1 + exp(L_j - v_ij(p)))``, which cannot
    overflow.  Segments are processed ``block`` at a time to keep temporaries small.

    Parameters
    ----------
    own_prices : (G,) candidate prices.
    rival_log_term : (S,) ``L_j``.

    Returns
    -------
    (G,) demand in million tokens a day.
    """
    own_prices = np.asarray(own_prices, dtype=float)
    out = np.zeros(own_prices.shape[0])
    for lo in range(0, sizes.shape[0], block):
        sl = slice(lo, lo + block)
        a = alpha[sl]
        # L_j - v_ij(p) = L_j - alpha_j * (theta_j * dq + p_0) + alpha_j * p
        base = rival_log_term[sl] - a * (theta[sl] * (own_quality - outside_quality)
                                         + outside_price)
        x = base[:, None] + a[:, None] * own_prices[None, :]
        with np.errstate(over="ignore"):
            np.exp(x, out=x)
        x += 1.0
        np.reciprocal(x, out=x)
        out += np.einsum("j,jg->g", sizes[sl], x)
    return out
