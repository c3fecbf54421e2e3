"""The parts firms are built from.

Each component owns one part of a firm's state and the SimPy processes that change it, and
declares the config fields it adds to its kind's section (``Config``, with :func:`param`
metadata: range, unit, doc).  Processes read like their story (SimPy's examples):

* :class:`GpuFleet`: ``while True: wait review_days; order what the capacity rule asks``; each
  order is delivered after ``gpu_lead_days``;
* :class:`TokenSeller`: price reviews every ``review_days``, and a reaction ``reaction_lag_days``
  after a watched rival moves (the first move fires the firm's alarm event, and one review at the
  end of the lag answers it and every move that came during the lag); a pricing rule may set the
  lag of each move, or ignore it (:meth:`~sim.strategies.pricing.PricingRule.reaction_lag`), and
  a move due sooner than the pending reaction brings it forward;
* :class:`Trainer`: training runs that hold GPUs out of the serving pool, then release a model;
* :class:`VentureFunding`: a round opens when runway is short and closes after ``round_days``.

Money binds wherever it is spent: a GPU order and a training run are cut to the firm's free funds
(:meth:`Ledger.funds`: cash plus what its owners have committed over the reserve horizon, less
the operating burn over that horizon and the rest of the run under way), and a firm whose cash is
negative and whose free funds are negative exits.

A firm that exits has all its processes interrupted (:meth:`sim.firms.base.Firm.exit`).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import simpy

from sim.core.errors import ConfigError
from sim.core.params import MAX_HORIZON_DAYS, param
from sim.firms.base import KINDS, Component
from sim.strategies.pricing import PricingRule
from sim.strategies.research import RivalRelease, TrainingRun

__all__ = ["Flows", "Outcome", "Funds", "Ledger", "GpuFleet", "TokenSeller", "Trainer",
           "FundingConfig", "VentureFunding", "ParentSubsidy", "PRICE_TICK", "BURN_WINDOW_DAYS",
           "daily_retirement"]

#: Price changes smaller than this relative amount are not made (nor announced to rivals).
PRICE_TICK = 1e-6

#: Days over which a firm's operating burn (:meth:`Ledger.burn_usd_per_day`) is averaged.
BURN_WINDOW_DAYS = 30


def daily_retirement(per_year: float) -> float:
    """The share of GPUs retired a day when ``per_year`` of them are retired a year:
    ``1 - (1 - per_year)^(1/365)``."""
    return 1.0 - (1.0 - per_year) ** (1.0 / 365.0)


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
    # The compute market (sim/firms/renting.py): GPU-hours rented in, and rented out.
    compute_rent_usd: float = 0.0
    compute_sales_usd: float = 0.0

    @property
    def compute_net_usd(self) -> float:
        """Sales of GPU-hours less their rent (0 for a firm outside the compute market)."""
        return self.compute_sales_usd - self.compute_rent_usd

    @property
    def operating_profit_usd(self) -> float:
        """Revenue and sales of GPU-hours less serving, training, fixed costs, depreciation and
        compute rent."""
        return self.operating_cash_usd - self.depreciation_usd

    @property
    def operating_cash_usd(self) -> float:
        """Revenue and sales of GPU-hours less the cash costs of operating: serving, training,
        fixed, compute rent."""
        return (self.revenue_usd - self.serving_cost_usd - self.training_cost_usd
                - self.fixed_cost_usd + self.compute_net_usd)

    @property
    def free_cash_flow_usd(self) -> float:
        """Cash generated before financing: revenue - cash costs - capex + subsidy."""
        return self.operating_cash_usd - self.capex_usd + self.subsidy_usd


@dataclasses.dataclass(slots=True)
class Outcome:
    """The firm's result in the latest market clearing (million tokens a day, shares 0-1,
    revenue in USD)."""

    demand_m_tokens: float = 0.0
    served_m_tokens: float = 0.0
    rationed_m_tokens: float = 0.0
    capacity_m_tokens: float = 0.0
    choice_share: float = 0.0
    token_share: float = 0.0
    firm_share: float = 0.0
    revenue_usd: float = 0.0


@dataclasses.dataclass(frozen=True, slots=True)
class Funds:
    """What a firm can commit now, USD (:meth:`Ledger.funds`).

    ``free = cash + backing - reserve - committed``: its cash, plus what its owners will still pay
    in over the reserve horizon ``H`` (``backing = min(left, per_day * H)``), less ``H`` days of
    operating burn (``reserve``) and the cost of the rest of the training run under way
    (``committed``).
    """

    cash: float = 0.0
    backing: float = 0.0
    reserve: float = 0.0
    committed: float = 0.0

    @property
    def free(self) -> float:
        return self.cash + self.backing - self.reserve - self.committed


# ----------------------------------------------------------------------------- ledger
class Series:
    """A daily series kept in a growing numpy buffer; :meth:`view` is a read-only window on it
    (no copy)."""

    __slots__ = ("_buf", "_n")

    def __init__(self):
        self._buf = np.empty(64)
        self._n = 0

    def append(self, x: float) -> None:
        if self._n == self._buf.size:
            self._buf = np.concatenate([self._buf, np.empty(self._buf.size)])
        self._buf[self._n] = x
        self._n += 1

    def view(self) -> np.ndarray:
        v = self._buf[: self._n]
        v.flags.writeable = False
        return v

    def __len__(self) -> int:
        return self._n


class Ledger(Component):
    """Cash, the day's money flows and their daily history.

    ``cash`` changes as money is booked; ``flows`` collects the day's amounts until the day is
    recorded; ``history`` keeps ``demand_m_tokens``, ``revenue_usd`` and ``free_cash_flow_usd``
    per day.  Fixed costs are booked daily.

    What the firm may spend is its *free funds* (:meth:`funds`), over the reserve horizon
    ``H = runway_reserve_days``:

        F = cash + min(left, per_day * H) - H * b - C,

    with ``(per_day, left)`` its owners' backing (the financing component's ``backing()``: a
    parent's daily cap and remaining budget; 0 for a lab, whose next round is uncertain), ``b``
    the operating burn (:meth:`burn_usd_per_day`) and ``C`` the cost of the rest of the training
    run under way.  A GPU order and a training run are cut to ``F``; a firm with ``cash < 0`` and
    ``F < 0`` cannot pay and is *exhausted* (:meth:`exhausted`): it exits.
    """

    role = "ledger"

    @dataclasses.dataclass
    class Config:
        cash_usd: float = param(1.0e9, 0, 1e15, unit="USD", doc="cash at entry")
        fixed_cost_usd_per_day: float = param(0.0, 0, 1e12, unit="USD/day",
                                              doc="staff and overhead")
        runway_reserve_days: float = param(90.0, 0, 3650, unit="days",
                                           doc="horizon of spending: the owners' backing over "
                                               "it counts, its burn (at least the fixed cost) "
                                               "is kept back")
        jurisdiction: str = param("us", doc="where the firm is (export controls bar renting "
                                            "across borders): a short code such as us, cn, eu")

    @classmethod
    def check(cls, key, section, cfg):
        where = section.jurisdiction
        if not where or not where.replace("_", "").replace("-", "").isalnum():
            raise ConfigError(f"{key}.jurisdiction", where, "a non-empty code of letters, digits, "
                              "_ and -", "bad jurisdiction")

    def __init__(self, firm, cfg):
        super().__init__(firm, cfg)
        self.cash = float(cfg.cash_usd)
        self.flows = Flows()
        self._history = {k: Series() for k in
                         ("demand_m_tokens", "revenue_usd", "free_cash_flow_usd")}
        self._running = Series()  # revenue - serving - fixed a day: the burn's basis

    def book(self, what: str, amount: float) -> None:
        """Book ``amount`` USD to flow ``what`` (costs and capex are paid, the rest received)."""
        setattr(self.flows, what, getattr(self.flows, what) + amount)
        if what in ("serving_cost_usd", "training_cost_usd", "fixed_cost_usd", "capex_usd",
                    "compute_rent_usd"):
            self.cash -= amount
        elif what != "depreciation_usd":  # depreciation is not cash
            self.cash += amount

    def book_day(self, outcome) -> None:
        self.book("fixed_cost_usd", self.cfg.fixed_cost_usd_per_day)

    def record_day(self) -> None:
        h = self._history
        seller = self.firm.seller
        h["demand_m_tokens"].append(seller.outcome.demand_m_tokens if seller else 0.0)
        h["revenue_usd"].append(self.flows.revenue_usd)
        h["free_cash_flow_usd"].append(self.flows.free_cash_flow_usd)
        f = self.flows
        running = f.revenue_usd - f.serving_cost_usd - f.fixed_cost_usd
        if f.compute_rent_usd or f.compute_sales_usd:
            running += f.compute_net_usd
        self._running.append(running)
        self.flows = Flows()

    def history(self, key: str) -> np.ndarray:
        """Daily history of ``demand_m_tokens``, ``revenue_usd`` or ``free_cash_flow_usd``
        (read-only, oldest first)."""
        return self._history[key].view()

    def history_view(self) -> dict[str, np.ndarray]:
        return {k: v.view() for k, v in self._history.items()}

    def trailing(self, key: str, days: int) -> float:
        """Sum of a history over the last ``days`` days."""
        return float(self._history[key].view()[-days:].sum()) if days > 0 else 0.0

    def burn_usd_per_day(self) -> float:
        """Burn kept in reserve, USD a day: ``b = max(f, -mean(revenue - serving - fixed))``
        (compute rent and sales counted with revenue and serving)
        over the last :data:`BURN_WINDOW_DAYS` recorded days, ``f`` the fixed cost a day.  So the
        reserve holds the fixed costs, which are due whatever revenue does, or the operating
        loss (research aside) when that is larger."""
        fixed = self.cfg.fixed_cost_usd_per_day
        days = self._running.view()[-BURN_WINDOW_DAYS:]
        return max(fixed, -float(days.mean())) if days.size else fixed

    def funds(self) -> Funds:
        """The firm's funds now (see the class docstring and :class:`Funds`)."""
        horizon = self.cfg.runway_reserve_days
        financing = self.firm.financing
        per_day, left = financing.backing() if financing is not None else (0.0, 0.0)
        owners = min(left, per_day * horizon) if per_day > 0 and horizon > 0 else 0.0
        trainer = self.firm.trainer
        return Funds(cash=self.cash, backing=owners, reserve=horizon * self.burn_usd_per_day(),
                     committed=trainer.committed_usd() if trainer is not None else 0.0)

    def exhausted(self) -> bool:
        """Cash is negative and neither it nor the owners' backing covers the hole and the
        reserve (``cash < 0`` and free funds ``< 0``): the firm cannot pay."""
        return self.cash < 0 and self.funds().free < 0

    def affordable(self, wanted: float, unit_cost: float, what: str) -> float:
        """How much of ``wanted`` units at ``unit_cost`` USD each the free funds pay for: all of
        it if they do (or it costs nothing), else ``max(F, 0) / unit_cost`` (0 if that is below
        one unit), logged as ``unfunded``."""
        if wanted <= 0 or unit_cost <= 0:
            return max(wanted, 0.0)
        free = self.funds().free
        if wanted * unit_cost <= free:
            return wanted
        can = max(free, 0.0) / unit_cost
        can = can if can >= 1.0 else 0.0
        self.firm.model.log(self.firm, "unfunded",
                            f"{what}: {wanted:.4g} wanted, {can:.4g} funded (free funds "
                            f"{free:,.0f} USD)", free)
        return can


