"""Renting GPU-hours: the :class:`Renter` component (role ``renter``).

A lab or a giant rents in the compute market (:mod:`sim.world.compute`) the serving GPUs it is
short of, and signs long-term contracts with hosts; a giant's cloud may rent out the serving GPUs
it does not need.  Rented GPUs serve tokens like owned ones: the firm's token capacity is
``(serving + rented + contracted) * tokens_per_gpu_hour * 24`` (:class:`TokenSeller`), and the
rent is booked daily as ``compute_rent_usd``.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from sim.core.params import param
from sim.firms.base import Component

__all__ = ["Renter", "Contract"]

_NONE = (np.zeros(0), np.zeros(0))


@dataclasses.dataclass(slots=True)
class Contract:
    """A long-term rental from ``host``: ``gpus`` GPUs at ``price`` USD per GPU-hour for
    ``days_left`` more daily bookings (the last one a fraction of a day if ``days`` was not
    whole)."""

    host: str
    gpus: float
    price: float
    days_left: float

    @property
    def gpus_today(self) -> float:
        """GPUs the contract serves with today (a fractional last day counts pro rata)."""
        return self.gpus * min(1.0, self.days_left) if self.days_left > 0 else 0.0


class Renter(Component):
    r"""Rents serving GPUs in the compute market, holds hosts' contracts, and (with
    ``sell_spare_gpus``) rents out the serving GPUs the firm does not need.

    **Need.** GPUs needed to serve forecast demand with headroom at the end of the coming period
    of ``P`` days, ``N = F * (1 + h) / (tau * 24)``: ``F`` and ``h`` are the capacity rule's
    forecast (its ``forecast(me, horizon_days=P)``) and ``headroom`` when it has them
    (``forecast``, ``rent_or_buy``), else the mean first-round demand of the last 7 days and
    ``h = 0``; ``tau`` the firm's tokens per GPU-hour (million).

    **Bids** (``compute_bids``): the shortfall ``N - serving - contracted`` (GPUs; training holds
    GPUs out of the serving pool, so renting backfills training too), ``24 P`` GPU-hours each,
    at what a GPU-hour earns serving,

    .. math::

        b = \min(p \cdot \tau \cdot \text{bid\_share},\ \text{max\_rent\_usd\_per\_gpu\_hour}),

    ``p`` the firm's token price.  The GPU-hours bought, ``B``, are ``B / (24 P)`` more serving
    GPUs until the next clearing, and cost ``B / P * price`` a day.

    **Asks** (``compute_asks``, with ``sell_spare_gpus``): the idle serving GPUs
    ``serving - N``, ``24 P`` GPU-hours each, at the fleet's ``cost_per_gpu_hour_usd``.  GPUs
    sold leave the serving pool for the period (``GpuFleet.lent``) and come back at the next
    clearing; their sales are booked daily as ``compute_sales_usd`` and their operating cost as
    ``serving_cost_usd``.

    **Contracts** (:meth:`add_contract`, signed by a host): ``gpus`` more serving GPUs from now
    on for ``days`` days, paying ``gpus * 24 * price`` a day (``compute_rent_usd``).  A day is
    one daily booking: a contract of ``k`` whole days is paid ``k`` times.
    """

    role = "renter"

    @dataclasses.dataclass
    class Config:
        bid_share: float = param(1.0, 0, 1, lo_open=True,
                                 doc="share of a serving GPU-hour's revenue bid for a rented one")
        max_rent_usd_per_gpu_hour: float = param(math.inf, 0, None, inf=True,
                                                 unit="USD/GPU-hour",
                                                 doc="highest bid for a rented GPU-hour")
        sell_spare_gpus: bool = param(False, doc="rent out the serving GPUs not needed for "
                                                 "forecast demand, at the operating cost")

    def __init__(self, firm, cfg):
        super().__init__(firm, cfg)
        self.rented_gpus = 0.0  # from the market, this period
        self.rent_usd_per_gpu_hour = 0.0  # its price
        self.sold_gpus = 0.0  # rented out to the market, this period
        self.sale_usd_per_gpu_hour = 0.0  # their price
        self.contracts: list[Contract] = []
        self._period_at = -math.inf

    # ----------------------------------------------------------------- state
    @property
    def contracted_gpus(self) -> float:
        """GPUs under contract with hosts today."""
        return float(sum(c.gpus_today for c in self.contracts))

    def contracted_gpus_after(self, days: float) -> float:
        """GPUs under contracts that still run ``days`` days from now (more than ``days``
        daily bookings left)."""
        return float(sum(c.gpus for c in self.contracts if c.days_left > days))

    @property
    def gpus(self) -> float:
        """GPUs rented in today, from the market and under contract (they serve tokens)."""
        if not self.contracts:
            return self.rented_gpus
        return self.rented_gpus + self.contracted_gpus

    def add_contract(self, host: str, gpus: float, price_usd_per_gpu_hour: float,
                     days: float) -> None:
        """From now on, for ``days`` days, ``gpus`` more serving GPUs at
        ``price_usd_per_gpu_hour``: ``gpus * 24 * price`` is booked as compute rent each day."""
        for what, x in (("gpus", gpus), ("price_usd_per_gpu_hour", price_usd_per_gpu_hour),
                        ("days", days)):
            if not (isinstance(x, (int, float)) and math.isfinite(x) and x >= 0):
                raise ValueError(f"add_contract: {what}={x!r} must be a finite number >= 0")
        if gpus <= 0 or days <= 0:
            return
        self.contracts.append(Contract(str(host), float(gpus), float(price_usd_per_gpu_hour),
                                       float(days)))
        self.firm.model.log(self.firm, "compute_contract",
                            f"{gpus:.4g} GPUs from {host} at {price_usd_per_gpu_hour:.4g} "
                            f"USD/GPU-hour for {days:g} days", gpus)

    def needed_gpus(self, period_days: float) -> float:
        """GPUs needed to serve forecast demand with headroom at the end of the coming period
        (see the class docstring)."""
        firm = self.firm
        seller = firm.seller
        if seller is None or firm.fleet is None:
            return 0.0
        me = firm.view()
        rule = firm.fleet.rule
        forecast = getattr(rule, "forecast", None)
        if forecast is not None:
            demand = forecast(me, horizon_days=period_days)
            headroom = float(getattr(rule.params, "headroom", 0.0))
        else:
            hist = me.history["demand_m_tokens"]
            demand, headroom = (float(hist[-7:].mean()) if hist.size else 0.0), 0.0
        return demand * (1.0 + headroom) / (seller.tokens_per_gpu_hour * 24.0)

    def _begin_period(self) -> None:
        """At a clearing: the last period's rentals end and its lent GPUs come back."""
        now = self.firm.env.now
        if self._period_at == now:
            return
        self._period_at = now
        self.rented_gpus, self.sold_gpus = 0.0, 0.0
        fleet = self.firm.fleet
        if fleet is not None:
            fleet.reclaim()

    # ----------------------------------------------------------------- the market's protocol
    def compute_bids(self, period_days: int):
        """One bid for the period's shortfall (none when there is no shortfall)."""
        self._begin_period()
        firm = self.firm
        if firm.seller is None or firm.fleet is None:
            return _NONE
        short = self.needed_gpus(period_days) - firm.fleet.serving - self.contracted_gpus
        price = min(firm.seller.price * firm.seller.tokens_per_gpu_hour * self.cfg.bid_share,
                    self.cfg.max_rent_usd_per_gpu_hour)
        if not short > 0 or not price > 0:
            return _NONE
        return np.array([price]), np.array([short * 24.0 * period_days])

    def compute_bought(self, gpu_hours: float, price: float, period_days: int) -> None:
        self._begin_period()
        self.rented_gpus = gpu_hours / (24.0 * period_days)
        self.rent_usd_per_gpu_hour = price

    def compute_asks(self, period_days: int):
        """With ``sell_spare_gpus``: one ask for the idle serving GPUs at the operating cost."""
        self._begin_period()
        fleet = self.firm.fleet
        if not self.cfg.sell_spare_gpus or fleet is None:
            return _NONE
        spare = fleet.serving - self.needed_gpus(period_days)
        if not spare > 0:
            return _NONE
        return np.array([fleet.cfg.cost_per_gpu_hour_usd]), np.array([spare * 24.0 * period_days])

    def compute_sold(self, gpu_hours: float, price: float, period_days: int) -> None:
        self._begin_period()
        n = gpu_hours / (24.0 * period_days)
        self.sold_gpus = self.firm.fleet.lend(n) if n > 0 else 0.0
        self.sale_usd_per_gpu_hour = price

    # ----------------------------------------------------------------- the day
    def book_day(self, outcome) -> None:
        """The day's rent (market rentals and contracts) and sales of GPU-hours."""
        ledger = self.firm.ledger
        rent = self.rented_gpus * 24.0 * self.rent_usd_per_gpu_hour
        for c in self.contracts:
            rent += c.gpus_today * 24.0 * c.price
        if rent:
            ledger.book("compute_rent_usd", rent)
        if self.sold_gpus:
            ledger.book("compute_sales_usd", self.sold_gpus * 24.0 * self.sale_usd_per_gpu_hour)
            ledger.book("serving_cost_usd",
                        self.sold_gpus * 24.0 * self.firm.fleet.cfg.cost_per_gpu_hour_usd)

    def record_day(self) -> None:
        """A day of every contract has been served and paid."""
        if self.contracts:
            for c in self.contracts:
                c.days_left -= 1.0
            self.contracts = [c for c in self.contracts if c.days_left > 1e-12]
