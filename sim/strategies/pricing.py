"""Pricing rules.  At a price review a firm calls ``rule.price(market, me, ctx)`` for its new
price.

``market`` is a :class:`sim.views.MarketView`: every active firm's current offer, the segments'
sizes and tastes today, the outside option, and the index ``me`` of the asking firm; ``me`` is a
:class:`sim.views.FirmView` of the firm itself; ``ctx`` its :class:`sim.views.RuleContext`.
Prices are USD per million tokens; ``me.marginal_cost`` is USD per million tokens served.
"""

from __future__ import annotations

import dataclasses
import math
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

    def reaction_lag(self, market: MarketView, me: FirmView, ctx: RuleContext, mover: int,
                     lag: float) -> float:
        """Days until the firm answers the move just made by the rival at index ``mover`` of
        ``market``, given its configured ``reaction_lag_days`` ``lag``; ``inf``: not at all.
        Rules answer every watched move after ``lag`` unless they say otherwise."""
        return lag


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
        return _best_response(market, self.params.capacity_aware, self.params.grid)


def _best_response(market: MarketView, capacity_aware: bool = True, grid: int = 48) -> float:
    """The deciding firm's best response to the market it sees (:func:`best_response`)."""
    cap = market.capacity if (capacity_aware and market.capacity_limits) else None
    return best_response(market.segment_market(capacity=False), None, market.me, capacity=cap,
                         rival_log_term=market.rival_log_term(), grid=grid)


@register("pricing", "undercut")
class Undercut(PricingRule):
    """The price-war rule: beat the cheapest rival of comparable quality by ``step``.

    Comparable rivals have quality at least ``own quality - quality_gap``.  The new price is
    ``(1 - step) * min(comparable rivals' prices)``, never below ``floor * c``.  With
    ``relent_markup`` set, a firm that would have to go below the floor instead jumps back up to
    ``c * (1 + relent_markup)`` (Maskin & Tirole's Edgeworth cycle).  With no comparable rival
    left to undercut the rule re-optimises: ``alone: best_response`` prices at the firm's best
    response to the market as it is (capacity-aware), ``alone: hold`` keeps the price.
    """

    @dataclasses.dataclass
    class Params:
        step: float = param(0.05, 0.0, 1.0, doc="fraction below the cheapest comparable rival")
        floor: float = param(1.0, 0.0, 1e4, doc="lowest price as a multiple of marginal cost")
        quality_gap: float = param(50.0, 0.0, None, doc="quality points a rival may lag by")
        relent_markup: float | None = param(None, -1.0, 1e4, doc="markup to jump back up to")
        alone: str = param("best_response", choices=("best_response", "hold"),
                           doc="with no comparable rival: best_response or hold the price")

    def price(self, market, me, ctx):
        p, view = self.params, market
        comparable = view.qualities >= view.qualities[view.me] - p.quality_gap
        comparable[view.me] = False
        if not comparable.any():
            return me.price if p.alone == "hold" else _best_response(market)
        target = (1.0 - p.step) * float(view.prices[comparable].min())
        floor = p.floor * me.marginal_cost
        if target < floor:
            if p.relent_markup is not None:
                return me.marginal_cost * (1.0 + p.relent_markup)
            return floor
        return target