# ----------------------------------------------------------------------------- GPUs
@dataclasses.dataclass(frozen=True, slots=True)
class Stock:
    """GPUs serving, training and on order at one moment."""

    serving: float = 0.0
    training: float = 0.0
    on_order: float = 0.0
    lent: float = 0.0  # rented out to the compute market this period

    @property
    def owned(self) -> float:
        if self.lent:
            return self.serving + self.training + self.lent
        return self.serving + self.training


class GpuFleet(Component):
    """H100-equivalent GPUs: a serving pool (a SimPy ``Container``), GPUs held by training runs,
    and orders on their way.

    Orders are paid at the price of a new GPU that day (``gpu_price_usd`` on day 0, falling by
    ``compute.gpu_price_halving_years``: :meth:`price_of_new_gpu`) and join the serving pool
    ``gpu_lead_days`` later; the capacity rule's order is cut to what the firm's free funds pay
    for (:meth:`Ledger.affordable`), and then to what the world's supply and an export control
    allow (``GpuSupply.grant``, :mod:`sim.world.compute`).
    Each day a fraction ``1 - (1 - d)^(1/365)`` of serving, training and lent GPUs is retired
    and charged to depreciation at ``gpu_price_usd`` each; when new GPUs' price falls, at each
    unit's purchase price instead (GPUs retire in proportion, so the charge is the fraction times
    the fleet's book cost at purchase prices).  Operating a GPU costs ``cost_per_gpu_hour_usd``
    an hour while it serves, trains or is rented out.  GPUs rented out to the compute market
    (``lent``, :meth:`lend`) leave the serving pool until the next clearing (:meth:`reclaim`);
    the lent GPUs that retire meanwhile are replaced from the serving pool.
    """

    role = "fleet"
    rule_kind = "capacity"

    @dataclasses.dataclass
    class Config:
        gpus: float = param(1000.0, 0, 1e9, unit="GPUs", doc="H100-equivalents at entry")
        cost_per_gpu_hour_usd: float = param(1.0, 0, 1e4, unit="USD/GPU-hour",
                                             doc="operating cost of an owned GPU-hour")
        gpu_price_usd: float = param(25_000.0, 0, 1e8, unit="USD/GPU",
                                     doc="price of a new GPU, server share included")
        gpu_lead_days: float = param(120.0, 0, 3650, unit="days", doc="order to delivery")
        gpu_depreciation_per_year: float = param(0.2, 0, 1, unit="1/year",
                                                 doc="share of GPUs retired a year")
        capacity: dict[str, Any] = param({"rule": "none"}, doc="capacity rule: GPU orders")

    def __init__(self, firm, cfg):
        super().__init__(firm, cfg)
        self.pool = simpy.Container(firm.env, init=float(cfg.gpus))
        self.training = 0.0
        self.on_order = 0.0
        self.lent = 0.0
        self.day_stock = Stock(self.pool.level)
        self._daily = daily_retirement(cfg.gpu_depreciation_per_year)
        # New GPUs' price path (sim/world/compute.py); flat unless it falls.
        self._supply = firm.model.gpu_supply
        self._book_usd = float(cfg.gpus) * self.price_of_new_gpu()  # owned, at purchase prices

    @property
    def serving(self) -> float:
        return self.pool.level

    def price_of_new_gpu(self) -> float:
        """USD for a new GPU today: ``gpu_price_usd * 2^(-now / (365 T))``."""
        if self._supply.flat:
            return self.cfg.gpu_price_usd
        return self._supply.price_of_new_gpu(self.firm.env.now, self.cfg.gpu_price_usd)

    def lend(self, n: float) -> float:
        """Rent ``n`` serving GPUs out until the next clearing (at most the serving pool): they
        leave the serving pool.  Returns the GPUs lent."""
        n = min(float(n), self.pool.level)
        if not n > 0:
            return 0.0
        taken = self.pool.get(n)
        assert taken.triggered, "the serving pool never has a waiting request"
        self.lent += n
        return n

    def reclaim(self) -> None:
        """The GPUs rented out come back to the serving pool."""
        if self.lent > 0:
            self.pool.put(self.lent)
        self.lent = 0.0

    def book_day(self, outcome) -> None:
        """Keep the fleet the day's market ran on (the GPU columns of the firms table)."""
        self.day_stock = Stock(self.pool.level, self.training, self.on_order, self.lent)

    def start(self) -> None:
        if math.isfinite(self.rule.review_days):
            self.firm.process(self._orders())

    def _orders(self):
        firm = self.firm
        while True:
            yield firm.env.timeout(self.rule.review_days)
            n = self.rule.order(firm.view(), firm.context("capacity"))
            n = firm.ledger.affordable(n, self.price_of_new_gpu(), "GPU order")
            if n > 0:
                self.order(n)

    def order(self, n: float) -> float:
        """Pay for ``n`` GPUs now (as many as the world's supply and an export control allow);
        they join the serving pool after the lead time.  Returns the GPUs ordered."""
        n = self._supply.grant(self.firm, n)
        if not n > 0:
            return 0.0
        unit = self.price_of_new_gpu()
        cost = n * unit
        self.firm.ledger.book("capex_usd", cost)
        self.on_order += n
        self.firm.model.log(self.firm, "gpu_order", f"{n:.0f} GPUs for {cost:,.0f} USD", n)
        self.firm.process(self._delivery(n, unit))
        return n

    def _delivery(self, n: float, unit: float):
        yield self.firm.env.timeout(self.cfg.gpu_lead_days)
        self.on_order -= n
        self.pool.put(n)
        self._book_usd += n * unit
        self.firm.model.log(self.firm, "gpu_delivery", f"{n:.0f} GPUs", n)

    def depreciate(self) -> None:
        rate = self._daily
        if rate <= 0:
            return
        lost_serving = self.pool.level * rate
        if self.lent:  # lent GPUs that retire are replaced from the serving pool
            lost_serving = min(lost_serving + self.lent * rate, self.pool.level)
        if lost_serving > 0:
            taken = self.pool.get(lost_serving)
            assert taken.triggered, "the serving pool never has a waiting request"
        lost_training = self.training * rate
        self.training -= lost_training
        if self._supply.flat:
            charge = (lost_serving + lost_training) * self.cfg.gpu_price_usd
        else:  # at purchase prices: the retired share of the fleet's book cost
            charge = self._book_usd * rate
        self._book_usd -= self._book_usd * rate
        self.firm.ledger.book("depreciation_usd", charge)


