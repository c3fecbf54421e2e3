"""Research rules: how much training compute a firm spends, run by run, and how it answers a
rival's release.

Runs last whole days, so a run of ``k`` days spans exactly ``k`` market clearings, at each of which
its GPU-hours are booked (cost) and accrued (effective compute).

``rule.plan(me, ctx)`` (``me`` a :class:`sim.views.FirmView`) returns ``(gpus, days)`` for the
next training run or ``None`` for no run now; ``rule.wait(me, ctx)`` is the wait before the next
plan is asked for, after a run and after ``None`` (``gap_days`` unless a rule keeps a calendar).
A run holds its GPUs out of the serving pool for ``days`` and costs
``gpus * 24 * cost_per_gpu_hour`` a day.

A rule with ``lag_days`` set (not ``None``) answers rivals' releases: ``lag_days`` after a
rival's ``release`` the firm's :class:`~sim.firms.components.Trainer` asks
``rule.answer(me, run, rival, ctx)`` (``run`` a :class:`TrainingRun` or ``None``, ``rival`` a
:class:`RivalRelease`) and carries out the :class:`Answer`, if any.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from sim.core import params as checks
from sim.core.errors import ConfigError
from sim.strategies import Rule, param, register
from sim.views import FirmView, RuleContext

__all__ = ["ResearchRule", "TrainingRun", "RivalRelease", "Answer", "ANSWERS"]


@dataclasses.dataclass(frozen=True, slots=True)
class TrainingRun:
    """The firm's run under way, as its research rule sees it (days, GPUs, effective GPU-hours,
    quality points).

    ``planned_compute`` is what the run would accrue over its planned days at the GPUs it started
    with, ``compute`` what it has accrued so far, ``quality_now`` the quality of the model it
    would release now (:meth:`sim.firms.components.Trainer.quality_of`), ``quality_planned`` the
    same at ``planned_compute``; ``due`` is the progress at which an answer asked the run to be
    released (``None`` if it runs its course)."""

    started: float
    days: float
    gpus: float
    planned_compute: float
    compute: float
    quality_now: float
    quality_planned: float
    due: float | None = None

    @property
    def progress(self) -> float:
        """``compute / planned_compute`` (0 when nothing was planned)."""
        return self.compute / self.planned_compute if self.planned_compute > 0 else 0.0


@dataclasses.dataclass(frozen=True, slots=True)
class RivalRelease:
    """A rival's release: who, when (day) and the quality it released (points)."""

    firm: str
    kind: str
    quality: float
    time: float


#: What an answer may do: release the run under way now; add GPUs to it and release it at a
#: given progress; start a run now.
ANSWERS = ("release", "boost", "start")


@dataclasses.dataclass(frozen=True, slots=True)
class Answer:
    """A research rule's answer to a rival's release.

    * ``release``: end the run under way now and release its model (quality so far);
    * ``boost``: the run under way holds ``gpus`` from now on (more, if the serving pool has
      them) and is released at the first morning after its progress reaches ``until``;
    * ``start``: with no run under way, start a run of ``gpus`` for ``days`` now.
    """

    action: str
    gpus: float = 0.0
    days: float = 0.0
    until: float = 1.0
    reason: str = ""

    def __post_init__(self):
        if self.action not in ANSWERS:
            raise ValueError(f"unknown answer {self.action!r}: one of {', '.join(ANSWERS)}")


class ResearchRule(Rule):
    gap_days: float = float("inf")
    #: Days from a rival's release to the answer; ``None``: the rule does not answer.
    lag_days: float | None = None

    def plan(self, me: FirmView, ctx: RuleContext) -> tuple[float, float] | None:
        raise NotImplementedError

    def wait(self, me: FirmView, ctx: RuleContext) -> float:
        """Days before the next plan is asked for (after a run, or after ``None``)."""
        return self.gap_days

    def answer(self, me: FirmView, run: TrainingRun | None, rival: RivalRelease,
               ctx: RuleContext) -> Answer | None:
        """The answer to a rival's release (``None``: carry on)."""
        return None


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