@register("pricing", "threat")
class Threat(PricingRule):
    r"""Answer threats: react to a rival's move only when its offer undercuts the firm's by
    enough, the sooner the bigger the threat, with a cut set against that rival's price.

    The threat rival ``k`` poses to firm ``i`` is its quality-adjusted log undercut

    .. math::

        \tau_{ik} = \ln(p_i / p_k) + w (q_k - q_i),

    with ``w = quality_weight`` the log price ratio one quality point is worth (the default,
    ``ln(10) / 400``, is the Elo scale's log-odds of preference per point: a rival 100 points
    better is as threatening as one ``e^0.58 = 1.78`` times cheaper).  A free rival is an
    infinite threat; a free firm cannot be undercut.

    *When.*  A watched rival's entry, price change or release is answered only if
    ``tau > threshold``, after

    .. math::

        \text{lag} = \frac{L}{1 + \kappa (\tau - \text{threshold})}

    days, ``L`` the firm's ``reaction_lag_days`` and ``kappa = lag_sensitivity`` (0: a fixed
    lag); a smaller threat is ignored.  So a rival far below the firm's price is answered
    quickly, one just past the threshold after ``L`` days.

    *How deep.*  At a review or reaction the firm prices against the most threatening active
    rival ``k*``, if its threat exceeds the threshold:

    .. math::

        p = \min\big(p_i, \max(\text{floor} \cdot c,\;
            \text{match} \cdot p_{k^*} e^{w (q_i - q_{k^*})})\big),

    ``p_k e^{w(q_i - q_k)}`` being the price at which ``k`` would pose no threat (``tau = 0``)
    and ``match`` the multiple of it the firm posts (below 1: it undercuts the threat, 1: it
    matches it).  Otherwise, and with no rival, it holds its price: the rule never raises one.
    """

    @dataclasses.dataclass
    class Params:
        threshold: float = param(1.0, 0.0, 50.0, unit="log points",
                                 doc="smallest threat answered (quality-adjusted log undercut)")
        lag_sensitivity: float = param(0.0, 0.0, 1e3, unit="1/log point",
                                       doc="how much faster a bigger threat is answered")
        match: float = param(1.0, 0.0, 1e3,
                             doc="new price as a multiple of the threat's no-threat price")
        floor: float = param(0.0, 0.0, 1e4, doc="lowest price as a multiple of marginal cost")
        quality_weight: float = param(math.log(10.0) / 400.0, 0.0, 1.0, unit="1/point",
                                      doc="log price ratio a quality point is worth")

    def threats(self, market: MarketView) -> np.ndarray:
        """``tau_ik`` of every firm ``k`` in ``market`` against the deciding firm ``i``
        (``-inf`` for ``i`` itself)."""
        i, p = market.me, market.prices
        with np.errstate(divide="ignore", invalid="ignore"):
            tau = (np.log(p[i]) - np.log(p)
                   + self.params.quality_weight * (market.qualities - market.qualities[i]))
        if p[i] <= 0:  # a free firm cannot be undercut
            tau[:] = -np.inf
        tau[np.isnan(tau)] = -np.inf
        tau[i] = -np.inf
        return tau

    def reaction_lag(self, market, me, ctx, mover, lag):
        tau = float(self.threats(market)[mover])
        excess = tau - self.params.threshold
        if not excess > 0:
            return math.inf
        kappa = self.params.lag_sensitivity
        return lag / (1.0 + kappa * excess) if kappa > 0 else lag

    def price(self, market, me, ctx):
        tau = self.threats(market)
        k = int(np.argmax(tau))
        if market.n < 2 or not tau[k] > self.params.threshold:
            return me.price
        p = self.params
        no_threat = float(market.prices[k]) * math.exp(
            p.quality_weight * (float(market.qualities[market.me]) - float(market.qualities[k])))
        return min(me.price, max(p.floor * me.marginal_cost, p.match * no_threat))


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


@register("pricing", "predate")
class Predate(PricingRule):
    r"""Predation: price below cost to push a rival out while the owners' money lasts, then
    recoup.

    The prey is ``target`` (a firm name) or, when null, the nearest rival: the active rival
    whose quality is closest to the firm's own.  While the prey is in the market and the firm's
    owners still back its losses (a parent's subsidy: ``backing_usd_per_day > 0`` and
    ``backing_left_usd > 0`` in its :class:`~sim.views.FirmView`), the price is

    .. math::

        p = \max(\text{floor} \cdot c, \; \min(\text{depth} \cdot c_\text{prey},
            (1 - \text{step}) p_\text{prey}))

    (``c`` the firm's own marginal cost, ``c_prey`` the prey's, known as the rules' complete
    information assumes): at or below the prey's cost, so the prey cannot match it profitably,
    and below the firm's own cost when the prey is the more efficient.  Once the prey is gone,
    or the money is, the firm re-optimises: it prices at its best response to the market as it
    is (capacity-aware), which after an exit is the recoupment.
    """

    @dataclasses.dataclass
    class Params:
        target: str | None = param(None, doc="the prey (a firm name; null: the nearest rival)")
        depth: float = param(1.0, 0.0, 1e4, doc="price as a multiple of the prey's marginal cost")
        step: float = param(0.1, 0.0, 1.0, doc="at least this fraction below the prey's price")
        floor: float = param(0.0, 0.0, 1e4, doc="lowest price as a multiple of own marginal cost")

    @classmethod
    def check(cls, key, params, cfg):
        if params.target is not None and params.target not in cfg.firms:
            raise ConfigError(f"{key}.target", params.target,
                              f"null or a firm: {', '.join(cfg.firms)}", "unknown firm")
        mine = key.split(".")[1] if key.startswith("firms.") else None
        if params.target is not None and params.target == mine:
            raise ConfigError(f"{key}.target", params.target, "a rival, not the firm itself",
                              "preys on itself")

    def prey(self, market: MarketView) -> int | None:
        """Index of the prey in ``market`` (None: not in the market)."""
        if self.params.target is not None:
            return market.names.index(self.params.target) \
                if self.params.target in market.names else None
        rivals = [k for k in range(market.n) if k != market.me]
        if not rivals:
            return None
        gap = np.abs(market.qualities[rivals] - market.qualities[market.me])
        return rivals[int(np.lexsort((market.prices[rivals], gap))[0])]

    def price(self, market, me, ctx):
        k = self.prey(market)
        if k is None or me.backing_usd_per_day <= 0 or me.backing_left_usd <= 0:
            return _best_response(market)
        p = self.params
        return max(p.floor * me.marginal_cost,
                   min(p.depth * float(market.costs[k]), (1.0 - p.step) * float(market.prices[k])))
