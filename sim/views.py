"""What a decision rule sees: frozen views of the market and of its own firm, and a small context.

A rule never holds the model or a firm.  At each decision the firm hands its rule

* a :class:`MarketView`: every active firm's offer (names, prices, qualities), their marginal
  costs and capacities (the rules assume complete information, as the static benchmarks do),
  the customer segments' sizes and tastes today, the outside seller's offer (a frontier
  model without a capacity limit, not a player) and what not buying is worth;
* a :class:`FirmView`: the deciding firm's own state (costs, GPUs, cash, yesterday's outcome,
  daily histories);
* a :class:`RuleContext`: the clock, the rule's own random Generator, the store shared by rules
  that learn together (the Q-learning arena), and the calendar.

Views are read-only snapshots: their arrays are copies or read-only, and changing them changes
nothing in the model.  Units as everywhere: USD per million tokens, million tokens a day, days.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import math
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import numpy as np

from sim.core.params import day_number
from sim.economics import SegmentMarket
from sim.markets import bitcoin
from sim.markets.tokens import FIXED, Usage

__all__ = ["MarketView", "FirmView", "HostView", "RuleContext", "LogTermSource", "readonly"]


def readonly(a: np.ndarray) -> np.ndarray:
    """A read-only view of ``a`` (no copy)."""
    v = a.view()
    v.flags.writeable = False
    return v


class LogTermSource(Protocol):
    """Anything that can give firm ``k``'s rivals' logit log term per segment (the model's
    offer book, kept incrementally so a best response does not rebuild it)."""

    def rival_log_term(self, k: int) -> np.ndarray: ...


@dataclasses.dataclass(frozen=True, slots=True)
class MarketView:
    """The token market as the firm at index ``me`` sees it now.

    Arrays have one entry per active firm (``names`` order); segment arrays one per segment.
    ``capacities`` are million tokens a day; ``capacity`` is the deciding firm's own.  The
    outside seller's offer is ``(frontier_price, frontier_quality)`` (``None`` when there is
    none); not buying is worth a free model of ``no_purchase_quality``; ``usage`` is the
    segments' price-elastic usage.
    """

    me: int
    names: tuple[str, ...]
    prices: np.ndarray
    qualities: np.ndarray
    costs: np.ndarray
    capacities: np.ndarray
    sizes: np.ndarray
    alpha: np.ndarray
    theta: np.ndarray
    frontier_price: float | None
    frontier_quality: float | None
    capacity_limits: bool
    rechoice_rounds: int = 1
    book: LogTermSource | None = None
    no_purchase_quality: float = 0.0
    usage: Usage = FIXED

    @property
    def capacity(self) -> float:
        """The deciding firm's capacity, million tokens a day."""
        return float(self.capacities[self.me])

    @property
    def n(self) -> int:
        return len(self.names)

    def segment_market(self, capacity: bool | None = None) -> SegmentMarket:
        """The market as a :class:`sim.economics.SegmentMarket`: the firms in ``names`` order,
        then the outside seller if there is one (its cost set to its price, its capacity
        unlimited), against the no-purchase reference ``(0, no_purchase_quality)``; capacities
        included if the market has limits, or as ``capacity`` says.  Prices for it:
        :meth:`all_prices`."""
        caps = self.capacity_limits if capacity is None else capacity
        q, c, k = self.qualities, self.costs, self.capacities
        if self.frontier_price is not None:
            q = np.append(q, self.frontier_quality)
            c = np.append(c, self.frontier_price)
            k = np.append(k, np.inf)
        return SegmentMarket(q, c, self.sizes, self.alpha, self.theta, 0.0,
                             self.no_purchase_quality, k.copy() if caps else None, self.usage)

    def all_prices(self) -> np.ndarray:
        """The firms' prices, then the outside seller's (the columns of :meth:`segment_market`)."""
        if self.frontier_price is None:
            return self.prices.copy()
        return np.append(self.prices, self.frontier_price)

    def rival_log_term(self) -> np.ndarray:
        """``L_j = ln(1 + sum_{k != me} exp(v_kj))`` per segment: the rivals' (the outside
        seller's included) and not buying's logit weight, from the model's offer book when there
        is one."""
        if self.book is not None:
            return self.book.rival_log_term(self.me)
        return self.segment_market(capacity=False).rival_log_term(self.all_prices(), self.me)