# ----------------------------------------------------------------------------- tokens
class TokenSeller(Component):
    """Sells tokens in the daily market: a posted price, a model quality, and its price reviews.

    Capacity is ``(serving + rented GPUs) * tokens_per_gpu_hour * 24`` million tokens a day, with
    ``tokens_per_gpu_hour = technology.tokens_per_gpu_hour_m * inference_efficiency`` and the
    rented GPUs the :class:`~sim.firms.renting.Renter`'s (market and contracts; none without
    one); the marginal cost is ``cost_per_gpu_hour / tokens_per_gpu_hour`` USD per million
    tokens.  Tokens are served on rented GPUs first (their rent is paid anyway), and only the
    owned GPU-hours used cost ``cost_per_gpu_hour``.
    """

    role = "seller"
    rule_kind = "pricing"

    @dataclasses.dataclass
    class Config:
        price_usd_per_m: float = param(1.0, 0, 1e6, unit="USD/M tokens", doc="price at entry")
        quality: float = param(1200.0, -1e5, 1e5, unit="points", doc="model quality at entry")
        inference_efficiency: float = param(1.0, 0, 1e4, lo_open=True, unit="x baseline",
                                            doc="tokens per GPU-hour against the baseline")
        review_days: float = param(30.0, 0.25, MAX_HORIZON_DAYS, unit="days",
                                   doc="days between price reviews")
        first_review_day: float = param(1.0, 0, MAX_HORIZON_DAYS, unit="days",
                                        doc="day of the first review after entry")
        reaction_lag_days: float | None = param(None, 0.25, 3650, unit="days",
                                                doc="lag of a reaction to a watched rival's "
                                                    "move (null: no reactions)")
        reacts_to: list[str] = param(["all"], doc="whom it watches: all, kinds or firm names")
        pricing: dict[str, Any] = param({"rule": "cost_plus"}, doc="pricing rule")

    @classmethod
    def check(cls, key, section, cfg):
        targets = set(cfg.firms) | set(KINDS.names()) | {"all"}
        for i, who in enumerate(section.reacts_to):
            if who not in targets:
                raise ConfigError(f"{key}.reacts_to[{i}]", who,
                                  "all, a firm kind or a firm name", "unknown firm")
        super().check(key, section, cfg)

    def __init__(self, firm, cfg):
        super().__init__(firm, cfg)
        self.price = float(cfg.price_usd_per_m)
        self.quality = float(cfg.quality)
        self.outcome = Outcome()
        self.tokens_per_gpu_hour = (firm.model.cfg.technology.tokens_per_gpu_hour_m
                                    * cfg.inference_efficiency)
        # Fired by the first watched rival move; later moves are counted until the review.
        self.alarm: simpy.Event | None = None
        self.moves_during_lag = 0
        # The pending reaction: due ``lag`` days after ``since``; ``sooner`` brings it forward.
        self.since, self.lag = 0.0, math.inf
        self.sooner: simpy.Event | None = None

    @property
    def marginal_cost(self) -> float:
        """USD per million tokens: ``cost_per_gpu_hour / tokens_per_gpu_hour``."""
        return self.firm.fleet.cfg.cost_per_gpu_hour_usd / self.tokens_per_gpu_hour

    @property
    def rented_gpus(self) -> float:
        """GPUs rented in today (market and contracts; 0 without a renter)."""
        renter = self.firm.renter
        return renter.gpus if renter is not None else 0.0

    @property
    def capacity_m_tokens(self) -> float:
        """Million tokens a day the serving pool and the rented GPUs can produce."""
        return (self.firm.fleet.serving + self.rented_gpus) * self.tokens_per_gpu_hour * 24.0

    def start(self) -> None:
        firm = self.firm
        if self.cfg.reaction_lag_days is not None:
            self.alarm = firm.env.event()
            firm.process(self._reactions())
        firm.process(self._reviews())

    def decide_price(self) -> float:
        """The pricing rule's price now (not posted)."""
        firm = self.firm
        return float(self.rule.price(firm.model.view(firm), firm.view(),
                                     firm.context("pricing")))

    def review(self, reason: str) -> None:
        """Ask the pricing rule for a new price and post it."""
        self.set_price(self.decide_price(), reason)

    def set_price(self, new: float, reason: str) -> None:
        """Post a price (>= 0); log it and let rivals see it if it moved by more than a tick."""
        new = max(float(new), 0.0)
        old = self.price
        if abs(new - old) <= PRICE_TICK * max(old, 1e-9):
            return
        self.price = new
        change = (new / old - 1.0) if old > 0 else math.inf
        self.firm.model.log(self.firm, "price_change",
                            f"{old:.6g} -> {new:.6g} ({change:+.1%}, {reason})", new)
        self.firm.model.announce(self.firm, "price_change")

    def _next_wait(self) -> float:
        wait = self.rule.next_review(self.firm.view(), self.firm.context("pricing"))
        return self.cfg.review_days if wait is None else wait

    def _reviews(self):
        env = self.firm.env
        first = self._next_wait() if self.rule.name == "scripted" else None
        yield env.timeout(self.cfg.first_review_day if first is None else 0.0)
        while True:
            self.review("review")
            wait = self._next_wait()
            if not math.isfinite(wait):
                return
            yield env.timeout(wait)

    def _reactions(self):
        env = self.firm.env
        while True:
            mover, kind = yield self.alarm
            while True:  # until the reaction is due (a later, bigger threat may bring it forward)
                self.sooner = env.event()
                timer = env.timeout(self.lag - (env.now - self.since))
                if timer in (yield timer | self.sooner):
                    break
            # One review answers this move and every move that arrived during the lag.
            later, self.moves_during_lag = self.moves_during_lag, 0
            self.alarm, self.lag = env.event(), math.inf
            more = f" and {later} later move{'s' * (later > 1)}" if later else ""
            self.review(f"reaction to {mover.name}'s {kind}{more}")

    def watches(self, other) -> bool:
        """Whether this firm reacts to ``other``'s moves (``reacts_to``: all, kinds or names)."""
        if other is self.firm or self.alarm is None:
            return False
        watched = self.cfg.reacts_to
        return "all" in watched or other.name in watched or other.kind in watched

    def reaction_lag(self, mover) -> float:
        """Days until the firm answers ``mover``'s move just made: its pricing rule's
        ``reaction_lag`` (``reaction_lag_days`` unless the rule says otherwise; ``inf``: it
        does not answer this move)."""
        if type(self.rule).reaction_lag is PricingRule.reaction_lag:
            return float(self.cfg.reaction_lag_days)  # the same lag for every move
        firm = self.firm
        market = firm.model.view(firm)
        return float(self.rule.reaction_lag(market, firm.view(), firm.context("pricing"),
                                            market.names.index(mover.name),
                                            self.cfg.reaction_lag_days))

    def notify(self, mover, kind: str) -> None:
        """A watched rival moved: fire the alarm, or count the move if it already rang; a move
        whose answer is due sooner than the pending one brings the reaction forward.  A move
        the rule does not answer (an infinite lag) is neither."""
        lag = self.reaction_lag(mover)
        if not lag < math.inf:
            return
        now = self.firm.env.now
        if not self.alarm.triggered:
            self.since, self.lag = now, lag
            self.alarm.succeed((mover, kind))
            return
        self.moves_during_lag += 1
        if now + lag < self.since + self.lag:
            self.since, self.lag = now, lag
            if self.sooner is not None and not self.sooner.triggered:
                self.sooner.succeed()

    def book_day(self, outcome: Outcome) -> None:
        """Revenue, and serving cost ``served / tokens_per_gpu_hour * cost_per_gpu_hour`` (the
        owned GPU-hours used: those beyond the rented GPUs' ``24 * rented``)."""
        self.outcome = outcome
        ledger = self.firm.ledger
        ledger.book("revenue_usd", outcome.revenue_usd)
        hours = outcome.served_m_tokens / self.tokens_per_gpu_hour
        rented = self.rented_gpus
        if rented > 0:
            hours = max(hours - rented * 24.0, 0.0)
        ledger.book("serving_cost_usd", hours * self.firm.fleet.cfg.cost_per_gpu_hour_usd)


