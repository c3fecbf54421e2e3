"""The day's order, stated once.

Time is SimPy's ``env.now`` in days; day ``d`` is ``[d, d + 1)``.  Each day runs these named
steps, in this order:

==================  ======  ==============================================================
step                when    what
==================  ======  ==============================================================
``shocks``          d       scripted shocks dated day ``d`` (entries, price cuts, demand
                            jumps), before any firm acts that day
``network``         d       the bitcoin network's day (``bitcoin.enabled``): BTC price,
                            fees and rest-of-world hashrate (retargets and halvings are
                            events at their block heights, not steps)
(firms' events)     any     price reviews, reactions, training runs, GPU orders and
                            deliveries, funding rounds: SimPy processes at their own times
``compute_market``  d+0.5   room for the GPU-hour market (no step yet)
``token_market``    d+0.5   the token market clears at today's offers and capacities
``booking``         d+0.5   every firm books the day: revenue, serving, training and fixed
                            costs, a parent's subsidy
``depreciation``    d+0.5   a day's share of every fleet's GPUs is retired
``record``          d+0.5   Mesa's DataCollector records the day; firms keep history and
                            reset the day's flows
``financing``       d+0.5   funding rounds open, firms that cannot pay exit
==================  ======  ==============================================================

The morning steps run before every other event dated ``d`` (SimPy's urgent priority), and only
on days that one of them has work (``due``: shocks on their days, the network every day); the
midday steps run after every other event dated ``d + 0.5`` (a priority below SimPy's normal
one), so a firm's decision at ``d + 0.5`` is in force for that day's market.
"""

from __future__ import annotations

from collections.abc import Callable

import simpy
from simpy.events import NORMAL, URGENT

__all__ = ["DailySchedule", "DAILY_STEPS", "LATE", "at"]

#: Step names in their order, each with its time of day.
DAILY_STEPS: tuple[tuple[str, float], ...] = (
    ("shocks", 0.0),
    ("network", 0.0),
    ("compute_market", 0.5),
    ("token_market", 0.5),
    ("booking", 0.5),
    ("depreciation", 0.5),
    ("record", 0.5),
    ("financing", 0.5),
)

#: SimPy priority of the midday steps: after every ``NORMAL`` event at the same instant.
LATE = NORMAL + 1


def at(env: simpy.Environment, delay: float, priority: int) -> simpy.Event:
    """An event ``delay`` days from now, processed at ``priority`` among same-time events."""
    event = simpy.Event(env)
    event._ok = True
    event._value = None
    env.schedule(event, priority, delay)
    return event


class DailySchedule:
    """The ordered daily steps of one model; ``steps[name]`` is a callable or ``None``.

    Parameters
    ----------
    env : the model's SimPy environment.
    steps : a callable for each name of :data:`DAILY_STEPS` that has work (missing: no step).
    due : for morning steps, ``due[name](day) -> bool``: whether the step has work on ``day``;
        the schedule wakes in the morning only on such days (one event a day otherwise).
    """

    def __init__(self, env: simpy.Environment, steps: dict[str, Callable[[], None]],
                 due: dict[str, Callable[[int], bool]] | None = None):
        unknown = set(steps) - {name for name, _ in DAILY_STEPS}
        if unknown:
            raise ValueError(f"unknown daily steps: {sorted(unknown)}")
        self.env = env
        self.morning = [(n, steps[n]) for n, t in DAILY_STEPS if t == 0.0 and n in steps]
        self.midday = [(n, steps[n]) for n, t in DAILY_STEPS if t == 0.5 and n in steps]
        self.due = due or {}
        self.process = env.process(self._days())

    @property
    def order(self) -> list[str]:
        """The names of the steps that run, in order."""
        return [n for n, _ in self.morning + self.midday]

    def _morning_due(self, day: int) -> bool:
        return any(self.due.get(name, lambda d: True)(day) for name, _ in self.morning)

    def _days(self):
        env = self.env
        day = int(env.now)
        while True:
            if self.morning and self._morning_due(day):
                yield at(env, day - env.now, URGENT)  # before every other event of the day
                for _, step in self.morning:
                    step()
            yield at(env, day + 0.5 - env.now, LATE)  # after every other event at d + 0.5
            for _, step in self.midday:
                step()
            day += 1
