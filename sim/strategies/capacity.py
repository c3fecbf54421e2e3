"""Capacity rules: GPU orders.  ``rule.order(me, ctx)`` (``me`` a :class:`sim.views.FirmView`)
returns how many GPUs to order now;
the firm pays ``gpu_price_usd`` each on ordering and receives them ``gpu_lead_days`` later.
``rule.review_days`` is the interval between decisions.  A rule says what the firm wants; the
firm orders what its free funds pay for (:meth:`sim.firms.components.Ledger.affordable`), so
every rule is bound by the same budget."""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from sim.strategies import Rule, param, register
from sim.views import FirmView, RuleContext


class CapacityRule(Rule):
    review_days: float = float("inf")

    def order(self, me: FirmView, ctx: RuleContext) -> float:
        raise NotImplementedError


@register("capacity", "none")
class NoOrders(CapacityRule):
    """Never order: the firm keeps (and depreciates) the GPUs it starts with."""

    def order(self, me, ctx):
        return 0.0


@register("capacity", "forecast")
class Forecast(CapacityRule):
    """Order enough GPUs to serve forecast demand with ``headroom`` when the order arrives.

    Demand ``D`` is the firm's first-round (unrationed) demand.  With ``d1`` the mean over the
    last 7 days and ``d0`` the mean over the 7 days ``window_days`` earlier, daily growth is
    ``g = (d1/d0)^(1/window_days)`` clipped to ``[1 - max_growth, 1 + max_growth]``; forecast
    demand at arrival is ``d1 * g^lead``.  GPUs needed: ``forecast * (1 + headroom) / (tokens per
    GPU-hour * 24)``; the order is that less the serving pool, GPUs rented out until the next
    clearing of the compute market, and GPUs on order (the firm then cuts it to its free funds).
    """

    @dataclasses.dataclass
    class Params:
        headroom: float = param(0.25, 0.0, 10.0, doc="spare capacity over forecast demand")
        review_days: float = param(30.0, 0.0, 3650.0, lo_open=True, doc="days between orders")
        window_days: int = param(30, 7, 365, doc="look-back for the growth estimate")
        max_growth: float = param(0.005, 0.0, 1.0, doc="cap on daily demand growth")

    @property
    def review_days(self):
        return self.params.review_days

    def forecast(self, me: FirmView, horizon_days: float | None = None) -> float:
        """Forecast first-round demand (million tokens a day) when an order placed now arrives,
        or ``horizon_days`` from now (a rental period, :class:`sim.firms.renting.Renter`)."""
        p = self.params
        hist = me.history["demand_m_tokens"]
        if hist.size == 0:
            return 0.0
        d1 = float(hist[-7:].mean())
        if hist.size < p.window_days + 7 or d1 <= 0:
            return d1
        d0 = float(hist[-p.window_days - 7 : -p.window_days].mean())
        g = (d1 / d0) ** (1.0 / p.window_days) if d0 > 0 else 1.0 + p.max_growth
        g = float(np.clip(g, 1.0 - p.max_growth, 1.0 + p.max_growth))
        return d1 * g ** (me.gpu_lead_days if horizon_days is None else horizon_days)

    def order(self, me, ctx):
        p = self.params
        need = self.forecast(me) * (1.0 + p.headroom) / (me.tokens_per_gpu_hour * 24.0)
        gap = need - me.gpus_serving - me.gpus_on_order - me.gpus_contracted - me.gpus_rented_out
        return float(gap) if gap > 0 else 0.0


@register("capacity", "rent_or_buy")
class RentOrBuy(Forecast):
    r"""Own or rent: order as ``forecast`` while owning a GPU-hour costs less than renting one,
    else order nothing and leave the gap to rented GPUs (the firm's ``Renter`` bids for the
    shortfall, :mod:`sim.firms.renting`).

    Owning costs, per GPU-hour,

    .. math::

        o = \frac{P_{gpu} (\delta + r)}{8760} + w,

    ``P_gpu`` the price of a new GPU today, ``delta`` the fleet's ``gpu_depreciation_per_year``,
    ``r = cost_of_capital_per_year`` and ``w`` the operating cost ``cost_per_gpu_hour_usd``.
    Renting costs the compute market's last price ``R`` (of the auction the firm may rent in).
    The rule orders as ``forecast`` when ``o < R``, or when there is no price (no market, or none
    yet, or the firm barred from renting); otherwise it orders nothing.
    """

    @dataclasses.dataclass
    class Params(Forecast.Params):
        cost_of_capital_per_year: float = param(0.1, 0.0, 1.0, unit="1/year",
                                                doc="yearly cost of the money tied up in a GPU")

    def owning_cost(self, me: FirmView) -> float:
        """USD per GPU-hour of an owned GPU: capital, depreciation and operating cost."""
        return (me.gpu_price_usd * (me.gpu_depreciation_per_year
                                    + self.params.cost_of_capital_per_year) / 8760.0
                + me.cost_per_gpu_hour_usd)

    def order(self, me, ctx):
        rent = me.compute_price_usd_per_gpu_hour
        if math.isnan(rent) or self.owning_cost(me) < rent:
            return super().order(me, ctx)
        return 0.0