@dataclasses.dataclass(frozen=True, slots=True)
class FirmView:
    """The deciding firm's own state (USD, GPUs, million tokens, days).

    ``history`` maps ``demand_m_tokens``, ``revenue_usd`` and ``free_cash_flow_usd`` to their
    daily series (read-only arrays, oldest first).  ``backing_usd_per_day`` and
    ``backing_left_usd`` are what the firm's owners will still cover of its losses, a day and in
    all (a giant's parent; 0 for a lab, whose next round is uncertain).

    The compute market (:mod:`sim.world.compute`): ``compute_price_usd_per_gpu_hour`` is the
    last price of the auction the firm may rent in (NaN without a market, or before it traded);
    ``gpus_rented`` the GPUs it rents in today (market and contracts), ``gpus_rented_out`` its
    own GPUs rented out this period (out of the serving pool until the next clearing), and
    ``gpus_contracted`` the GPUs under hosts' long-term contracts that still run when a GPU
    order placed today arrives (``gpu_lead_days`` from now).
    ``gpu_price_usd`` is the price of a new GPU today.
    """

    name: str
    kind: str
    price: float
    quality: float
    marginal_cost: float
    cost_per_gpu_hour_usd: float
    tokens_per_gpu_hour: float
    cash: float
    gpus_serving: float
    gpus_training: float
    gpus_on_order: float
    gpu_price_usd: float
    gpu_lead_days: float
    choice_share: float
    served_m_tokens: float
    history: Mapping[str, np.ndarray]
    backing_usd_per_day: float = 0.0
    backing_left_usd: float = 0.0
    rationed_m_tokens: float = 0.0
    compute_price_usd_per_gpu_hour: float = math.nan
    gpu_depreciation_per_year: float = 0.0
    gpus_rented: float = 0.0
    gpus_rented_out: float = 0.0
    gpus_contracted: float = 0.0

    @property
    def gpu_hour_shadow_price_usd(self) -> float:
        """What a GPU-hour taken from serving gives up, USD: the serving margin
        ``(p - c) * tokens_per_gpu_hour`` when the latest clearing rationed the firm's demand
        (its capacity binds: every GPU-hour serves a paying customer), else 0 (an idle GPU-hour
        earns nothing).  With a compute market, at least the market's last price less the firm's
        own operating cost, ``r - cost_per_gpu_hour_usd``: a GPU-hour it trains on is one it
        could have sold, or need not have rented."""
        serving = 0.0 if self.rationed_m_tokens <= 0 else \
            max(self.price - self.marginal_cost, 0.0) * self.tokens_per_gpu_hour
        r = self.compute_price_usd_per_gpu_hour
        if math.isnan(r):
            return serving
        return max(serving, r - self.cost_per_gpu_hour_usd)

    def trailing(self, key: str, days: int) -> float:
        """Sum of a daily history over its last ``days`` days."""
        h = self.history[key]
        return float(h[-days:].sum()) if days > 0 and h.size else 0.0


def _no_log(kind: str, detail: str, value: float = 0.0) -> None:
    pass


@dataclasses.dataclass(frozen=True, slots=True)
class HostView:
    """A miner turned host's sites as its hosting rule sees them (MW, USD, days).

    Mining: ``hashprice`` in USD per PH/s per day; ASICs of ``efficiency_j_per_th`` at
    ``power_usd_per_mwh`` give :attr:`ph_per_mw` PH/s a MW at a :attr:`hashcost`
    (:mod:`sim.markets.bitcoin`), so a MW mines :meth:`mining_margin_per_mw_day`.  Hosting:
    ``gpus_per_mw`` GPUs per MW, each using ``1 / gpus_per_mw`` MWh per GPU-hour;
    ``hosting_price`` the price of a GPU-hour it expects (a contract's price, else the compute
    market's last price; NaN when it has none).  ``capex_per_mw`` is the cost of converting a
    MW: the data hall plus its GPUs.
    """

    name: str
    hashprice: float
    efficiency_j_per_th: float
    power_usd_per_mwh: float
    gpus_per_mw: float
    capex_per_mw: float
    conversion_days: float
    mw_mining: float
    mw_hosting: float
    mw_converting: float
    mw_convertible: float
    hosting_price: float
    free_funds_usd: float

    @property
    def ph_per_mw(self) -> float:
        """PH/s a MW of the site's ASICs runs, ``1000 / J/TH``."""
        return float(bitcoin.ph_per_mw(self.efficiency_j_per_th))

    @property
    def hashcost(self) -> float:
        """The ASICs' power per PH/s a day, ``0.024 * J/TH * USD/MWh``."""
        return float(bitcoin.hashcost(self.efficiency_j_per_th, self.power_usd_per_mwh))

    def mining_margin_per_mw_day(self) -> float:
        """``max(hashprice - hashcost, 0) * ph_per_mw``: what a MW earns mining a day, ASICs
        switched off when the hashcost exceeds the hashprice
        (:func:`sim.markets.bitcoin.mining_margin_per_mw_day` with ``switch_off``)."""
        return float(bitcoin.mining_margin_per_mw_day(
            self.hashprice, self.efficiency_j_per_th, self.power_usd_per_mwh, switch_off=True))

    def hosting_margin_per_mw_day(self, price: float | None = None) -> float:
        """``(price - power_usd_per_mwh / gpus_per_mw) * gpus_per_mw * 24``: what a MW earns
        hosting GPUs sold at ``price`` USD per GPU-hour a day (``hosting_price`` by default),
        less their power."""
        p = self.hosting_price if price is None else price
        return (p - self.power_usd_per_mwh / self.gpus_per_mw) * self.gpus_per_mw * 24.0


@dataclasses.dataclass(frozen=True)
class RuleContext:
    """A rule's own handles: the clock (``now`` in days, read from ``clock``), its Generator,
    the shared store of rules that learn together (keyed by the rule's name), the calendar's
    start date, and ``log(kind, detail, value)`` to add a row to the events table under the
    firm's name."""

    firm: str
    clock: Callable[[], float]
    rng: np.random.Generator
    shared: dict[str, Any]
    start: _dt.date
    log: Callable[..., None] = _no_log

    @property
    def now(self) -> float:
        """The simulation time, days."""
        return self.clock()

    def day_of(self, when: Any) -> float:
        """Day number of ``when``: a number of days, or an ISO date counted from ``start``."""
        return day_number(when, self.start)
