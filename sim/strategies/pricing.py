"""Pricing rules.  At a price review a firm calls ``rule.price(market, me, ctx)`` for its new
price.

``market`` is a :class:`sim.views.MarketView`: every active firm's current offer, the segments'
sizes and tastes today, the outside option, and the index ``me`` of the asking firm; ``me`` is a
:class:`sim.views.FirmView` of the firm itself; ``ctx`` its :class:`sim.views.RuleContext`.
Prices are USD per million tokens; ``me.marginal_cost`` is USD per million tokens served.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from sim.core import params as checks
from sim.core.errors import ConfigError
from sim.economics import best_response
from sim.strategies import Rule, param, register
from sim.views import FirmView, MarketView, RuleContext


class PricingRule(Rule):
    """A pricing rule.  ``next_review`` may override the firm's review cadence."""

    def price(self, market: MarketView, me: FirmView, ctx: RuleContext) -> float:
        raise NotImplementedError

    def next_review(self, me: FirmView, ctx: RuleContext) -> float | None:
        """Days until this rule next wants a review; ``None`` keeps ``review_days``."""
        return None


@register("pricing", "cost_plus")
class CostPlus(PricingRule):
    """``p = c * (1 + markup)`` with ``c`` the marginal cost."""

    @dataclasses.dataclass
    class Params:
        markup: float = param(0.5, -1.0, 1e4, doc="markup over marginal cost")

    def price(self, market, me, ctx):
        return me.marginal_cost * (1.0 + self.params.markup)


@register("pricing", "best_response")
class BestResponse(PricingRule):
    """Maximise expected profit against rivals' current prices on the logit demand model.

    ``p* = argmax_{p >= c} (p - c) * min(D(p), K)`` where ``D(p)`` is the firm's first-round
    demand summed over segments with rivals' offers fixed and ``K`` its capacity (ignored when
    ``capacity_aware`` is false or the market has no limits).  Solved by
    :func:`sim.economics.best_response` (the one best-response solver: a search bracket derived
    from each segment's closed-form optimum, refined by Brent's method), on the rivals' log term
    from the model's offer book.
    """

    @dataclasses.dataclass
    class Params:
        grid: int = param(48, 8, 100_000, doc="points of the search across the bracket")
        capacity_aware: bool = param(True, doc="cap demand at capacity")

    def price(self, market, me, ctx):
        cap = market.capacity if (self.params.capacity_aware and market.capacity_limits) \
            else None
        return best_response(market.segment_market(capacity=False), None, market.me,
                             capacity=cap, rival_log_term=market.rival_log_term(),
                             grid=self.params.grid)


@register("pricing", "undercut")
class Undercut(PricingRule):
    """The price-war rule: beat the cheapest rival of comparable quality by ``step``.

    Comparable rivals have quality at least ``own quality - quality_gap``.  The new price is
    ``(1 - step) * min(comparable rivals' prices)``, never below ``floor * c``.  With
    ``relent_markup`` set, a firm that would have to go below the floor instead jumps back up to
    ``c * (1 + relent_markup)`` (Maskin & Tirole's Edgeworth cycle).  With no comparable rival the
    price is unchanged.
    """

    @dataclasses.dataclass
    class Params:
        step: float = param(0.05, 0.0, 1.0, doc="fraction below the cheapest comparable rival")
        floor: float = param(1.0, 0.0, 1e4, doc="lowest price as a multiple of marginal cost")
        quality_gap: float = param(50.0, 0.0, None, doc="quality points a rival may lag by")
        relent_markup: float | None = param(None, -1.0, 1e4, doc="markup to jump back up to")

    def price(self, market, me, ctx):
        p, view = self.params, market
        comparable = view.qualities >= view.qualities[view.me] - p.quality_gap
        comparable[view.me] = False
        if not comparable.any():
            return me.price
        target = (1.0 - p.step) * float(view.prices[comparable].min())
        floor = p.floor * me.marginal_cost
        if target < floor:
            if p.relent_markup is not None:
                return me.marginal_cost * (1.0 + p.relent_markup)
            return floor
        return target


@register("pricing", "penetration")
class Penetration(PricingRule):
    """Penetration then harvest: price at ``c * (1 + entry_markup)`` until the firm's choice share
    of the whole market reaches ``target_share``, then at ``c * (1 + markup)`` for good."""

    @dataclasses.dataclass
    class Params:
        target_share: float = param(0.2, 0.0, 1.0, doc="share of all customers to win first")
        markup: float = param(0.5, -1.0, 1e4, doc="markup once the target is reached")
        entry_markup: float = param(0.0, -1.0, 1e4, doc="markup while below the target")

    def __init__(self, params):
        super().__init__(params)
        self.harvesting = False

    def price(self, market, me, ctx):
        if me.choice_share >= self.params.target_share:
            self.harvesting = True
        markup = self.params.markup if self.harvesting else self.params.entry_markup
        return me.marginal_cost * (1.0 + markup)


@register("pricing", "scripted")
class Scripted(PricingRule):
    """Dated prices: ``path: [[day or date, price], ...]``; the price in force is the last point
    at or before today (the firm's configured price before the first point).  Reviews happen
    exactly at the path's dates."""

    @dataclasses.dataclass
    class Params:
        path: list[Any] = param([], unit="[day or date, USD/M]",
                                doc="[[day or date, USD per million tokens], ...]")

    @classmethod
    def check(cls, key, params, cfg):
        if not params.path:
            raise ConfigError(f"{key}.path", params.path,
                              "a non-empty list of [day or date, price] pairs", "empty path")
        checks.path(f"{key}.path", params.path, cfg.day_of, 0.0, 1e6)

    def __init__(self, params):
        super().__init__(params)
        self._days: np.ndarray | None = None
        self._prices = np.array([float(pt[1]) for pt in params.path])

    def bind(self, ctx):
        self._days = np.array([ctx.day_of(pt[0]) for pt in self.params.path])

    def price(self, market, me, ctx):
        k = int(np.searchsorted(self._days, ctx.now + 1e-9, side="right")) - 1
        return me.price if k < 0 else float(self._prices[k])

    def next_review(self, me, ctx):
        later = self._days[self._days > ctx.now + 1e-9]
        return float(later[0] - ctx.now) if later.size else float("inf")
