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
what is still turned away after the last round is unserved demand.  Customers served in a re-choice
round are credited the inclusive value of that round's choice set; unserved customers are credited
zero, i.e. the outside-only baseline (this ignores the selection of rationed customers' taste
shocks and so is an upper bound on surplus when capacity binds).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "Clearing",
    "clear",
    "relative_utilities",
    "choice_probabilities",
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


def _log_inclusive(v: np.ndarray) -> np.ndarray:
    """``ln(1 + sum_k exp(v_kj))`` per segment, overflow-safe."""
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
    outside : tokens served by the outside option (first choice plus re-choice).
    unserved : tokens wanted but served by no one after the last re-choice round.
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
    # ln(1/s0) is the log inclusive value relative to the outside option.
    cs_weights = sizes / alpha
    # ln(1/s0) underflows when an offer is overwhelmingly better than the outside option.
    log_iv = -np.log(s0, where=s0 > 0, out=np.full_like(s0, np.inf))
    if not np.isfinite(log_iv).all():
        log_iv = _log_inclusive(v)

    if capacities is None or n == 0 or np.all(demand <= capacities):
        served = demand
        rationed = np.zeros(n)
        unserved = 0.0
        consumer_surplus = float(cs_weights @ log_iv)
    else:
        capacities = np.asarray(capacities, dtype=float)
        served, rationed, outside, unserved, consumer_surplus = _ration(
            v, sizes[:, None] * shares, demand, capacities, sizes, alpha, log_iv, outside,
            rechoice_rounds,
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


def _ration(v, seg_demand, demand, capacities, sizes, alpha, log_iv, outside, rounds):
    """Proportional rationing with ``rounds`` logit re-choice rounds (see module doc)."""
    n = demand.shape[0]
    with np.errstate(divide="ignore", invalid="ignore"):
        keep = np.where(demand > capacities, capacities / demand, 1.0)
    served = demand * keep
    rationed = demand - served
    spare = capacities - served
    # Segment mass turned away in this round, and the surplus credited so far.
    turned_away = seg_demand @ (1.0 - keep)  # (S,)
    weights = sizes / alpha
    consumer_surplus = float(weights @ log_iv) - float((turned_away / alpha) @ log_iv)
    open_ = keep >= 1.0  # firms with spare capacity
    for _ in range(rounds):
        if not turned_away.any():
            break
        idx = np.flatnonzero(open_)
        v_open = v[:, idx]
        shares, s0 = choice_probabilities(v_open)
        want = turned_away[:, None] * shares  # (S, k)
        want_total = want.sum(axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            keep_r = np.where(want_total > spare[idx], spare[idx] / want_total, 1.0)
        got = want_total * keep_r
        served[idx] += got
        spare[idx] -= got
        outside += float(turned_away @ s0)
        again = want @ (1.0 - keep_r)  # (S,) turned away a second time
        served_now = turned_away - again
        consumer_surplus += float((served_now / alpha) @ _log_inclusive(v_open))
        turned_away = again
        open_[idx] = keep_r >= 1.0
    # Whatever is still turned away is unserved; guard against round-off above capacity.
    np.minimum(served, capacities, out=served)
    return served, rationed, outside, float(turned_away.sum()), consumer_surplus


def own_price_demand(
    own_prices: np.ndarray,
    own_quality: float,
    others_exp_sum: np.ndarray,
    sizes: np.ndarray,
    alpha: np.ndarray,
    theta: np.ndarray,
    outside_price: float,
    outside_quality: float,
) -> np.ndarray:
    """One firm's first-round demand at each of several own prices, rivals' offers fixed.

    With ``E_j = sum_{k != i} exp(v_kj)`` the rivals' term,
    ``D_i(p) = sum_j M_j * exp(v_ij(p)) / (1 + E_j + exp(v_ij(p)))``.
    Written as ``M_j / (1 + (1 + E_j) * exp(-v_ij(p)))`` it cannot overflow.

    Parameters
    ----------
    own_prices : (G,) candidate prices.
    others_exp_sum : (S,) ``E_j``.

    Returns
    -------
    (G,) demand in million tokens a day.
    """
    own_prices = np.asarray(own_prices, dtype=float)
    v = alpha[:, None] * (
        theta[:, None] * (own_quality - outside_quality) - (own_prices[None, :] - outside_price)
    )
    with np.errstate(over="ignore"):
        share = 1.0 / (1.0 + (1.0 + others_exp_sum)[:, None] * np.exp(-v))
    return sizes @ share