@register("research", "schedule")
class Schedule(ResearchRule):
    """Dated runs, a lab's own calendar: ``runs: [[start, gpu_share, days], ...]``, ``start`` a
    day number or an ISO date, in time order and not overlapping (each starts no earlier than
    the previous one ends).  Run ``k`` holds ``gpu_share_k`` of the serving GPUs for ``days_k``
    from ``start_k`` (or as soon after it as the previous run ends); no run after the last."""

    @dataclasses.dataclass
    class Params:
        runs: list[Any] = param([], unit="[day or date, share, days]",
                                doc="[[start day or date, GPU share, run days], ...]")

    @classmethod
    def check(cls, key, params, cfg):
        runs = params.runs
        if not runs:
            raise ConfigError(f"{key}.runs", runs,
                              "a non-empty list of [start, gpu_share, days] triples", "empty")
        end = -math.inf
        for i, run in enumerate(runs):
            k = f"{key}.runs[{i}]"
            if not isinstance(run, list) or len(run) != 3:
                raise ConfigError(k, run, "a [start day or date, gpu_share, days] triple",
                                  "not a triple")
            if isinstance(run[0], str):
                checks.date(f"{k}[0]", run[0])
            else:
                checks.number(f"{k}[0]", run[0], 0, checks.MAX_HORIZON_DAYS)
            checks.number(f"{k}[1]", run[1], 0.0, 1.0)
            checks.integer(f"{k}[2]", run[2], 1, 3650)
            start = cfg.day_of(run[0])
            if start < end:
                raise ConfigError(f"{k}[0]", run[0], f"a start on or after day {end:g}, when "
                                  "the previous run ends", "overlapping runs")
            end = start + run[2]

    def __init__(self, params):
        super().__init__(params)
        self._starts: list[float] = []
        self._next = 0

    def bind(self, ctx):
        self._starts = [ctx.day_of(run[0]) for run in self.params.runs]

    def plan(self, me, ctx):
        if self._next >= len(self._starts) or ctx.now + 1e-9 < self._starts[self._next]:
            return None
        _, share, days = self.params.runs[self._next]
        self._next += 1
        gpus = share * me.gpus_serving
        return (gpus, days) if gpus > 0 else None

    def wait(self, me, ctx):
        if self._next >= len(self._starts):
            return math.inf
        return max(self._starts[self._next] - ctx.now, 0.0)


@register("research", "responsive")
class Responsive(ResearchRule):
    r"""Runs of ``gpu_share`` of the serving GPUs for ``run_days``, ``gap_days`` apart (as
    ``fixed_share``), answering any rival's release that overtakes the firm.

    ``lag_days`` after rival ``r`` releases a model of quality ``q_r``, the firm (quality ``q``
    now) is *overtaken* if

    .. math::

        q_r > q + \text{margin}.

    An overtaken firm answers by its run under way, whose progress is
    ``f = C / C_plan`` (effective compute accrued over what the run would accrue in its planned
    days at its starting GPUs, :class:`TrainingRun`):

    * ``f >= min_progress`` and the model so far beats ``q`` (``Q(C) > q``): **release now**,
      with the quality accrued so far, ``Q(C) = Q(C_plan) + points_per_decade * log10(f)``
      with no carry-over (the rush costs ``-points_per_decade * log10(f)`` points against
      running the course);
    * ``f < min_progress``: **boost** the run to ``g' = boost_gpu_share`` of the firm's GPUs
      (serving plus training; as many as the serving pool has, never fewer than the run's
      ``g``) and release it the first morning after its progress reaches ``min_progress`` with
      a model that beats the one served.  Compute then accrues ``g' / g`` times as fast, so
      the release comes about ``(min_progress - f) * run_days * g / g'`` days after the answer
      instead of ``(1 - f) * run_days`` (algorithmic progress and depreciation aside); a run
      far enough along whose model does not yet beat ``q`` is boosted to its planned compute
      (``f = 1``);
    * no run under way: **start** a run of ``boost_gpu_share`` of the serving GPUs for
      ``run_days`` now, the gap skipped.

    Not overtaken (or the run already boosted): carry on.  So release dates follow rivals'
    moves: a rival's release ``t_r`` brings the firm's next release forward to ``t_r +
    lag_days`` (a run far enough along), or to ``t_r + lag_days + (min_progress - f) run_days
    g / g'`` (a younger run).
    """

    @dataclasses.dataclass
    class Params:
        gpu_share: float = param(0.2, 0.0, 1.0, doc="share of GPUs held by a run")
        run_days: int = param(90, 1, 3650, doc="length of a run (whole days)")
        gap_days: int = param(30, 0, 3650, doc="days between runs")
        lag_days: float = param(7.0, 0.0, 3650, unit="days",
                                doc="days from a rival's release to the answer")
        margin: float = param(0.0, 0.0, 1e4, unit="points",
                              doc="a rival overtakes when its quality is this far above ours")
        min_progress: float = param(0.5, 0.0, 1.0,
                                    doc="share of a run's planned compute before it may be "
                                        "released early")
        boost_gpu_share: float = param(0.5, 0.0, 1.0,
                                       doc="share of GPUs an answer puts into training")

    @property
    def gap_days(self):
        return self.params.gap_days

    @property
    def lag_days(self):
        return self.params.lag_days

    def plan(self, me, ctx):
        gpus = self.params.gpu_share * me.gpus_serving
        return (gpus, self.params.run_days) if gpus > 0 else None

    def answer(self, me, run, rival, ctx):
        p = self.params
        if rival.quality <= me.quality + p.margin:
            return None
        why = f"{rival.firm}'s release at {rival.quality:.1f} over {me.quality:.1f}"
        if run is None:
            gpus = p.boost_gpu_share * me.gpus_serving
            return Answer("start", gpus=gpus, days=p.run_days, reason=why) if gpus > 0 else None
        far = run.progress >= p.min_progress
        if far and run.quality_now > me.quality:
            return Answer("release", reason=why)
        if run.due is not None:
            return None  # already boosted
        gpus = max(p.boost_gpu_share * (me.gpus_serving + me.gpus_training), run.gpus)
        return Answer("boost", gpus=gpus, until=1.0 if far else p.min_progress, reason=why)
