"""Firm: a Mesa agent that owns state (cash, GPUs, price, quality, books) and SimPy processes.

Firms hold no pricing, research or capacity logic of their own: at each decision event they ask
their rule objects (:mod:`sim.strategies`).  The processes read like the story they tell:

* price reviews every ``review_days`` (or at a scripted rule's dates);
* reactive reviews ``reaction_lag_days`` after a watched rival moves (a price change, an entry
  or a model release): the first move fires the firm's alarm event, and one review at the end
  of the lag answers it and every move that came during the lag;
* training runs that hold GPUs out of the serving pool, then release a model;
* GPU orders that arrive ``gpu_lead_days`` after they are paid for.

Money (USD), booked as it happens and recorded once a day after the market clears:
``cash(t) = cash(t-1) + revenue - serving_cost - training_cost - fixed_cost - capex + funding +
subsidy``.  Depreciation is a non-cash charge against operating profit.
"""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING

import mesa
import numpy as np
import simpy

from sim.strategies import make

if TYPE_CHECKING:
    from sim.config import FirmConfig
    from sim.model import PriceWarModel

#: Price changes smaller than this relative amount are not made (nor announced to rivals).
PRICE_TICK = 1e-6


@dataclasses.dataclass(slots=True)
class Flows:
    """Money booked since the last daily record, USD."""

    revenue_usd: float = 0.0
    serving_cost_usd: float = 0.0
    training_cost_usd: float = 0.0
    fixed_cost_usd: float = 0.0
    capex_usd: float = 0.0
    depreciation_usd: float = 0.0
    funding_usd: float = 0.0
    subsidy_usd: float = 0.0

    @property
    def operating_profit_usd(self) -> float:
        """Revenue less serving, training, fixed costs and depreciation."""
        return (self.revenue_usd - self.serving_cost_usd - self.training_cost_usd
                - self.fixed_cost_usd - self.depreciation_usd)

    @property
    def free_cash_flow_usd(self) -> float:
        """Cash generated before financing: revenue - cash costs - capex + subsidy."""
        return (self.revenue_usd - self.serving_cost_usd - self.training_cost_usd
                - self.fixed_cost_usd - self.capex_usd + self.subsidy_usd)


@dataclasses.dataclass(slots=True)
class Outcome:
    """The firm's result in the latest market clearing (million tokens a day, shares 0-1)."""

    demand_m_tokens: float = 0.0
    served_m_tokens: float = 0.0
    rationed_m_tokens: float = 0.0
    capacity_m_tokens: float = 0.0
    choice_share: float = 0.0
    token_share: float = 0.0
    firm_share: float = 0.0


