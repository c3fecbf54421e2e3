"""The inference-token market: logit demand with a no-purchase option and price-elastic usage
over customer segments, capacity rationing, and exact consumer surplus.

Pure functions of numpy arrays; no simulation state.  Shapes: ``S`` customer segments, ``n``
sellers (the firms, and any seller with unlimited capacity such as a frontier closed model,
which is simply a column whose capacity is ``inf``).

Demand model
------------
Segment ``j`` has a mass of customers whose usage at a zero price would be ``M_j`` million
tokens a day, a price sensitivity ``alpha_j`` (per USD/M) and a quality taste ``theta_j`` (USD/M
per quality point).  A customer uses tokens at the rate ``g(p) = (1 + p / kappa)^(-eta)`` (per
unit of zero-price usage) when buying at ``p`` USD per million tokens: constant-elasticity usage
with elasticity ``eta`` in ``[0, 1)`` above the satiation scale ``kappa`` (USD/M); the usage
elasticity at ``p`` is ``-eta p / (p + kappa)``.  Consistently (Roy's identity), the surplus of
that usage enters the choice through the *usage price index*

    P(p) = kappa ((1 + p / kappa)^(1 - eta) - 1) / (1 - eta),     P'(p) = g(p),   P(0) = 0,

so that with ``eta = 0`` (:class:`Usage` ``()``) usage is fixed and ``P(p) = p``.  Seller
``i``'s offer (price ``p_i``, quality ``q_i`` points) is worth

    u_ij = alpha_j * (theta_j * q_i - P(p_i)) + eps_ij

and not buying is worth the reference offer ``(p_0, q_0)`` (a free model of quality ``q_0``
when ``p_0 = 0``): ``u_0j = alpha_j * (theta_j * q_0 - P(p_0)) + eps_0j``, with i.i.d.
type-I extreme-value ``eps``.  Utilities relative to not buying are

    v_ij = alpha_j * (theta_j * (q_i - q_0) - (P(p_i) - P(p_0))),

the choice probabilities

    s_ij = exp(v_ij) / (1 + sum_k exp(v_kj)),    s_0j = 1 / (1 + sum_k exp(v_kj)),

and seller ``i``'s demand ``D_i = g(p_i) sum_j M_j s_ij`` million tokens a day.  A uniform price
cut lowers every ``P(p_i)``: fewer customers stay out (the extensive margin) and each uses more
(the intensive margin, ``eta > 0``), so the market grows.  Calvano et al.'s (2020) logit is the
case ``eta = 0`` with one segment, their outside good's ``a_0`` being the no-purchase option.

Consumer surplus (Small & Rosen 1981; with usage, McFadden's discrete-continuous case) relative
to a market in which nobody buys is the inclusive value over the price sensitivity, in USD a day:

    CS_j = M_j / alpha_j * ln(1 + sum_k exp(v_kj)) = M_j / alpha_j * ln(1 / s_0j).

Rationing
---------
Seller ``i`` serves at most ``K_i`` million tokens a day.  When first-choice demand ``D_i``
exceeds ``K_i``, a random fraction ``1 - K_i / D_i`` of every segment's customers of ``i`` is
turned away (proportional rationing).  Rationed customers choose again, by the same logit
restricted to the sellers with spare capacity and the no-purchase option; ``rechoice_rounds``
such rounds are allowed; what is still turned away after the last round chooses among the
sellers without a capacity limit and not buying (a final round that rations nobody).  Tokens
those last customers wanted where they were turned away are ``unserved`` when no seller without
a limit exists (they can then only go without), and 0 otherwise.

Consumer surplus under rationing is exact, not a bound.  Customers turned away are not a random
draw of tastes: they chose the seller that turned them away, so their taste shocks for the other
options are lower than average.  For Gumbel shocks, a customer who chose from a set of logit
weight ``W_0`` and re-chooses from sets of weights ``W_1, ..., W_r`` (each round's set a subset
of the last without the option just chosen) ends with the expected utility

    ln W_r - Lambda(c),    Lambda(c) = E[ln sum_k c_k E_k] + gamma,
    c_k = prod_{l=k+1}^{r} W_l / W_{l-1}   (c_r = 1),   E_k i.i.d. standard exponential,

because ``Z = W e^{-max}`` of the set chosen from last is ``rho Z_prev + E`` with
``rho = W / W_prev``: the identity ``P(max_O <= y | chose from A at x) = e^{-W_O e^{-y}} /
e^{-W_O e^{-x}}`` (``y < x``) of truncated Gumbel maxima.  With one re-choice round
``Lambda = rho ln rho / (rho - 1)``; in general ``Lambda`` is the one-dimensional Frullani
integral ``gamma + int_0^inf (e^{-t} - prod_k (1 + c_k t)^{-1}) dt / t``, evaluated by the
trapezoid rule in ``ln t`` (which converges geometrically: the integrand is analytic in a strip
of half-width ``pi``).  The loss from rationing is the surplus the same customers would have had
without capacity limits at the same prices less this exact surplus.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "Usage",
    "Clearing",
    "clear",
    "relative_utilities",
    "choice_probabilities",
    "log_inclusive",
    "own_price_demand",
    "rationing_penalty",
]

#: Exponents above this are evaluated in the max-shifted (overflow-safe) form.
_EXP_SAFE = 700.0
_EULER = 0.5772156649015329


@dataclass(frozen=True, slots=True)
class Usage:
    """Price-elastic usage: ``g(p) = (1 + p / kappa)^(-eta)`` tokens per unit of zero-price
    usage, with price index ``P(p) = kappa ((1 + p / kappa)^(1 - eta) - 1) / (1 - eta)``
    (``P' = g``).  ``eta = 0`` (the default) is fixed usage: ``g = 1``, ``P(p) = p``.

    Attributes
    ----------
    elasticity : ``eta`` in ``[0, 1)``, the usage elasticity well above ``kappa``.
    satiation : ``kappa`` > 0, USD per million tokens: below it usage approaches its
        zero-price level ``M_j``.
    """

    elasticity: float = 0.0
    satiation: float = 1.0

    def __post_init__(self):
        if not 0.0 <= self.elasticity < 1.0:
            raise ValueError(f"usage elasticity {self.elasticity}: must be in [0, 1)")
        if not self.satiation > 0.0:
            raise ValueError(f"usage satiation {self.satiation}: must be positive")

    @property
    def fixed(self) -> bool:
        return self.elasticity == 0.0

    def factor(self, p) -> np.ndarray:
        """``g(p)``, usage per unit of zero-price usage."""
        p = np.asarray(p, dtype=float)
        if self.fixed:
            return np.ones_like(p)
        return (1.0 + p / self.satiation) ** (-self.elasticity)

    def index(self, p) -> np.ndarray:
        """``P(p)``, the usage price index (USD/M); ``P(p) = p`` with fixed usage."""
        p = np.asarray(p, dtype=float)
        if self.fixed:
            return p
        k, e = self.satiation, self.elasticity
        return k * np.expm1((1.0 - e) * np.log1p(p / k)) / (1.0 - e)

    def rate(self, p) -> np.ndarray:
        """``-g'(p) / g(p) = eta / (p + kappa)``: the usage semi-elasticity."""
        p = np.asarray(p, dtype=float)
        if self.fixed:
            return np.zeros_like(p)
        return self.elasticity / (p + self.satiation)


FIXED = Usage()


def relative_utilities(
    prices: np.ndarray,
    qualities: np.ndarray,
    alpha: np.ndarray,
    theta: np.ndarray,
    outside_price: float,
    outside_quality: float,
    usage: Usage = FIXED,
) -> np.ndarray:
    """Deterministic utilities relative to not buying, ``v_ij`` (shape ``(S, n)``).

    ``v_ij = alpha_j * (theta_j * (q_i - q_0) - (P(p_i) - P(p_0)))``; ``(p_0, q_0)`` is the
    no-purchase reference (``outside_price``, ``outside_quality``).
    """
    dq = np.asarray(qualities, dtype=float) - outside_quality
    dp = usage.index(prices) - usage.index(outside_price)
    return alpha[:, None] * (theta[:, None] * dq[None, :] - dp[None, :])


def choice_probabilities(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Logit choice probabilities given utilities relative to not buying.

    Parameters
    ----------
    v : array (S, n)
        ``v_ij = u_ij - u_0j``.

    Returns
    -------
    shares : array (S, n)
        ``s_ij = exp(v_ij) / (1 + sum_k exp(v_kj))``.
    outside : array (S,)
        ``s_0j = 1 / (1 + sum_k exp(v_kj))``, the no-purchase probability.
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
    """``ln(1 + sum_k exp(v_kj))`` per segment (the log inclusive value relative to not
    buying), overflow-safe."""
    if v.shape[1] == 0:
        return np.zeros(v.shape[0])
    m = np.maximum(v.max(axis=1), 0.0)
    return m + np.log(np.exp(-m) + np.exp(v - m[:, None]).sum(axis=1))


#: Nodes in ``u = ln t`` of the Frullani integral (see :func:`rationing_penalty`): the
#: integrand is below 1e-17 outside [-40, 40] because the last coefficient is 1.
_U = np.arange(-40.0, 40.0 + 1e-9, 0.2)
_T = np.exp(_U)


def rationing_penalty(c: np.ndarray) -> np.ndarray:
    """``Lambda(c) = E[ln sum_k c_k E_k] + gamma`` for i.i.d. standard exponential ``E_k``,
    per column of ``c`` (shape ``(r + 1, S)``, every ``c_k`` in ``(0, 1]``, the last row 1).

    With one row ``Lambda = 0``; with two, ``Lambda = rho ln rho / (rho - 1)`` (``rho = c_0``;
    1 at ``rho = 1``).  Otherwise the Frullani form ``ln z = int_0^inf (e^{-t} - e^{-t z}) dt/t``
    and ``E[e^{-t Z}] = prod_k (1 + c_k t)^{-1}`` give
    ``Lambda = gamma + int (e^{-t} - prod_k (1 + c_k t)^{-1}) du`` over ``u = ln t``, by the
    trapezoid rule with step 0.2 (error below 1e-12).
    """
    c = np.atleast_2d(np.asarray(c, dtype=float))
    if c.shape[0] == 1:
        return np.zeros(c.shape[1])
    if c.shape[0] == 2:
        rho = np.clip(c[0], 1e-300, 1.0)
        near = np.abs(rho - 1.0) < 1e-6
        d = rho - 1.0
        with np.errstate(divide="ignore", invalid="ignore"):
            out = rho * np.log(rho) / d
        # rho ln rho / (rho - 1) = 1 + d/2 - d^2/6 + ... near rho = 1
        out[near] = 1.0 + d[near] / 2.0 - d[near] ** 2 / 6.0
        return out
    prod = np.ones((c.shape[1], _T.shape[0]))
    for row in c:
        prod /= 1.0 + row[:, None] * _T[None, :]
    f = np.exp(-_T)[None, :] - prod
    return _EULER + 0.2 * (f.sum(axis=1) - 0.5 * (f[:, 0] + f[:, -1]))


@dataclass(frozen=True, slots=True)
class Clearing:
    """One day's token-market outcome.  Token volumes in million tokens, money in USD.

    Attributes
    ----------
    choice_share : (n,) first-round choice shares of all customers (sum with
        ``no_purchase_choice_share`` to 1).
    no_purchase_choice_share : first-round share choosing not to buy.
    demand : (n,) first-round (unrationed) demand ``D_i = g(p_i) sum_j M_j s_ij``.
    served : (n,) tokens served, ``<= capacity``.
    rationed : (n,) first-choice demand turned away, ``max(D_i - K_i, 0)``.
    no_purchase : customers who buy nothing in the end, measured by their zero-price usage
        (``sum_j M_j`` times their share), million tokens a day.
    unserved : tokens the customers still turned away after the last re-choice round wanted
        where they were turned away, when no seller without a capacity limit exists; else 0.
    spend : customer spend, ``sum_i p_i * served_i`` (USD).
    revenue : (n,) ``p_i * served_i`` (USD).
    consumer_surplus : USD, relative to a market in which nobody buys, exact under rationing.
    rationing_loss : USD, the consumer surplus at these prices without capacity limits less
        ``consumer_surplus`` (0 when no capacity binds).
    """

    choice_share: np.ndarray
    no_purchase_choice_share: float
    demand: np.ndarray
    served: np.ndarray
    rationed: np.ndarray
    no_purchase: float
    unserved: float
    spend: float
    revenue: np.ndarray
    consumer_surplus: float
    rationing_loss: float


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
    usage: Usage = FIXED,
) -> Clearing:
    """Clear one day of the token market.

    Parameters
    ----------
    prices, qualities : (n,) offers, USD per million tokens and quality points.
    capacities : (n,) million tokens a day each seller can serve (``inf`` for no limit), or
        ``None`` for no limits at all.
    sizes, alpha, theta : (S,) segment zero-price usage (million tokens a day), price
        sensitivities (per USD/M) and quality tastes (USD/M per point).
    outside_price, outside_quality : the no-purchase reference offer ``(p_0, q_0)``.
    rechoice_rounds : how many times rationed customers may choose again among the sellers
        with spare capacity.
    usage : price-elastic usage (:class:`Usage`); fixed by default.

    Returns
    -------
    Clearing
        See :class:`Clearing`; the module docstring states the formulas.
    """
    prices = np.asarray(prices, dtype=float)
    n = prices.shape[0]
    total = float(sizes.sum())
    v = relative_utilities(prices, qualities, alpha, theta, outside_price, outside_quality, usage)
    shares, s0 = choice_probabilities(v)
    g = usage.factor(prices)
    # Market-size weights first, so shares stay exact even for tiny markets.
    weights = sizes / total if total > 0 else np.zeros_like(sizes)
    choice_share = weights @ shares
    no_choice_share = float(weights @ s0) if total > 0 else 1.0
    demand = g * (choice_share * total)
    # ln(1/s0) is the log inclusive value relative to not buying; s0 underflows when an
    # offer is overwhelmingly better than going without.
    log_iv = -np.log(s0) if n == 0 or s0.min() > 0 else log_inclusive(v)
    consumer_surplus = float((sizes / alpha) @ log_iv)

    if capacities is None or n == 0 or not (demand > capacities).any():
        served = demand
        rationed = np.zeros(n)
        no_purchase, unserved, loss = no_choice_share * total, 0.0, 0.0
    else:
        served, rationed, no_purchase, unserved, exact = _ration(
            v, shares, s0, g, demand, np.asarray(capacities, dtype=float), sizes, alpha, log_iv,
            rechoice_rounds,
        )
        loss = max(consumer_surplus - exact, 0.0)
        consumer_surplus = exact

    revenue = prices * served
    return Clearing(
        choice_share=choice_share,
        no_purchase_choice_share=no_choice_share,
        demand=demand,
        served=served,
        rationed=rationed,
        no_purchase=no_purchase,
        unserved=unserved,
        spend=float(revenue.sum()),
        revenue=revenue,
        consumer_surplus=consumer_surplus,
        rationing_loss=loss,
    )


def _ration(v, shares, s0, g, demand, capacities, sizes, alpha, log_iv, rounds):
    """Proportional rationing with ``rounds`` logit re-choice rounds and a final round among
    the unlimited sellers and not buying (see the module doc), with exact consumer surplus.

    A re-choice among the open sellers ``O`` uses the first-round probabilities:
    ``exp(v_kj) / (1 + sum_{l in O} exp(v_lj)) = s_kj / (s_0j + sum_{l in O} s_lj)``, and the
    round's log weight is ``ln W_O = ln((s_0j + sum_{l in O} s_lj) / s_0j)``; no exponential is
    recomputed (except where ``s_0j`` underflowed).  Customer masses are in zero-price usage
    units; a seller's tokens are its customers times ``g(p_i)``.
    """
    over = demand > capacities  # so demand > 0 there, and the ratio is below 1
    keep = np.ones_like(demand)
    keep[over] = capacities[over] / demand[over]
    served = demand * keep
    rationed = demand - served
    spare = capacities - served
    turned_away = sizes * (shares @ (1.0 - keep))  # (S,) customers turned away this round
    per_alpha = 1.0 / alpha
    consumer_surplus = float(((sizes - turned_away) * per_alpha) @ log_iv)
    no_purchase = float(sizes @ s0)
    open_ = keep >= 1.0  # sellers with spare capacity
    unlimited = np.isinf(capacities)
    exact = s0 > 0
    chain = [np.ones_like(s0)]  # the coefficients c_k of Lambda, per segment
    log_w = log_iv  # ln W of the set chosen from last
    lost_tokens = rationed.sum()  # tokens wanted where the last turned-away were turned away

    def round_of(idx):
        sub = shares[:, idx]
        denom = s0 + sub.sum(axis=1)
        ok = denom > 0  # ratios first: s0 and denom can be subnormal together
        want = np.divide(sub, denom[:, None], out=np.zeros_like(sub), where=ok[:, None])
        to_none = np.divide(s0, denom, out=np.zeros_like(s0), where=ok)
        lost = ~ok  # every first-round probability of this choice set underflowed
        if lost.any():
            want[lost], to_none[lost] = choice_probabilities(v[np.ix_(lost, idx)])
        if exact.all():
            new_log_w = np.log(denom) - np.log(s0)
        else:
            new_log_w = log_inclusive(v[:, idx])
        return want, to_none, new_log_w

    def credit(mass, new_log_w):
        nonlocal chain, log_w
        rho = np.exp(np.minimum(new_log_w - log_w, 0.0))
        chain = [c * rho for c in chain] + [np.ones_like(rho)]
        log_w = new_log_w
        return float((mass * per_alpha) @ (new_log_w - rationing_penalty(np.array(chain))))

    for _ in range(rounds):
        if not turned_away.any():
            break
        idx = np.flatnonzero(open_)
        want, to_none, new_log_w = round_of(idx)
        want *= turned_away[:, None]  # (S, k) customers
        want_tokens = g[idx] * want.sum(axis=0)
        spare_open = spare[idx]
        full = want_tokens > spare_open
        keep_r = np.ones_like(want_tokens)
        keep_r[full] = spare_open[full] / want_tokens[full]
        got = want_tokens * keep_r
        served[idx] += got
        spare[idx] -= got
        no_purchase += float(to_none @ turned_away)
        again = want @ (1.0 - keep_r)  # (S,) turned away a second time
        lost_tokens = float(want_tokens @ (1.0 - keep_r))
        consumer_surplus += credit(turned_away - again, new_log_w)
        turned_away = again
        open_[idx] = keep_r >= 1.0
    unserved = 0.0
    if turned_away.any():
        # The final round: the sellers without a capacity limit and not buying.
        idx = np.flatnonzero(unlimited)
        want, to_none, new_log_w = round_of(idx)
        served[idx] += g[idx] * (turned_away @ want)
        no_purchase += float(to_none @ turned_away)
        consumer_surplus += credit(turned_away, new_log_w)
        if idx.size == 0:
            unserved = lost_tokens
    np.minimum(served, capacities, out=served)  # guard against round-off above capacity
    return served, rationed, no_purchase, unserved, consumer_surplus


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
    usage: Usage = FIXED,
) -> np.ndarray:
    """One seller's first-round demand at each of several own prices, rivals' offers fixed.

    With ``L_j = ln(1 + sum_{k != i} exp(v_kj))`` the rivals' log term (see
    :func:`log_inclusive`), ``D_i(p) = g(p) sum_j M_j / (1 + exp(L_j - v_ij(p)))``, which
    cannot overflow.  Segments are processed ``block`` at a time to keep temporaries small.

    Parameters
    ----------
    own_prices : (G,) candidate prices.
    rival_log_term : (S,) ``L_j``.

    Returns
    -------
    (G,) demand in million tokens a day.
    """
    own_prices = np.asarray(own_prices, dtype=float)
    index = usage.index(own_prices)
    out = np.zeros(own_prices.shape[0])
    for lo in range(0, sizes.shape[0], block):
        sl = slice(lo, lo + block)
        a = alpha[sl]
        # L_j - v_ij(p) = L_j - alpha_j * (theta_j * dq + P(p_0)) + alpha_j * P(p)
        base = rival_log_term[sl] - a * (theta[sl] * (own_quality - outside_quality)
                                         + float(usage.index(outside_price)))
        x = base[:, None] + a[:, None] * index[None, :]
        with np.errstate(over="ignore"):
            np.exp(x, out=x)
        x += 1.0
        np.reciprocal(x, out=x)
        out += np.einsum("j,jg->g", sizes[sl], x)
    return out * usage.factor(own_prices)
