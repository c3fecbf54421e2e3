"""The compute (GPU-hour) market: a uniform-price double auction.

Pure functions of numpy arrays; no simulation state.  Prices are in USD per GPU-hour and
volumes in GPU-hours.  Shapes: ``n`` asks (offers to sell) and ``m`` bids (offers to buy), each
a limit price and a volume; orders with a zero volume take no part (they neither trade nor set
the price).

Supply and demand
-----------------
Asks sorted by ascending price and bids by descending price form the step curves

    S(p) = sum_{i: a_i <= p} u_i,        D(p) = sum_{j: b_j >= p} w_j,

(``a_i``, ``u_i`` the asks' prices and volumes, ``b_j``, ``w_j`` the bids').  ``S(p-)`` and
``D(p+)``, the same sums over ``a_i < p`` and ``b_j > p``, are the other ends of the curves'
vertical steps at ``p``.

Volume
------
The traded volume is the largest tradable volume

    Q* = max_p min(S(p), D(p)),

the largest ``Q`` at which the ``Q``-th cheapest unit offered is priced at or below the
``Q``-th dearest unit bid for.  The maximum is attained at an ask or bid price (between two
consecutive such prices ``S`` is at its left value and ``D`` at its right one).  Nothing trades
when ``Q* = 0``; the price is then NaN.

Allocation
----------
On each side the best orders trade first.  The *marginal ask price* ``a*`` is the lowest ask
price with ``S(a*) >= Q*``: asks priced below it sell in full, asks above it sell nothing, and
the asks at ``a*`` share the rest, ``Q* - S(a*-)``, pro rata to their volumes (each sells the
fraction ``(Q* - S(a*-)) / (S(a*) - S(a*-))`` of its volume, the same for every ask at that
price, so equal asks are treated alike).  Symmetrically the *marginal bid price* ``b*`` is the
highest bid price with ``D(b*) >= Q*``: bids above it buy in full, bids below it nothing, and
the bids at ``b*`` share ``Q* - D(b*+)`` pro rata.  An order at a marginal price whose fraction
is below 1 is *partially filled*; ``a* <= b*`` always.

Price
-----
The clearing price supports that allocation: every order that trades is priced at or better
than it, and every order left (wholly or partly) unfilled at or worse than it.  The prices that
do so form the interval ``[low, high]`` with

    low  = max(a*, highest price of a bid not filled in full),
    high = min(b*, lowest price of an ask not filled in full),

(a missing term is dropped: ``-inf`` in the ``max``, ``+inf`` in the ``min``).  ``a*`` is the
highest price of an ask that trades and ``b*`` the lowest of a bid that trades, and a partially
filled order is both traded and unfilled, so it pins its bound: a rationed ask level makes
``high = low = a*``, a rationed bid level ``low = high = b*``.  This interval is exactly the set
of prices where the step curves meet at ``Q*``, i.e. ``S(p-) <= Q* <= S(p)`` and
``D(p+) <= Q* <= D(p)``; ``low <= high`` because no unfilled ask is priced at or below an
unfilled bid (that pair would trade and raise ``Q*``).  The clearing price is the midpoint
``(low + high) / 2``: where the curves meet on a vertical stretch, the middle of it.

Example: asks ``(1, 10)``, ``(2, 10)``, ``(3, 10)`` against a bid ``(2.5, 15)`` trade
``Q* = 15``; the ask at 2 sells 5 of its 10 (partially filled), so ``low = high = 2``.  One ask
``(1, 10)`` against one bid ``(3, 10)`` trades 10 with ``low = 1``, ``high = 3``: price 2.

The allocation is a function of the set of orders: ties in the sort are broken by volume, so
permuting the inputs permutes ``sold`` and ``bought`` and leaves every other result bit for bit
unchanged.

Volumes are summed in floating point (cumulative sums along each curve).  The statements above
hold as long as no order is lost in those sums, i.e. every positive volume exceeds the rounding
error of the running total it is added to (about ``1e-16`` of it).  An order below that can be
left unmatched against a crossing order, and in the extreme ``low > high``; rescale volumes
that span more than about fifteen orders of magnitude.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Clearing", "clear"]


@dataclass(frozen=True, slots=True)
class Clearing:
    """One compute-market clearing.  Prices in USD per GPU-hour, volumes in GPU-hours.

    Attributes
    ----------
    price : the uniform clearing price, ``(low + high) / 2``; NaN when nothing trades.
    low, high : the interval of prices that support the allocation (see the module doc);
        ``low <= price <= high``, equal when a marginal order is partially filled; NaN when
        nothing trades.
    volume : ``Q*``, GPU-hours traded (0 when nothing trades).
    sold : (n,) GPU-hours each ask sells, in the input order; ``0 <= sold <= ask_volume``.
    bought : (m,) GPU-hours each bid buys, in the input order; ``0 <= bought <= bid_volume``.
    supply : total GPU-hours offered, ``sum(ask_volume)``.
    demand : total GPU-hours bid for, ``sum(bid_volume)``.
    """

    price: float
    low: float
    high: float
    volume: float
    sold: np.ndarray
    bought: np.ndarray
    supply: float
    demand: float

    @property
    def unsold(self) -> float:
        """GPU-hours offered but not sold, ``supply - volume``."""
        return max(self.supply - self.volume, 0.0)

    @property
    def unmet(self) -> float:
        """GPU-hours bid for but not bought (unmatched demand), ``demand - volume``."""
        return max(self.demand - self.volume, 0.0)


def _orders(price_name, price, volume_name, volume) -> tuple[np.ndarray, np.ndarray]:
    """Validated float copies of one side's prices and volumes."""
    p = np.asarray(price, dtype=float)
    v = np.asarray(volume, dtype=float)
    if p.ndim != 1:
        raise ValueError(f"{price_name} must be one-dimensional, got shape {p.shape}")
    if p.shape != v.shape:
        raise ValueError(f"{price_name} has shape {p.shape} but {volume_name} has shape {v.shape}")
    bad = np.flatnonzero(~np.isfinite(p))
    if bad.size:
        i = bad[0]
        raise ValueError(f"{price_name}[{i}] = {p[i]}: prices must be finite")
    bad = np.flatnonzero(~(np.isfinite(v) & (v >= 0.0)))
    if bad.size:
        i = bad[0]
        raise ValueError(f"{volume_name}[{i}] = {v[i]}: volumes must be finite and >= 0")
    return p, v