class Firm(mesa.Agent):
    """Base firm.  Subclasses set ``kind`` and may override :meth:`_after_settle` and
    :meth:`after_day` for their financing."""

    kind = "firm"

    def __init__(self, model: PriceWarModel, name: str, cfg: FirmConfig):
        super().__init__(model)
        self.name = name
        self.label = cfg.label or name
        self.cfg = cfg
        self.env: simpy.Environment = model.env
        self.generator: np.random.Generator = model.seeds.generator(f"firm:{name}")
        self.alive = True
        self.price = float(cfg.price_usd_per_m)
        self.quality = float(cfg.quality)
        self.cash = float(cfg.cash_usd)
        # GPUs free of training: the serving pool.  Training runs take from it and give back.
        self.pool = simpy.Container(self.env, init=float(cfg.gpus))
        self.gpus_training = 0.0
        self.gpus_on_order = 0.0
        self.run_compute = 0.0  # effective GPU-hours accumulated by the current training run
        self.pricing = make("pricing", cfg.pricing)
        self.research = make("research", cfg.research)
        self.capacity = make("capacity", cfg.capacity)
        self.flows = Flows()
        self.outcome = Outcome()
        # Fired by the first watched rival move; later moves are counted until the review.
        self.alarm = self.env.event() if cfg.reaction_lag_days is not None else None
        self.moves_during_lag = 0
        self._history: dict[str, list[float]] = {
            "demand_m_tokens": [], "revenue_usd": [], "free_cash_flow_usd": []
        }
        self._daily_depreciation = 1.0 - (1.0 - cfg.gpu_depreciation_per_year) ** (1.0 / 365.0)
        for process in (self._price_reviews(), self._reactions(), self._research_runs(),
                        self._capacity_orders()):
            self.env.process(process)

    # ----------------------------------------------------------------- derived state
    @property
    def tokens_per_gpu_hour(self) -> float:
        """Million tokens one serving GPU produces in an hour."""
        return self.model.cfg.technology.tokens_per_gpu_hour_m * self.cfg.inference_efficiency

    @property
    def marginal_cost(self) -> float:
        """USD per million tokens: ``cost_per_gpu_hour / tokens_per_gpu_hour``."""
        return self.cfg.cost_per_gpu_hour_usd / self.tokens_per_gpu_hour

    @property
    def last_choice_share(self) -> float:
        """The firm's first-round choice share in the latest clearing (0 before its first)."""
        return self.outcome.choice_share

    @property
    def gpus_serving(self) -> float:
        return self.pool.level

    @property
    def gpus(self) -> float:
        """GPUs owned and delivered: serving plus training."""
        return self.pool.level + self.gpus_training

    @property
    def capacity_m_tokens(self) -> float:
        """Million tokens a day the serving pool can produce."""
        return self.pool.level * self.tokens_per_gpu_hour * 24.0

    def history(self, key: str) -> np.ndarray:
        """Daily history of ``demand_m_tokens``, ``revenue_usd`` or ``free_cash_flow_usd``."""
        return np.asarray(self._history[key])

    def trailing(self, key: str, days: int) -> float:
        """Sum of a history over the last ``days`` days."""
        return float(sum(self._history[key][-days:])) if days > 0 else 0.0

    # ----------------------------------------------------------------- decisions
    def review_price(self, reason: str) -> None:
        """Ask the pricing rule for a new price and post it."""
        self.set_price(self.pricing.price(self, self.model.view(self)), reason)

    def set_price(self, new: float, reason: str) -> None:
        """Post a price (>= 0); log it and let rivals see it if it moved by more than a tick."""
        new = max(float(new), 0.0)
        old = self.price
        if abs(new - old) <= PRICE_TICK * max(old, 1e-9):
            return
        self.price = new
        change = (new / old - 1.0) if old > 0 else math.inf
        self.model.log(self, "price_change", f"{old:.6g} -> {new:.6g} ({change:+.1%}, {reason})",
                       new)
        self.model.announce(self, "price_change")

    def order_gpus(self, n: float) -> None:
        """Pay for ``n`` GPUs now; they join the serving pool after the lead time."""
        cost = n * self.cfg.gpu_price_usd
        self.cash -= cost
        self.flows.capex_usd += cost
        self.gpus_on_order += n
        self.model.log(self, "gpu_order", f"{n:.0f} GPUs for {cost:,.0f} USD", n)
        self.env.process(self._delivery(n))

    # ----------------------------------------------------------------- processes
    def _price_reviews(self):
        first = self.pricing.next_review(self) if self.pricing.name == "scripted" else None
        yield self.env.timeout(self.cfg.first_review_day if first is None else 0.0)
        while self.alive:
            self.review_price("review")
            wait = self.pricing.next_review(self)
            wait = self.cfg.review_days if wait is None else wait
            if not math.isfinite(wait):
                return
            yield self.env.timeout(wait)

    def _reactions(self):
        if self.alarm is None:
            return
        while self.alive:
            mover, kind = yield self.alarm
            yield self.env.timeout(self.cfg.reaction_lag_days)
            if not self.alive:
                return
            # One review answers this move and every move that arrived during the lag.
            later, self.moves_during_lag = self.moves_during_lag, 0
            self.alarm = self.env.event()
            more = f" and {later} later move{'s' * (later > 1)}" if later else ""
            self.review_price(f"reaction to {mover.name}'s {kind}{more}")

    def notify(self, mover: Firm, kind: str) -> None:
        """A watched rival moved: fire the alarm, or count the move if it already rang."""
        if self.alarm.triggered:
            self.moves_during_lag += 1
        else:
            self.alarm.succeed((mover, kind))

    def watches(self, other: Firm) -> bool:
        """Whether this firm reacts to ``other``'s moves (``reacts_to``: all, kinds or names)."""
        if other is self or self.alarm is None:
            return False
        watched = self.cfg.reacts_to
        return "all" in watched or other.name in watched or other.kind in watched

    def _research_runs(self):
        rule = self.research
        while self.alive:
            plan = rule.plan(self)
            if plan is None:
                if not math.isfinite(rule.gap_days):
                    return
                yield self.env.timeout(max(rule.gap_days, 1.0))
                continue
            gpus, days = plan
            yield self.pool.get(gpus)
            self.gpus_training, self.run_compute = gpus, 0.0
            self.model.log(self, "training_start", f"{gpus:.0f} GPUs for {days:g} days", gpus)
            yield self.env.timeout(days)
            if not self.alive:
                return
            quality = self.model.trained_quality(self.run_compute)
            self.pool.put(self.gpus_training)
            self.gpus_training = 0.0
            if quality > self.quality:
                self.model.log(self, "release", f"quality {self.quality:.1f} -> {quality:.1f}",
                               quality)
                self.quality = quality
                self.model.announce(self, "release")
            else:
                self.model.log(self, "training_end",
                               f"quality {quality:.1f} not above {self.quality:.1f}", quality)
            if rule.gap_days > 0:
                yield self.env.timeout(rule.gap_days)

    def _capacity_orders(self):
        rule = self.capacity
        if not math.isfinite(rule.review_days):
            return
        while True:
            yield self.env.timeout(rule.review_days)
            if not self.alive:
                return
            n = rule.order(self)
            if n > 0:
                self.order_gpus(n)

    def _delivery(self, n: float):
        yield self.env.timeout(self.cfg.gpu_lead_days)
        if self.alive:
            self.gpus_on_order -= n
            self.pool.put(n)
            self.model.log(self, "gpu_delivery", f"{n:.0f} GPUs", n)

    # ----------------------------------------------------------------- daily books
    def settle(self, outcome: Outcome, revenue: float) -> None:
        """Book one day of the market: revenue, serving, training and fixed costs.

        Serving cost is ``served / tokens_per_gpu_hour * cost_per_gpu_hour``; training cost is
        ``gpus_training * 24 * cost_per_gpu_hour``.
        """
        self.outcome = outcome
        c = self.cfg.cost_per_gpu_hour_usd
        f = self.flows
        serving = outcome.served_m_tokens / self.tokens_per_gpu_hour * c
        training = self.gpus_training * 24.0 * c
        fixed = self.cfg.fixed_cost_usd_per_day
        f.revenue_usd += revenue
        f.serving_cost_usd += serving
        f.training_cost_usd += training
        f.fixed_cost_usd += fixed
        self.run_compute += (self.gpus_training * 24.0 * self.cfg.training_efficiency
                             * self.model.algorithmic_progress())
        operating_cash = revenue - serving - training - fixed
        self.cash += operating_cash
        self._after_settle(operating_cash)

    def depreciate(self) -> None:
        """Retire a daily fraction ``1 - (1 - d)^(1/365)`` of serving and training GPUs, charged
        to depreciation at ``gpu_price_usd`` each.  Runs just before the day's market clears."""
        rate = self._daily_depreciation
        if rate <= 0:
            return
        lost_serving = self.pool.level * rate
        taken = self.pool.get(lost_serving)
        assert taken.triggered, "the serving pool never has a waiting request"
        lost_training = self.gpus_training * rate
        self.gpus_training -= lost_training
        self.flows.depreciation_usd += (lost_serving + lost_training) * self.cfg.gpu_price_usd

    def _after_settle(self, operating_cash: float) -> None:
        """Hook after the day's operating cash is booked (a giant's subsidy)."""

    def record_day(self) -> None:
        """Called after the daily data collection: keep history, reset the day's flows."""
        h = self._history
        h["demand_m_tokens"].append(self.outcome.demand_m_tokens)
        h["revenue_usd"].append(self.flows.revenue_usd)
        h["free_cash_flow_usd"].append(self.flows.free_cash_flow_usd)
        self.flows = Flows()

    def after_day(self) -> None:
        """Financing decisions after the day is recorded (funding rounds, exit)."""

    def exit(self, reason: str) -> None:
        """Leave the market: stop all processes and deregister from the Mesa model."""
        self.alive = False
        self.model.log(self, "exit", reason, self.cash)
        self.model.on_exit(self)
        self.remove()
