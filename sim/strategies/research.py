"""Research rules: how much training compute a firm spends, run by run.

Runs last whole days, so a run of ``k`` days spans exactly ``k`` market clearings, at each of which
its GPU-hours are booked (cost) and accrued (effective compute).

``rule.plan(me, ctx)`` (``me`` a :class:`sim.views.FirmView`) returns ``(gpus, days)`` for the
next training run or ``None`` for no run now;
``rule.gap_days`` is the wait between runs (and before asking again after ``None``).  A run holds
its GPUs out of the serving pool for ``days`` and costs ``gpus * 24 * cost_per_gpu_hour`` a day.
"""

from __future__ import annotations

import dataclasses

from sim.strategies import Rule, param, register
from sim.views import FirmView, RuleContext


class ResearchRule(Rule):
    gap_days: float = float("inf")

    def plan(self, me: FirmView, ctx: RuleContext) -> tuple[float, float] | None:
        raise NotImplementedError


@register("research", "none")
class NoResearch(ResearchRule):
    """No training: the firm's model quality stays where it starts."""

    def plan(self, me, ctx):
        return None


@register("research", "fixed_share")
class FixedShare(ResearchRule):
    """Each run holds ``gpu_share`` of the firm's GPUs for ``run_days``; runs are ``gap_days``
    apart."""

    @dataclasses.dataclass
    class Params:
        gpu_share: float = param(0.2, 0.0, 1.0, doc="share of GPUs held by a run")
        run_days: int = param(90, 1, 3650, doc="length of a run (whole days)")
        gap_days: int = param(30, 0, 3650, doc="days between runs")

    @property
    def gap_days(self):
        return self.params.gap_days

    def plan(self, me, ctx):
        gpus = self.params.gpu_share * me.gpus_serving
        return (gpus, self.params.run_days) if gpus > 0 else None


@register("research", "revenue_share")
class RevenueShare(ResearchRule):
    """Spend ``share`` of trailing revenue on training compute, valued at its opportunity cost.

    Budget for a run of ``run_days``: ``share * revenue over the last run_days``; GPUs held:
    ``budget / ((cost_per_gpu_hour + shadow) * 24 * run_days)``, at most ``max_gpu_share`` of
    the serving pool, where ``shadow`` is the GPU-hour's shadow price
    (:attr:`sim.views.FirmView.gpu_hour_shadow_price_usd`: the serving margin it gives up when
    capacity binds, 0 when GPUs idle; 0 too with ``opportunity_cost: false``).  So a firm whose
    capacity binds trains less, and trains when its GPUs would idle.  No run while the budget
    buys less than one GPU.
    """

    @dataclasses.dataclass
    class Params:
        share: float = param(0.2, 0.0, 1.0, doc="share of trailing revenue spent")
        run_days: int = param(90, 1, 3650, doc="length of a run (whole days)")
        gap_days: int = param(30, 0, 3650, doc="days between runs")
        max_gpu_share: float = param(0.5, 0.0, 1.0, doc="cap on the share of GPUs held")
        opportunity_cost: bool = param(True, doc="value GPU time at its shadow price")

    @property
    def gap_days(self):
        return self.params.gap_days

    def plan(self, me, ctx):
        p = self.params
        budget = p.share * me.trailing("revenue_usd", p.run_days)
        shadow = me.gpu_hour_shadow_price_usd if p.opportunity_cost else 0.0
        per_gpu = (me.cost_per_gpu_hour_usd + shadow) * 24.0 * p.run_days
        gpus = budget / per_gpu if per_gpu > 0 else p.max_gpu_share * me.gpus_serving
        gpus = min(gpus, p.max_gpu_share * me.gpus_serving)
        return (gpus, p.run_days) if gpus >= 1.0 else None
