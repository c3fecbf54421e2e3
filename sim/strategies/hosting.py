"""Hosting rules: when a bitcoin miner converts mining sites into AI data halls.

``rule.convert(site, ctx)`` (``site`` a :class:`sim.views.HostView`) returns the MW to start
converting now (0 for none); ``rule.review_days`` is the interval between decisions.  A
conversion costs ``capex_per_mw`` a MW, paid when it starts (cut to the firm's free funds),
takes the site's ASICs off at once and hosts GPUs ``conversion_days`` later: it is a real
option on the gap between hosting and mining margins.
"""

from __future__ import annotations

import dataclasses
import math

from sim.strategies import Rule, param, register
from sim.views import HostView, RuleContext

__all__ = ["HostingRule", "payback_test"]


class HostingRule(Rule):
    review_days: float = float("inf")

    def convert(self, site: HostView, ctx: RuleContext) -> float:
        raise NotImplementedError


@register("hosting", "none")
class NeverConvert(HostingRule):
    """Never convert: the sites keep mining."""

    def convert(self, site, ctx):
        return 0.0


def payback_test(site: HostView, payback_days: float, price: float) -> bool:
    """Whether converting a MW repays itself within ``payback_days``:

    .. math::

        (h - m) \\, H \\ge K,

    with ``h`` the hosting margin per MW-day at ``price``
    (:meth:`HostView.hosting_margin_per_mw_day`), ``m`` the mining margin per MW-day it gives up
    at today's hashprice (:meth:`HostView.mining_margin_per_mw_day`), ``H = payback_days``
    less the ``conversion_days`` in which the MW earns nothing, and ``K = capex_per_mw``.
    False when the price is unknown (NaN)."""
    if not math.isfinite(price):
        return False
    earning = max(payback_days - site.conversion_days, 0.0)
    gain = site.hosting_margin_per_mw_day(price) - site.mining_margin_per_mw_day()
    return gain * earning >= site.capex_per_mw


@register("hosting", "payback")
class Payback(HostingRule):
    """Convert ``block_mw`` (at most what is still convertible) whenever the hosting margin
    beats the mining margin by enough to repay the conversion within ``payback_years``
    (:func:`payback_test`), at the host's expected hosting price (its contract's, else the
    compute market's last price, else ``assumed_price_usd_per_gpu_hour``)."""

    @dataclasses.dataclass
    class Params:
        payback_years: float = param(3.0, 0.0, 50.0, lo_open=True, unit="years",
                                     doc="horizon within which a conversion must repay its "
                                         "capex")
        block_mw: float = param(50.0, 0.0, 1e6, lo_open=True, unit="MW",
                                doc="MW converted at a time")
        review_days: float = param(30.0, 0.0, 3650.0, lo_open=True, unit="days",
                                   doc="days between decisions")
        assumed_price_usd_per_gpu_hour: float = param(
            0.0, 0.0, 1e4, unit="USD/GPU-hour",
            doc="hosting price assumed when there is neither a contract nor a market price "
                "(0: no conversion without one)")

    @property
    def review_days(self):
        return self.params.review_days

    def convert(self, site, ctx):
        p = self.params
        price = site.hosting_price
        if not math.isfinite(price) and p.assumed_price_usd_per_gpu_hour > 0:
            price = p.assumed_price_usd_per_gpu_hour
        if site.mw_convertible <= 0 or not payback_test(site, 365.0 * p.payback_years, price):
            return 0.0
        return min(p.block_mw, site.mw_convertible)