# ----------------------------------------------------------------------------- research
class Trainer(Component):
    """Training runs: each holds GPUs out of the serving pool for whole days, costs
    ``gpus * 24 * cost_per_gpu_hour`` a day and accrues effective compute
    ``C += gpus * 24 * training_efficiency * algorithmic progress``; at its end the model is
    released if its quality beats the current one.

    A run's model has quality ``Q(carry_over * C_served + C)`` (the technology's scaling law
    ``Q``), ``C_served`` being the effective compute of the model served: at entry the compute
    the law gives the configured quality, ``Q^-1(q_0)``; after a release the released model's
    ``carry_over * C_served + C``.  With ``carry_over = 0`` every run starts from scratch; with
    1 a run continues from the model served (post-training, a reasoning model on its base).

    With a research rule that answers rivals (``rule.lag_days`` set), every rival's ``release``
    is answered ``lag_days`` later by ``rule.answer``: the run under way is released early (its
    GPUs return to serving and no further day of it is booked), boosted with more GPUs and
    released once its progress reaches the answer's mark, or a run is started at once.

    A planned run of ``g`` GPUs for ``k`` days costs ``g * 24 * cost_per_gpu_hour * k``; it is cut
    to the GPUs the firm's free funds pay for (:meth:`Ledger.affordable`), and not started if
    they pay for less than one (the rule is asked again after ``max(gap_days, 1)`` days).  Until
    it ends, the cost of its remaining days is committed (:meth:`committed_usd`)."""

    role = "trainer"
    rule_kind = "research"

    @dataclasses.dataclass
    class Config:
        training_efficiency: float = param(1.0, 0, 1e4, lo_open=True, unit="x baseline",
                                           doc="effective compute per GPU-hour")
        carry_over: float = param(0.0, 0, 1, doc="share of the served model's effective "
                                                 "compute a new run builds on")
        research: dict[str, Any] = param({"rule": "none"}, doc="research rule: training runs")

    def __init__(self, firm, cfg):
        super().__init__(firm, cfg)
        self.run_compute = 0.0
        self.served_compute = 0.0  # set at start, from the quality served
        self._end_reason = ""
        #: The run under way: start time, planned days, planned compute; None between runs.
        self._run: tuple[float, float, float] | None = None
        self._due: float | None = None  # progress at which a boosted run is released
        self._end: simpy.Event | None = None  # fired to end the run under way now
        self._wake: simpy.Event | None = None  # fired to start a run now (between runs)
        self._next: tuple[float, float] | None = None  # the run an answer starts
        self.run_end = -math.inf
        self.pending_usd = 0.0  # a funded run waiting for its GPUs

    def committed_usd(self) -> float:
        """Cost of the rest of the run under way, USD:
        ``gpus_training * 24 * cost_per_gpu_hour * max(0, run_end - now)``, or the whole cost
        of a funded run still waiting for its GPUs."""
        fleet = self.firm.fleet
        left = max(0.0, self.run_end - self.firm.env.now)
        return self.pending_usd + fleet.training * 24.0 * fleet.cfg.cost_per_gpu_hour_usd * left

    def start(self) -> None:
        self.served_compute = self.firm.model.technology.compute_for(self.firm.seller.quality)
        self.firm.process(self._runs())

    @property
    def answers(self) -> bool:
        """Whether the rule answers rivals' releases (``lag_days`` set)."""
        return self.rule.lag_days is not None

    def quality_of(self, compute: float) -> float:
        """Quality of a model trained with ``compute`` effective GPU-hours on top of the served
        model: ``Q(carry_over * C_served + compute)``."""
        return self.firm.model.trained_quality(self.cfg.carry_over * self.served_compute
                                               + compute)

    def planned_compute(self, gpus: float, start: float, days: float) -> float:
        """``gpus * 24 * training_efficiency * sum_k A^(b_k/365)`` over the run's ``days``
        bookings ``b_k = b_0 + k`` (``b_0`` the first midday at or after ``start``)."""
        b0 = math.floor(start) + (0.5 if start - math.floor(start) <= 0.5 else 1.5)
        progress = self.firm.model.technology.progress
        return gpus * 24.0 * self.cfg.training_efficiency * sum(
            progress(b0 + k) for k in range(int(days)))

    def run_view(self):
        """The run under way as a :class:`~sim.strategies.research.TrainingRun` (None between
        runs)."""
        if self._run is None:
            return None
        started, days, planned = self._run
        return TrainingRun(started=started, days=days, gpus=self.firm.fleet.training,
                           planned_compute=planned, compute=self.run_compute,
                           quality_now=self.quality_of(self.run_compute),
                           quality_planned=self.quality_of(planned), due=self._due)

    def _runs(self):
        firm, rule = self.firm, self.rule
        env, fleet, seller = firm.env, firm.fleet, firm.seller
        ctx = firm.context("research")
        while True:
            plan, self._next = self._next, None
            if plan is None:
                plan = rule.plan(firm.view(), ctx)
            if plan is not None:  # a run must be paid for: cut to what the free funds cover
                gpus, days = plan
                per_gpu = 24.0 * fleet.cfg.cost_per_gpu_hour_usd * days
                gpus = firm.ledger.affordable(gpus, per_gpu, f"training run of {days:g} days")
                plan = None if gpus <= 0 else (gpus, days)
            if plan is None:
                wait = rule.wait(firm.view(), ctx)
                if not math.isfinite(wait) and not self.answers:
                    return
                yield from self._between(wait if wait > 0 else 1.0)
                continue
            self.pending_usd = gpus * per_gpu
            request = fleet.pool.get(gpus)
            try:
                yield request
            except simpy.Interrupt:
                request.cancel()
                raise
            fleet.training, self.run_compute, self.pending_usd = gpus, 0.0, 0.0
            self.run_end = env.now + days
            self._run = (env.now, days, self.planned_compute(gpus, env.now, days))
            self._end, self._due = env.event(), None
            firm.model.log(firm, "training_start", f"{gpus:.0f} GPUs for {days:g} days", gpus)
            if self.answers:
                started = env.now
                done = yield env.timeout(days) | self._end
                early = self._end in done and env.now < started + days
            else:  # a plain timeout: the order of events at an instant as without answers
                yield env.timeout(days)
                early = False
            quality = self.quality_of(self.run_compute)
            fleet.pool.put(fleet.training)
            fleet.training, self._run, self._end, self._due = 0.0, None, None, None
            self.run_end = env.now
            if quality > seller.quality:
                how = f" (early: {self._end_reason})" if early else ""
                firm.model.log(firm, "release",
                               f"quality {seller.quality:.1f} -> {quality:.1f}{how}", quality)
                seller.quality = quality
                self.served_compute = self.cfg.carry_over * self.served_compute \
                    + self.run_compute
                firm.model.announce(firm, "release")
            else:
                firm.model.log(firm, "training_end",
                               f"quality {quality:.1f} not above {seller.quality:.1f}", quality)
            wait = rule.wait(firm.view(), ctx)
            if not math.isfinite(wait) and not self.answers:
                return
            if wait > 0:
                yield from self._between(wait)

    def _between(self, wait: float):
        """Wait ``wait`` days between runs, or until an answer starts a run."""
        if not self.answers:
            yield self.firm.env.timeout(wait)
            return
        self._wake = self.firm.env.event()
        if math.isfinite(wait):
            yield self.firm.env.timeout(wait) | self._wake
        else:
            yield self._wake
        self._wake = None

    # ----------------------------------------------------------------- answering rivals
    def on_rival_move(self, mover, kind: str) -> None:
        """A rival moved: a release is answered ``rule.lag_days`` later (if the rule answers)."""
        if kind != "release" or not self.answers:
            return
        rival = RivalRelease(firm=mover.name, kind=mover.kind, quality=mover.seller.quality,
                             time=self.firm.env.now)
        self.firm.process(self._answer(rival))

    def _answer(self, rival):
        firm = self.firm
        yield firm.env.timeout(self.rule.lag_days)
        run = self.run_view()
        ans = self.rule.answer(firm.view(), run, rival, firm.context("research"))
        if ans is None:
            return
        fleet = firm.fleet
        if ans.action == "release" and run is not None:
            self._end_reason = f"answer to {ans.reason}"
            detail = f"release now at progress {run.progress:.2f}"
            self._end.succeed()
        elif ans.action == "boost" and run is not None:
            extra = min(max(ans.gpus - fleet.training, 0.0), fleet.serving)
            if extra > 0:
                taken = fleet.pool.get(extra)
                assert taken.triggered, "the serving pool never has a waiting request"
                fleet.training += extra
            self._due = ans.until
            detail = (f"boost to {fleet.training:.0f} GPUs at progress {run.progress:.2f}, "
                      f"release at {ans.until:.2f}")
        elif ans.action == "start" and run is None and self._wake is not None:
            self._next = (ans.gpus, ans.days)
            self._wake.succeed()
            detail = f"start {ans.gpus:.0f} GPUs for {ans.days:g} days"
        else:
            return  # the run it answered has ended, or one is starting
        firm.model.log(firm, "research_answer", f"{detail} ({ans.reason})",
                       run.progress if run is not None else 0.0)

    def book_day(self, outcome) -> None:
        fleet = self.firm.fleet
        self.firm.ledger.book("training_cost_usd",
                              fleet.training * 24.0 * fleet.cfg.cost_per_gpu_hour_usd)
        self.run_compute += (fleet.training * 24.0 * self.cfg.training_efficiency
                             * self.firm.model.algorithmic_progress())
        if (self._due is not None and self._run is not None
                and self.run_compute >= self._due * self._run[2]
                and self.quality_of(self.run_compute) > self.firm.seller.quality):
            self._due = None
            self._end_reason = "boosted run at its mark"
            self.firm.process(self._release_next_morning(self._end))

    def _release_next_morning(self, end):
        env = self.firm.env
        yield env.timeout(math.floor(env.now) + 1.0 - env.now)
        if end is self._end and not end.triggered:
            end.succeed()


