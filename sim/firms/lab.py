"""AI labs: the lean lab (venture-funded, efficient, fast) and the tech giant (deep pockets,
subsidised by a parent's profits, slower to react).  What differs in behaviour is financing;
efficiency, review cadence and reaction lag are configuration (``conf/firm/*.yaml``)."""

from __future__ import annotations

import math

import numpy as np

from sim.firms.base import Firm


class LeanLab(Firm):
    """A lean AI lab: little cash, high efficiency, fast reviews; lives on venture rounds.

    Runway is cash over burn, burn being minus the mean daily free cash flow (revenue less cash
    costs and capex) over the last 90 days.  When runway falls below
    ``funding.raise_below_runway_days`` the lab starts a round that closes
    ``funding.round_days`` later with probability ``1 / (1 + exp(-(b0 + b1 * score)))``, where
    ``score = clip(log(R_30 / R_prev30), -2, 2) + (quality - outside quality) / 100``, ``R`` is
    revenue, and the momentum term is 0 until the lab has 60 days of history.  A closed round
    raises ``min(max_round_usd, max(min_round_usd, revenue_multiple * 365/30 * R_30))``.
    The lab exits when its cash is negative and no round is under way.
    """

    kind = "lean_lab"

    def __init__(self, model, name, cfg):
        super().__init__(model, name, cfg)
        self.raising = False
        self.next_raise = model.now

    def runway_days(self) -> float:
        """Days of cash left at the trailing 90-day burn rate (inf when not burning)."""
        flows = self._history["free_cash_flow_usd"][-90:]
        burn = -sum(flows) / len(flows) if flows else 0.0
        if burn <= 0:
            return math.inf
        return max(self.cash, 0.0) / burn

    def performance_score(self) -> float:
        """Revenue momentum plus quality relative to the frontier (see class docstring)."""
        rev = self._history["revenue_usd"]
        recent, before = sum(rev[-30:]), sum(rev[-60:-30])
        if len(rev) < 60 or recent == before:
            momentum = 0.0  # no evidence yet, or none either way
        elif recent > 0 and before > 0:
            momentum = float(np.clip(math.log(recent / before), -2.0, 2.0))
        else:
            momentum = 2.0 if recent > before else -2.0
        return momentum + (self.quality - self.model.outside_quality()) / 100.0

    def after_day(self) -> None:
        fu = self.cfg.funding
        if (fu.enabled and not self.raising and self.model.now >= self.next_raise
                and self.runway_days() < fu.raise_below_runway_days):
            self.raising = True
            self.env.process(self._funding_round())
        if self.cash < 0 and not self.raising:
            self.exit("cash ran out and no funding round is open")

    def _funding_round(self):
        fu = self.cfg.funding
        self.model.log(self, "funding_start", f"runway {self.runway_days():.0f} days", self.cash)
        yield self.env.timeout(fu.round_days)
        if not self.alive:
            return
        score = self.performance_score()
        chance = 1.0 / (1.0 + math.exp(-(fu.success_intercept + fu.success_slope * score)))
        if self.generator.random() < chance:
            annual_revenue = self.trailing("revenue_usd", 30) * 365.0 / 30.0
            amount = min(fu.max_round_usd, max(fu.min_round_usd, fu.revenue_multiple
                                                 * annual_revenue))
            self.cash += amount
            self.flows.funding_usd += amount
            self.model.log(self, "funding_round",
                           f"raised {amount:,.0f} USD (score {score:+.2f}, p={chance:.2f})", amount)
        else:
            self.next_raise = self.model.now + fu.retry_days
            self.model.log(self, "funding_failed", f"score {score:+.2f}, p={chance:.2f}", chance)
        self.raising = False


class TechGiant(Firm):
    """A tech giant's AI division: deep cash, GPUs at cost from its own cloud, slower reviews.

    Its parent's external profit stream covers the division's daily operating cash loss up to
    ``subsidy_usd_per_day``: ``subsidy = min(cap, max(0, -(revenue - serving - training -
    fixed)))``.  The division is closed (exits) if its cash still goes negative.
    """

    kind = "tech_giant"

    def _after_settle(self, operating_cash: float) -> None:
        subsidy = min(self.cfg.subsidy_usd_per_day, max(0.0, -operating_cash))
        if subsidy > 0:
            self.cash += subsidy
            self.flows.subsidy_usd += subsidy

    def after_day(self) -> None:
        if self.cash < 0:
            self.exit("parent closed the loss-making AI division")


FIRM_CLASSES: dict[str, type[Firm]] = {"lean_lab": LeanLab, "tech_giant": TechGiant}
