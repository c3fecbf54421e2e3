"""Benchmarks beside every run (``output.benchmarks``, on by default): each day's static Nash
and joint-monopoly prices, in firms.parquet as ``nash_price_usd_per_m`` and
``monopoly_price_usd_per_m`` (NaN when off).

On every day the token market clears, the active firms' static Bertrand-Nash prices in *that
day's* segment market (their qualities, marginal costs and, when the market has capacity
limits, their capacities; the outside seller's offer; the segments' sizes) and their
joint-monopoly prices (every active firm's summed profit maximised, without capacity limits)
stand beside the prices they post, so "how much of this is a price war" is the ratio of the two.
Both come from :mod:`sim.economics` (:func:`~sim.economics.nash_prices` with capacities,
:func:`~sim.economics.monopoly_prices`).

They are recomputed when the market they describe changes, not every day from scratch:

* the Nash prices when the set of firms, a quality or a marginal cost changes (solved and
  verified against every firm's robust best response), or when a capacity relative to the
  market's size, or the outside offer, has drifted by more than :data:`TOLERANCE` (relative)
  since the last solve (continued by Newton's method from the last equilibrium: scaling every
  segment's size and every capacity by one factor leaves the prices where they are);
* the joint-monopoly prices, which do not depend on capacities or on the market's size, when
  the firms, their qualities or costs change, or the outside offer drifts by more than
  :data:`TOLERANCE`.

Between solves the benchmarks are those of a market within :data:`TOLERANCE` of today's.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from sim.economics import SegmentMarket, monopoly_prices, nash_prices

__all__ = ["Benchmarks", "TOLERANCE"]

#: Relative drift of a capacity, the outside offer or the market size that triggers a new solve.
TOLERANCE = 0.05


def _moved(new: tuple[float, ...], old: tuple[float, ...] | None) -> bool:
    if old is None or len(new) != len(old):
        return True
    return any(abs(a - b) > TOLERANCE * max(abs(b), 1e-12) for a, b in zip(new, old, strict=True))


class Benchmarks:
    """The day's Nash and joint-monopoly prices of the active firms, kept up to date."""

    def __init__(self) -> None:
        self.names: tuple[str, ...] = ()
        self.nash = np.zeros(0)
        self.monopoly = np.zeros(0)
        self._structure: tuple | None = None
        self._nash_drift: tuple[float, ...] | None = None
        self._mono_drift: tuple[float, ...] | None = None
        self.solves = {"nash": 0, "monopoly": 0}

    def update(self, names: tuple[str, ...], prices: np.ndarray, qualities: np.ndarray,
               costs: np.ndarray, capacities: np.ndarray, sizes: np.ndarray,
               outside_price: float, outside_quality: float, capacity: bool,
               build: Callable[[], SegmentMarket]) -> None:
        """Bring the benchmarks up to date with today's market: the firms' ``names``, posted
        ``prices`` (the start of a first solve), qualities, marginal costs and capacities, the
        segments' sizes, the outside offer, whether capacities limit sales, and ``build()``,
        which makes the day's :class:`~sim.economics.SegmentMarket` when a solve is due."""
        structure = (names, tuple(qualities.tolist()), tuple(costs.tolist()), capacity)
        changed = structure != self._structure
        outside = (float(outside_price), float(outside_quality))
        # Nash prices with capacities depend on capacities relative to the market's size only
        # (scaling every size and capacity by the same factor scales profits, not prices).
        if capacity:
            total = float(sizes.sum())
            drift = tuple(k / total for k in capacities.tolist()) + outside
        else:
            drift = outside
        due_nash = changed or _moved(drift, self._nash_drift)
        due_mono = changed or _moved(outside, self._mono_drift)
        if due_nash or due_mono:
            market = build()
            # The firms are the players; sellers after them (the outside seller) keep their
            # prices, which the market holds as their costs.
            players = np.arange(len(names))

            def full(x: np.ndarray) -> np.ndarray:
                return np.concatenate([x, market.costs[len(names):]])
        if due_nash:
            same = names == self.names and np.all(np.isfinite(self.nash))
            start = self.nash if same else prices
            try:
                self.nash = nash_prices(market, full(start), players, capacity=capacity,
                                        verify=changed, tol=1e-7)
            except RuntimeError:  # no equilibrium found: say so rather than guess
                self.nash = np.full(len(names), np.nan)
            self._nash_drift = drift
            self.solves["nash"] += 1
        if due_mono:
            warm = names == self.names and np.all(np.isfinite(self.monopoly))
            if warm:
                start = self.monopoly
            elif np.all(np.isfinite(self.nash)):
                start = 1.05 * np.maximum(self.nash, market.costs[players])
            else:
                start = None
            self.monopoly = monopoly_prices(market, full(prices), players, start=start,
                                            warm=warm)
            self._mono_drift = outside
            self.solves["monopoly"] += 1
        self.names, self._structure = names, structure

    def of(self, name: str) -> tuple[float, float]:
        """``(Nash price, joint-monopoly price)`` of firm ``name`` today (NaN if absent)."""
        try:
            k = self.names.index(name)
        except ValueError:
            return float("nan"), float("nan")
        return float(self.nash[k]), float(self.monopoly[k])