# ----------------------------------------------------------------------------- financing
@dataclasses.dataclass
class FundingConfig:
    """Venture funding rounds (see :class:`VentureFunding`)."""

    enabled: bool = param(False, doc="raise venture rounds when runway is short")
    raise_below_runway_days: float = param(180.0, 0, MAX_HORIZON_DAYS, unit="days",
                                           doc="start a round below this runway")
    round_days: float = param(60.0, 0, 3650, lo_open=True, unit="days",
                              doc="days from opening a round to its close")
    retry_days: float = param(30.0, 0, 3650, lo_open=True, unit="days",
                              doc="wait after a failed round")
    min_round_usd: float = param(1.0e8, 0, 1e13, unit="USD", doc="smallest round")
    max_round_usd: float = param(1.0e10, 0, 1e13, unit="USD", doc="largest round")
    revenue_multiple: float = param(10.0, 0, 1e3, unit="x annual revenue",
                                    doc="round size as a multiple of annualised revenue")
    success_intercept: float = param(1.0, -50, 50, doc="logit of a round's success at score 0")
    success_slope: float = param(2.0, -50, 50, doc="logit slope on the performance score")


class VentureFunding(Component):
    """A lean lab lives on venture rounds.

    Runway is cash over burn, burn being minus the mean daily free cash flow (revenue less cash
    costs and capex) over the last 90 days.  When runway falls below
    ``funding.raise_below_runway_days`` the lab opens a round that closes ``funding.round_days``
    later with probability ``1 / (1 + exp(-(b0 + b1 * score)))``, where
    ``score = clip(log(R_30 / R_prev30), -2, 2) + (quality - outside quality) / 100``, ``R`` is
    revenue, and the momentum term is 0 until the lab has 60 days of history.  A closed round
    raises ``min(max_round_usd, max(min_round_usd, revenue_multiple * 365/30 * R_30))``.
    A round is not money committed until it closes, so a lab's backing is 0
    (:meth:`backing`) and its free funds are its cash less its reserve.  The lab exits when it
    is exhausted (its cash is negative, :meth:`Ledger.exhausted`) and no round is under way.
    """

    role = "financing"

    @dataclasses.dataclass
    class Config:
        funding: FundingConfig = param(FundingConfig(), doc="venture rounds")

    @classmethod
    def check(cls, key, section, cfg):
        fu = section.funding
        if fu.max_round_usd < fu.min_round_usd:
            raise ConfigError(f"{key}.funding.max_round_usd", fu.max_round_usd,
                              f"a number in [{fu.min_round_usd:g}, 1e+13] (at least "
                              "min_round_usd)")

    def __init__(self, firm, cfg):
        super().__init__(firm, cfg)
        self.raising = False
        self.next_raise = firm.env.now
        self.rng = firm.seeds.generator("funding")

    def backing(self) -> tuple[float, float]:
        """``(0, 0)``: investors commit nothing before a round closes."""
        return 0.0, 0.0

    def runway_days(self) -> float:
        """Days of cash left at the trailing 90-day burn rate (inf when not burning)."""
        flows = self.firm.ledger.history("free_cash_flow_usd")[-90:]
        burn = -float(flows.sum()) / flows.size if flows.size else 0.0
        if burn <= 0:
            return math.inf
        return max(self.firm.ledger.cash, 0.0) / burn

    def performance_score(self) -> float:
        """Revenue momentum plus quality relative to the frontier (see class docstring)."""
        rev = self.firm.ledger.history("revenue_usd")
        recent, before = float(rev[-30:].sum()), float(rev[-60:-30].sum())
        if len(rev) < 60 or recent == before:
            momentum = 0.0  # no evidence yet, or none either way
        elif recent > 0 and before > 0:
            momentum = float(np.clip(math.log(recent / before), -2.0, 2.0))
        else:
            momentum = 2.0 if recent > before else -2.0
        return momentum + (self.firm.seller.quality - self.firm.model.outside_quality()) / 100.0

    def after_day(self) -> None:
        fu, firm = self.cfg.funding, self.firm
        if (fu.enabled and not self.raising and firm.env.now >= self.next_raise
                and self.runway_days() < fu.raise_below_runway_days):
            self.raising = True
            firm.process(self._round())
        if not self.raising and firm.ledger.exhausted():
            firm.exit("cash ran out and no funding round is open")

    def _round(self):
        fu, firm = self.cfg.funding, self.firm
        firm.model.log(firm, "funding_start", f"runway {self.runway_days():.0f} days",
                       firm.ledger.cash)
        yield firm.env.timeout(fu.round_days)
        score = self.performance_score()
        chance = 1.0 / (1.0 + math.exp(-(fu.success_intercept + fu.success_slope * score)))
        if self.rng.random() < chance:
            annual_revenue = firm.ledger.trailing("revenue_usd", 30) * 365.0 / 30.0
            amount = min(fu.max_round_usd, max(fu.min_round_usd, fu.revenue_multiple
                                                 * annual_revenue))
            firm.ledger.book("funding_usd", amount)
            firm.model.log(firm, "funding_round",
                           f"raised {amount:,.0f} USD (score {score:+.2f}, p={chance:.2f})",
                           amount)
        else:
            self.next_raise = firm.env.now + fu.retry_days
            firm.model.log(firm, "funding_failed", f"score {score:+.2f}, p={chance:.2f}", chance)
        self.raising = False


