"""Observed price cuts against a run's, and against two naive forecasts.

A scenario's ``targets.price_cuts`` lists observed first cuts, ``{firm: {date, cut_pct}}``
(depth in percent of the pre-war price); ``targets.fitted_on`` optionally names the firms whose
cuts were used to set the scenario's behavioural parameters (all of them when absent), the others
being held out.  A forecast of a firm's first cut is a pair ``(day, depth)``, ``day = None``
meaning "no cut".  Its errors against an observed cut ``(d_obs, x_obs)`` are

.. math::

    e_\\text{days} = |d - d_\\text{obs}|, \\qquad e_\\text{pp} = |x - x_\\text{obs}|,

with a forecast of no cut scored as a cut of depth 0 on ``never_day`` (the first day after the
run), so that missing a cut costs the days the run had left after it.  The naive forecasts are

* **no change**: nobody cuts (``(None, 0)`` for every firm);
* **follow the leader**: every firm cuts on the day and by the depth of the first observed cut
  (the leader: the earliest date, ties going to the firm listed first), which it scores
  perfectly for the leader itself.

Everything here is a pure function of the targets and of a run's summary; no target is written
in code.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["Cut", "observed_cuts", "leader", "naive_forecasts", "cut_errors", "mean_errors",
           "validation_block", "FORECASTS"]

#: ``(day or None, depth in percent)``: a first cut, or ``(None, 0.0)`` for none.
Cut = tuple[float | None, float]

#: The forecasts every validation block scores, the model's first.
FORECASTS = ("model", "no_change", "follow_leader")


def observed_cuts(targets: Mapping[str, Any], day_of: Callable[[Any], float]) -> dict[str, Cut]:
    """``{firm: (day, cut_pct)}`` of ``targets.price_cuts``, in their listed order."""
    cuts = (targets or {}).get("price_cuts") or {}
    return {name: (day_of(obs["date"]), float(obs["cut_pct"])) for name, obs in cuts.items()}


def leader(observed: Mapping[str, Cut]) -> str:
    """The firm with the earliest observed cut (ties: the one listed first)."""
    order = list(observed)
    return min(order, key=lambda n: (observed[n][0], order.index(n)))


def naive_forecasts(observed: Mapping[str, Cut]) -> dict[str, dict[str, Cut]]:
    """``{"no_change": {...}, "follow_leader": {...}}``: each naive forecast of every firm."""
    first = observed[leader(observed)]
    return {"no_change": {n: (None, 0.0) for n in observed},
            "follow_leader": {n: first for n in observed}}


def cut_errors(forecast: Cut, observed: Cut, never_day: float) -> tuple[float, float]:
    """``(|days off|, |percentage points off|)`` of a forecast; no cut counts as depth 0 on
    ``never_day``."""
    day, depth = forecast
    obs_day, obs_depth = observed
    day = never_day if day is None else day
    return abs(day - obs_day), abs((depth or 0.0) - obs_depth)


def mean_errors(forecasts: Mapping[str, Cut], observed: Mapping[str, Cut], firms,
                never_day: float) -> dict[str, float | None]:
    """Mean absolute errors in days and in percentage points over ``firms`` (None if none)."""
    errs = [cut_errors(forecasts[n], observed[n], never_day) for n in firms]
    if not errs:
        return {"mean_abs_days": None, "mean_abs_pp": None}
    return {"mean_abs_days": sum(e[0] for e in errs) / len(errs),
            "mean_abs_pp": sum(e[1] for e in errs) / len(errs)}


def validation_block(targets: Mapping[str, Any], model: Mapping[str, Cut],
                     day_of: Callable[[Any], float], date_of: Callable[[float], str],
                     never_day: float) -> dict[str, Any] | None:
    """The summary's ``validation.price_cuts`` (None without ``targets.price_cuts``).

    ``model`` maps each firm to the run's first cut ``(day, depth)`` (``(None, 0)``: none, or a
    firm that never entered); ``date_of(day)`` is the calendar date of a day.  Per firm: its
    role (``fitted`` or ``held_out``), the observed and the model's cut, and each forecast's
    errors; then ``scores``: for the fitted and for the held-out firms, each forecast's mean
    errors.
    """
    observed = observed_cuts(targets, day_of)
    if not observed:
        return None
    fitted = list(targets.get("fitted_on") or observed)
    held_out = [n for n in observed if n not in fitted]
    forecasts = {"model": {n: model.get(n, (None, 0.0)) for n in observed},
                 **naive_forecasts(observed)}
    firms = {}
    for n, (obs_day, obs_depth) in observed.items():
        day, depth = forecasts["model"][n]
        firms[n] = {
            "role": "fitted" if n in fitted else "held_out",
            "observed_day": obs_day, "observed_date": date_of(obs_day),
            "observed_cut_pct": obs_depth,
            "model_day": day, "model_date": None if day is None else date_of(day),
            "model_cut_pct": depth if day is not None else None,
            **{f: dict(zip(("abs_days", "abs_pp"),
                           cut_errors(forecasts[f][n], observed[n], never_day), strict=True))
               for f in FORECASTS},
        }
    return {
        "never_day": never_day,
        "leader": leader(observed),
        "fitted_on": [n for n in observed if n in fitted],
        "held_out": held_out,
        "firms": firms,
        "scores": {group: {f: mean_errors(forecasts[f], observed, names, never_day)
                           for f in FORECASTS}
                   for group, names in (("fitted", [n for n in observed if n in fitted]),
                                        ("held_out", held_out))},
    }
