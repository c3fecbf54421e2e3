"""Range checks shared by config validation and rule parameters; each raises a one-line
:class:`sim.errors.ConfigError` naming the key, the value and the allowed range."""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Callable
from typing import Any

from sim.errors import ConfigError

__all__ = ["number", "integer", "date", "when", "path", "interval_text", "MAX_HORIZON_DAYS"]

MAX_HORIZON_DAYS = 36_500  # a century of days


def interval_text(what: str, lo: float | None, hi: float | None, lo_open=False,
                  hi_open=False) -> str:
    """``"a number in [0, 1)"``-style description of an interval (``None`` = unbounded)."""
    if lo is None and hi is None:
        return what
    left = "(" if lo_open or lo is None else "["
    right = ")" if hi_open or hi is None else "]"
    return f"{what} in {left}{_fmt(lo, '-inf')}, {_fmt(hi, 'inf')}{right}"


def _fmt(x: float | None, inf: str) -> str:
    if x is None or math.isinf(x):
        return inf if x is None else ("inf" if x > 0 else "-inf")
    return str(x) if isinstance(x, int) else f"{x:g}"


def _inside(value: float, lo, hi, lo_open, hi_open) -> bool:
    return ((lo is None or (value > lo if lo_open else value >= lo))
            and (hi is None or (value < hi if hi_open else value <= hi)))


def number(key: str, value: Any, lo: float | None, hi: float | None, *, lo_open=False,
           hi_open=False) -> float:
    """A finite real number in the interval."""
    what = interval_text("a number", lo, hi, lo_open, hi_open)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(key, value, what, "not a finite number")
    if not _inside(value, lo, hi, lo_open, hi_open):
        raise ConfigError(key, value, what)
    return float(value)


def integer(key: str, value: Any, lo: int | None, hi: int | None, *, hi_open=False) -> int:
    """An integer in the interval."""
    what = interval_text("an integer", lo, hi, False, hi_open)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(key, value, what, "not an integer")
    if not _inside(value, lo, hi, False, hi_open):
        raise ConfigError(key, value, what)
    return value


def date(key: str, value: Any) -> _dt.date:
    """An ISO date ``YYYY-MM-DD``."""
    try:
        return _dt.date.fromisoformat(str(value))
    except ValueError:
        raise ConfigError(key, value, "an ISO date YYYY-MM-DD", "not a date") from None


def when(key: str, value: Any, start: _dt.date, horizon_days: int) -> None:
    """A point in the run: a day number in [0, horizon_days) or an ISO date in the horizon."""
    if isinstance(value, str):
        day = (date(key, value) - start).days
        if not 0 <= day < horizon_days:
            end = start + _dt.timedelta(days=horizon_days - 1)
            raise ConfigError(key, value, f"a date from {start} to {end}")
    else:
        number(key, value, 0, horizon_days, hi_open=True)


def path(key: str, points: Any, day_of: Callable[[Any], float], lo: float, hi: float) -> None:
    """``[[day or date, value], ...]`` in strictly increasing time, values in [lo, hi]."""
    if not isinstance(points, list) or not points:
        raise ConfigError(key, points, "a non-empty list of [day or date, value] pairs", "empty")
    days = []
    for i, pt in enumerate(points):
        k = f"{key}[{i}]"
        if not isinstance(pt, list) or len(pt) != 2:
            raise ConfigError(k, pt, "a [day or date, value] pair", "not a pair")
        if isinstance(pt[0], str):
            date(f"{k}[0]", pt[0])
        else:
            number(f"{k}[0]", pt[0], -MAX_HORIZON_DAYS, MAX_HORIZON_DAYS)
        number(f"{k}[1]", pt[1], lo, hi)
        days.append(day_of(pt[0]))
    if any(b <= a for a, b in zip(days, days[1:], strict=False)):
        raise ConfigError(key, points, "points in strictly increasing time order", "unordered")