def _side(key: np.ndarray, volume: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The side's positive-volume orders sorted best first (ascending ``key``, ties by volume)
    and their cumulative volumes: ``key`` is the ask price, or minus the bid price."""
    live = volume > 0.0
    k, v = key[live], volume[live]
    order = np.lexsort((v, k))
    return k[order], np.cumsum(v[order])


def _volume_at(keys: np.ndarray, cum: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Cumulative volume of the orders with ``key <= x`` (``S(p)`` for asks at ``x = p``,
    ``D(p)`` for bids at ``x = -p``)."""
    count = np.searchsorted(keys, x, side="right")
    return np.where(count > 0, cum[np.maximum(count - 1, 0)], 0.0)


def _marginal(keys: np.ndarray, cum: np.ndarray, q: float) -> tuple[float, float, float]:
    """The marginal key of a side trading ``q > 0``, the fraction of its level's volume that
    trades, and the key of the best order not filled in full (``inf`` if none)."""
    first = int(np.searchsorted(cum, q, side="left"))  # first order with cumulative >= q
    star = keys[first]
    lo = int(np.searchsorted(keys, star, side="left"))
    hi = int(np.searchsorted(keys, star, side="right"))
    before = cum[lo - 1] if lo > 0 else 0.0
    level = cum[hi - 1]
    if level > q:
        fraction = min(max((q - before) / (level - before), 0.0), 1.0)
        unfilled = star
    else:
        fraction = 1.0
        unfilled = keys[hi] if hi < keys.shape[0] else np.inf
    return float(star), fraction, float(unfilled)


def clear(ask_price, ask_volume, bid_price, bid_volume) -> Clearing:
    """Clear a uniform-price double auction of GPU-hours.

    ``volume = Q* = max_p min(S(p), D(p))``; asks below the marginal ask price ``a*`` sell in
    full and those at it share the rest pro rata, bids above the marginal bid price ``b*`` buy
    in full and those at it share the rest pro rata; ``price = (low + high) / 2`` with
    ``low = max(a*, highest price of a bid not filled in full)`` and
    ``high = min(b*, lowest price of an ask not filled in full)``.  The module docstring
    derives the rule.

    Parameters
    ----------
    ask_price, ask_volume : (n,) sellers' limit prices (USD per GPU-hour, finite) and volumes
        (GPU-hours, finite, >= 0).
    bid_price, bid_volume : (m,) buyers' limit prices and volumes, likewise.

    Returns
    -------
    Clearing
        ``sold`` and ``bought`` are aligned with the input order.

    Raises
    ------
    ValueError
        When a price and its volume differ in shape or are not one-dimensional, a price is not
        finite, or a volume is negative or not finite; the message names the argument and the
        first bad value.
    """
    a, u = _orders("ask_price", ask_price, "ask_volume", ask_volume)
    b, w = _orders("bid_price", bid_price, "bid_volume", bid_volume)
    ask_keys, ask_cum = _side(a, u)
    bid_keys, bid_cum = _side(-b, w)  # best (highest) bid first
    supply = float(ask_cum[-1]) if ask_cum.size else 0.0
    demand = float(bid_cum[-1]) if bid_cum.size else 0.0

    q = 0.0
    if ask_keys.size and bid_keys.size:
        # min(S, D) is greatest at one of the order prices.
        p = np.concatenate([ask_keys, -bid_keys])
        q = float(np.max(np.minimum(_volume_at(ask_keys, ask_cum, p),
                                    _volume_at(bid_keys, bid_cum, -p))))
    if not q > 0.0:
        nan = float("nan")
        return Clearing(price=nan, low=nan, high=nan, volume=0.0, sold=np.zeros_like(u),
                        bought=np.zeros_like(w), supply=supply, demand=demand)

    a_star, f_ask, unfilled_ask = _marginal(ask_keys, ask_cum, q)
    neg_b_star, f_bid, neg_unfilled_bid = _marginal(bid_keys, bid_cum, q)
    b_star, unfilled_bid = -neg_b_star, -neg_unfilled_bid

    live_u, live_w = u > 0.0, w > 0.0
    sold = np.where(live_u & (a < a_star), u, 0.0)
    sold = np.where(live_u & (a == a_star), u * f_ask, sold)
    bought = np.where(live_w & (b > b_star), w, 0.0)
    bought = np.where(live_w & (b == b_star), w * f_bid, bought)

    low = max(a_star, unfilled_bid)
    high = min(b_star, unfilled_ask)
    mid = 0.5 * (low + high)
    if not np.isfinite(mid):  # low + high overflowed
        mid = 0.5 * low + 0.5 * high
    price = min(max(mid, low), high)
    return Clearing(price=float(price), low=float(low), high=float(high), volume=q, sold=sold,
                    bought=bought, supply=supply, demand=demand)
