"""The offer book: the active sellers' offers as arrays, with each segment's logit weights."""

from __future__ import annotations

import numpy as np

from sim.markets import tokens

__all__ = ["OfferBook"]


class OfferBook:
    """Today's offers and each segment's logit weights, kept incrementally.

    With a per-segment shift ``m_j = max(0, max_k v_kj)`` set when the book is built,
    ``E_jk = exp(v_kj - m_j)`` and ``T_j = exp(-m_j) + sum_k E_jk``, so that firm ``i``'s rivals'
    log term is ``L_ij = ln(1 + sum_{k != i} exp(v_kj)) = m_j + ln(T_j - E_ji)``.  A price or
    quality change updates one column and ``T`` in O(S); rows where a subtraction would lose
    precision are recomputed exactly.  The book is rebuilt (O(S n)) on a new day (when the
    outside seller's offer may move) and on an entry or exit.  It is a cache: the sellers'
    ``price`` and ``quality`` are the state.  Utilities are relative to not buying
    (:func:`sim.markets.tokens.relative_utilities` with the reference ``(0, q_0)``).

    Parameters
    ----------
    alpha, theta : the segments' price sensitivities and quality tastes.
    usage : the segments' price-elastic usage.
    no_purchase_quality : ``q_0``, what not buying is worth (a free model of this quality).
    """

    #: Rows where ``T_j - E_ji`` is below this share of ``T_j`` (the firm holds over 99.99% of the
    #: segment's logit weight) are recomputed exactly: the subtraction would lose digits.
    PRECISION = 1e-4

    def __init__(self, alpha: np.ndarray, theta: np.ndarray, usage: tokens.Usage = tokens.FIXED,
                 no_purchase_quality: float = 0.0):
        self.alpha, self.theta = alpha, theta
        self.usage, self.no_purchase_quality = usage, float(no_purchase_quality)
        self.day: int | None = None

    def invalidate(self) -> None:
        self.day = None

    def current(self, day: int, sellers: list) -> OfferBook:
        """The book for ``day`` (rebuilt if stale) over ``sellers`` (objects with ``price`` and
        ``quality``: the firms, then the outside seller if any), in their order."""
        if self.day != day:
            self._rebuild(day, sellers)
        return self

    def _utilities(self, prices, qualities, rows=slice(None)) -> np.ndarray:
        return tokens.relative_utilities(prices, qualities, self.alpha[rows], self.theta[rows],
                                         0.0, self.no_purchase_quality, self.usage)

    def _rebuild(self, day, sellers) -> None:
        self.slot = {id(s): k for k, s in enumerate(sellers)}
        self.prices = np.array([s.price for s in sellers], dtype=float)
        self.qualities = np.array([s.quality for s in sellers], dtype=float)
        v = self._utilities(self.prices, self.qualities)
        self.shift = np.maximum(v.max(axis=1, initial=0.0), 0.0)
        self.weights = np.exp(v - self.shift[:, None])
        self.total = np.exp(-self.shift) + self.weights.sum(axis=1)
        self.day = day

    def index(self, seller) -> int:
        return self.slot[id(seller)]

    def update(self, seller, day: int) -> None:
        """``seller`` posted a new price or released a model."""
        if self.day != day:
            return  # stale anyway: rebuilt on next use
        k = self.slot[id(seller)]
        self.prices[k], self.qualities[k] = seller.price, seller.quality
        x = self._utilities(self.prices[k : k + 1], self.qualities[k : k + 1])[:, 0] - self.shift
        if x.max() > 700.0:  # far above the day's shift: rebuild with a new one
            self.day = None
            return
        new = np.exp(x)
        old = self.weights[:, k].copy()
        before = self.total.copy()
        self.weights[:, k] = new
        self.total += new - old
        risky = old > 0.5 * before
        if risky.any():
            self.total[risky] = np.exp(-self.shift[risky]) + self.weights[risky].sum(axis=1)

    def rival_log_term(self, k: int) -> np.ndarray:
        """``L_kj = ln(1 + sum_{i != k} exp(v_ij))`` for every segment ``j``."""
        rest = self.total - self.weights[:, k]
        bad = ~(rest > self.PRECISION * self.total)
        out = self.shift + np.log(rest, where=~bad, out=np.zeros_like(rest))
        if bad.any():
            others = np.arange(self.prices.shape[0]) != k
            out[bad] = tokens.log_inclusive(self._utilities(self.prices[others],
                                                            self.qualities[others], bad))
        return out
