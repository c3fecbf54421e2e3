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
    """Spend ``share`` of trailing revenue on training compute.

    Budget for a run of ``run_days``: ``share * revenue over the last run_days``; GPUs held:
    ``budget / (cost_per_gpu_hour * 24 * run_days)``, at most ``max_gpu_share`` of the serving
    pool.  No run while the budget buys less than one GPU.
    """

    @dataclasses.dataclass
    class Params:
        share: float = param(0.2, 0.0, 1.0, doc="share of trailing revenue spent")
        run_days: int = param(90, 1, 3650, doc="length of a run (whole days)")
        gap_days: int = param(30, 0, 3650, doc="days between runs")
        max_gpu_share: float = param(0.5, 0.0, 1.0, doc="cap on the share of GPUs held")

    @property
    def gap_days(self):
        return self.params.gap_days

    def plan(self, me, ctx):
        p = self.params
        budget = p.share * me.trailing("revenue_usd", p.run_days)
        per_gpu = me.cost_per_gpu_hour_usd * 24.0 * p.run_days
        gpus = budget / per_gpu if per_gpu > 0 else p.max_gpu_share * me.gpus_serving
        gpus = min(gpus, p.max_gpu_share * me.gpus_serving)
        return (gpus, p.run_days) if gpus >= 1.0 else None