class ParentSubsidy(Component):
    """A tech giant's parent funds the AI division's cash shortfall from a budget.

    The division's shortfall is what it has spent beyond what it earned and the parent has not
    yet covered: each day ``owed' = owed - (revenue - serving - training - fixed - capex)``, the
    day's operating loss *and* GPU orders; a surplus day pays the shortfall down.  The parent pays
    ``subsidy = min(cap, left, max(0, owed'))`` and ``owed = max(0, owed' - subsidy)``, with
    ``cap = subsidy_usd_per_day`` and ``left`` what remains of ``subsidy_budget_usd`` (no total
    limit when null): a shortfall bigger than a day's cap (a large GPU order) is paid over the
    following days.  After ``withdraw_after_loss_days`` consecutive days of operating loss the
    parent withdraws: it pays nothing more.  What the parent will still put in is the
    division's *backing* (:meth:`backing`): its free funds count ``min(left, cap * H)`` of it
    (:meth:`Ledger.funds`), and a ``predate`` rule reads it as its war chest.  The division is
    closed (exits) when it is exhausted: its cash is negative and its free funds too
    (:meth:`Ledger.exhausted`).
    """

    role = "financing"

    @dataclasses.dataclass
    class Config:
        subsidy_usd_per_day: float = param(0.0, 0, 1e12, unit="USD/day",
                                           doc="most of the division's cash shortfall (losses "
                                               "and GPU orders) the parent covers a day")
        subsidy_budget_usd: float | None = param(None, 0, 1e15, unit="USD",
                                                 doc="most the parent pays in all (null: no "
                                                     "limit)")
        withdraw_after_loss_days: int | None = param(None, 1, MAX_HORIZON_DAYS, unit="days",
                                                     doc="the parent withdraws after this many "
                                                         "consecutive loss days (null: never)")

    def __init__(self, firm, cfg):
        super().__init__(firm, cfg)
        self.paid = 0.0
        self.owed = 0.0
        self.loss_days = 0
        self.withdrawn = False

    def backing(self) -> tuple[float, float]:
        """``(USD a day, USD in all)`` the parent will still cover (0 once withdrawn)."""
        if self.withdrawn:
            return 0.0, 0.0
        budget = self.cfg.subsidy_budget_usd
        left = math.inf if budget is None else max(budget - self.paid, 0.0)
        return (self.cfg.subsidy_usd_per_day if left > 0 else 0.0), left

    def after_book(self, operating_cash: float) -> None:
        firm = self.firm
        self.loss_days = self.loss_days + 1 if operating_cash < 0 else 0
        owed = self.owed - (operating_cash - firm.ledger.flows.capex_usd)
        per_day, left = self.backing()
        subsidy = min(per_day, left, max(0.0, owed))
        self.owed = max(0.0, owed - subsidy)
        if subsidy > 0:
            firm.ledger.book("subsidy_usd", subsidy)
            self.paid += subsidy
            if self.cfg.subsidy_budget_usd is not None and self.paid >= \
                    self.cfg.subsidy_budget_usd * (1 - 1e-12):
                firm.model.log(firm, "budget_spent",
                               f"the parent's budget of {self.cfg.subsidy_budget_usd:,.0f} USD "
                               "is spent", self.paid)
        patience = self.cfg.withdraw_after_loss_days
        if not self.withdrawn and patience is not None and self.loss_days >= patience:
            self.withdrawn = True
            firm.model.log(firm, "parent_withdraws",
                           f"after {self.loss_days} days of operating losses", self.paid)

    def after_day(self) -> None:
        if self.firm.ledger.exhausted():
            self.firm.exit("parent closed the loss-making AI division")
