"""Parameters with metadata, and the one checker that reads it.

Every configuration value of pricewars (scenario keys, a firm kind's section, a rule's
parameters, an experiment script's flags) is a field of a dataclass declared with :func:`param`:
its default, its allowed range ``[lo, hi]`` (either end open where flagged), its unit and a line
of documentation.  :func:`load` checks a raw mapping against such a dataclass, field by field,
and builds the instance: a wrong type, a value out of range or a key the dataclass does not have
raises a one-line :class:`~sim.core.errors.ConfigError` naming the key, the value and what is
allowed.  ``pricewars --help`` and the dashboard's controls read the same metadata.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as _dt
import functools
import math
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any

from sim.core.errors import ConfigError, Raw

__all__ = ["param", "load", "check_field", "plain", "describe", "fields_of", "number", "integer",
           "date", "day_number", "when", "path", "interval_text", "MAX_HORIZON_DAYS"]

MAX_HORIZON_DAYS = 36_500  # a century of days


def interval_text(what: str, lo: float | None, hi: float | None, lo_open=False,
                  hi_open=False, inf=False) -> str:
    """``"a number in [0, 1)"``-style description of an interval (``None`` = unbounded; with
    ``inf`` the upper end ``inf`` itself is allowed: ``[0, inf]``)."""
    if lo is None and hi is None and not inf:
        return what
    left = "(" if lo_open or lo is None else "["
    right = "]" if inf and hi is None else (")" if hi_open or hi is None else "]")
    return f"{what} in {left}{_fmt(lo, '-inf')}, {_fmt(hi, 'inf')}{right}"


def _fmt(x: float | None, inf: str) -> str:
    if x is None or math.isinf(x):
        return inf if x is None else ("inf" if x > 0 else "-inf")
    return str(x) if isinstance(x, int) else f"{x:g}"


def _inside(value: float, lo, hi, lo_open, hi_open) -> bool:
    return ((lo is None or (value > lo if lo_open else value >= lo))
            and (hi is None or (value < hi if hi_open else value <= hi)))


def number(key: str, value: Any, lo: float | None, hi: float | None, *, lo_open=False,
           hi_open=False, inf=False) -> float:
    """A finite real number in the interval (or, with ``inf`` and no upper bound, ``inf``:
    "no limit")."""
    what = interval_text("a number", lo, hi, lo_open, hi_open, inf and hi is None)
    if inf and hi is None and isinstance(value, float) and value == math.inf:
        return value
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
    """An ISO date written ``YYYY-MM-DD`` (a string; ``20250101`` is refused, not guessed)."""
    if not isinstance(value, str) or len(value) != 10 or value[4] != "-" or value[7] != "-":
        raise ConfigError(key, value, "an ISO date YYYY-MM-DD", "not a date")
    try:
        return _dt.date.fromisoformat(value)
    except ValueError:
        raise ConfigError(key, value, "an ISO date YYYY-MM-DD", "not a date") from None


def day_number(when: Any, start: _dt.date) -> float:
    """Day number of ``when``: a number of days as it is, or an ISO date counted from
    ``start`` (the calendar of every path, shock and scripted price)."""
    if isinstance(when, str):
        return float((_dt.date.fromisoformat(when) - start).days)
    return float(when)


def when(key: str, value: Any, start: _dt.date, horizon_days: int) -> None:
    """A point in the run: a day number in [0, horizon_days) or an ISO date in the horizon."""
    if isinstance(value, str):
        day = (date(key, value) - start).days
        if not 0 <= day < horizon_days:
            end = start + _dt.timedelta(days=horizon_days - 1)
            raise ConfigError(key, value, f"a date from {start} to {end}")
    else:
        number(key, value, 0, horizon_days, hi_open=True)


def path(key: str, points: Any, day_of: Callable[[Any], float], lo: float, hi: float, *,
         lo_open: bool = False) -> None:
    """``[[day or date, value], ...]`` in strictly increasing time, values in [lo, hi] (in
    (lo, hi] with ``lo_open``)."""
    if not isinstance(points, list) or not points:
        raise ConfigError(key, points, "a non-empty list of [day or date, value] pairs", "empty")
    days = []
    for i, pt in enumerate(points):
        k = f"{key}[{i}]"
        if not isinstance(pt, list) or len(pt) != 2:
            raise ConfigError(k, pt, "a [day or date, value] pair", "not a pair")
        if isinstance(pt[0], str):
            date(f"{k}[0]", pt[0])
        elif isinstance(pt[0], bool):
            raise ConfigError(f"{k}[0]", pt[0], "a day number or an ISO date", "not a time")
        else:
            number(f"{k}[0]", pt[0], -MAX_HORIZON_DAYS, MAX_HORIZON_DAYS)
        number(f"{k}[1]", pt[1], lo, hi, lo_open=lo_open)
        days.append(day_of(pt[0]))
    if any(b <= a for a, b in zip(days, days[1:], strict=False)):
        raise ConfigError(key, points, "points in strictly increasing time order", "unordered")


# ----------------------------------------------------------------------------- param metadata
_NO_DEFAULT = object()


def param(default: Any = _NO_DEFAULT, lo: float | None = None, hi: float | None = None, *,
          lo_open: bool = False, hi_open: bool = False, unit: str = "", doc: str = "",
          choices: tuple[str, ...] | None = None, kind: str | None = None,
          inf: bool = False) -> Any:
    """A dataclass field with its metadata: allowed range ``[lo, hi]`` (ends open where flagged),
    ``unit``, ``doc``, ``choices`` for strings, and ``kind`` for values with a shape of their
    own (``"date"``: ``YYYY-MM-DD``; ``"path"``: ``[[day or date, value], ...]`` with values in
    ``[lo, hi]``); ``inf`` lets a number without an upper bound be ``inf`` ("no limit").  Lists,
    dicts and dataclass defaults are copied for each instance."""
    meta = {"lo": lo, "hi": hi, "lo_open": lo_open, "hi_open": hi_open, "unit": unit,
            "doc": doc, "choices": tuple(choices) if choices else None, "kind": kind}
    if inf:
        meta["inf"] = True
    if default is _NO_DEFAULT:
        return dataclasses.field(metadata=meta)
    if isinstance(default, (list, dict)) or dataclasses.is_dataclass(default):
        return dataclasses.field(default_factory=lambda: copy.deepcopy(default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def fields_of(cls: type) -> list[tuple[dataclasses.Field, Any]]:
    """``(field, resolved type)`` of every field of a dataclass, in order."""
    hints = _hints(cls)
    return [(f, hints[f.name]) for f in dataclasses.fields(cls)]


def _optional(typ: Any) -> tuple[Any, bool]:
    args = typing.get_args(typ)
    if typing.get_origin(typ) in (typing.Union, types.UnionType) and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        return (rest[0] if len(rest) == 1 else Any), True
    return typ, False


def _type_word(typ: Any, m: dict) -> str:
    typ, optional = _optional(typ)
    lo, hi = m.get("lo"), m.get("hi")
    if typ is bool:
        word = "true or false"
    elif typ is int:
        word = interval_text("an integer", lo, hi, False, m.get("hi_open", False))
    elif typ is float:
        word = interval_text("a number", lo, hi, m.get("lo_open", False), m.get("hi_open", False),
                             m.get("inf", False) and hi is None)
    elif m.get("kind") == "date":
        word = "an ISO date YYYY-MM-DD"
    elif m.get("choices"):
        word = "one of " + ", ".join(m["choices"])
    elif typ is str:
        word = "a string"
    elif m.get("kind") == "path":
        word = "[[day or date, value], ...] with values " + interval_text(
            "", lo, hi, m.get("lo_open", False)).strip()
    elif typing.get_origin(typ) is list or typ is list:
        word = "a list"
    elif typing.get_origin(typ) is dict or typ is dict:
        word = "a mapping"
    elif dataclasses.is_dataclass(typ):
        word = f"a mapping of {typ.__name__} keys"
    else:
        word = "any value"
    return f"{word} or null" if optional else word


def plain(value: Any) -> Any:
    """A dataclass instance as a plain dict of its fields (recursively); anything else as is."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)) and not isinstance(value, str):
        return [plain(v) for v in value]
    return value


def _check(key: str, value: Any, typ: Any, m: dict, day_of) -> Any:
    typ, optional = _optional(typ)
    if value is None:
        if optional:
            return None
        raise ConfigError(key, value, _type_word(typ, m), "missing value")
    if typ is Any:
        return value
    if typ is bool:
        if not isinstance(value, bool):
            raise ConfigError(key, value, "true or false", "not a boolean")
        return value
    if typ is int:
        return integer(key, value, m.get("lo"), m.get("hi"), hi_open=m.get("hi_open", False))
    if typ is float:
        return number(key, value, m.get("lo"), m.get("hi"), lo_open=m.get("lo_open", False),
                      hi_open=m.get("hi_open", False), inf=m.get("inf", False))
    if typ is str:
        if m.get("kind") == "date":
            date(key, value)
            return value
        if not isinstance(value, str):
            raise ConfigError(key, value, _type_word(typ, m), "not a string")
        if m.get("choices") and value not in m["choices"]:
            raise ConfigError(key, value, ", ".join(m["choices"]), "unknown option")
        return value
    origin = typing.get_origin(typ) or typ
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(key, value, _type_word(typ, m), "not a list")
        if m.get("kind") == "path":
            path(key, value, day_of or float, m.get("lo"), m.get("hi"),
                 lo_open=m.get("lo_open", False))
            return [list(p) for p in value]
        (item,) = typing.get_args(typ) or (Any,)
        inner = {**m, "kind": None}
        return [_check(f"{key}[{i}]", v, item, inner, day_of) for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(key, value, _type_word(typ, m), "not a mapping")
        _, item = typing.get_args(typ) or (str, Any)
        return {str(k): _check(f"{key}.{k}", v, item, {}, day_of) for k, v in value.items()}
    if dataclasses.is_dataclass(typ):
        return load(typ, value, key, day_of=day_of)
    raise TypeError(f"{key}: unsupported field type {typ!r}")  # a schema bug, not user input


def check_field(cls: type, name: str, value: Any, key: str | None = None,
                day_of: Callable[[Any], float] | None = None) -> Any:
    """Check one ``value`` of field ``name`` of the dataclass ``cls`` (its type and range) and
    return it; the error names ``key`` (default: the field's name)."""
    for f, typ in fields_of(cls):
        if f.name == name:
            return _check(name if key is None else key, value, typ, f.metadata, day_of)
    raise KeyError(f"{cls.__name__} has no field {name!r}")


def load(cls: type, raw: Any, key: str = "", *, day_of: Callable[[Any], float] | None = None):
    """Check ``raw`` (a mapping, or an instance of ``cls``) against the dataclass ``cls`` and
    return the instance.

    Every key of ``raw`` must be a field of ``cls``; every field missing from ``raw`` takes its
    default (a field without one is required).  ``day_of`` turns a path's dates into day numbers
    for its time-order check.

    Raises
    ------
    ConfigError
        For the first unknown key, missing value, wrong type or value out of range; its key is
        ``key`` joined with the field's name.
    """
    raw = plain(raw)
    where = key or "the config"
    if not isinstance(raw, Mapping):
        raise ConfigError(key or "<root>", raw, f"a mapping of {cls.__name__} keys",
                          "not a mapping")
    fields = fields_of(cls)
    names = {f.name for f, _ in fields}
    for k in raw:
        if k not in names:
            bad, value = f"{key}.{k}" if key else str(k), raw[k]
            while isinstance(value, Mapping) and len(value) == 1:  # name the leaf that was set
                (sub, value), = value.items()
                bad = f"{bad}.{sub}"
            raise ConfigError(bad, value,
                              f"keys of {where}: {', '.join(f.name for f, _ in fields)}",
                              "unknown key")
    values = {}
    for f, typ in fields:
        sub = f"{key}.{f.name}" if key else f.name
        if f.name in raw:
            value = raw[f.name]
        elif f.default is not dataclasses.MISSING:
            value = f.default
        elif f.default_factory is not dataclasses.MISSING:
            value = plain(f.default_factory())
        else:
            raise ConfigError(sub, Raw("???"), _type_word(typ, f.metadata), "missing value")
        values[f.name] = _check(sub, value, typ, f.metadata, day_of)
    return cls(**values)


def describe(cls: type, prefix: str = "", defaults: Mapping | None = None
             ) -> list[tuple[str, str, Any, str]]:
    """``(key, allowed, default, doc)`` of every leaf field of ``cls`` (nested dataclasses
    flattened with dots): the text of ``pricewars --help`` and the dashboard's controls.
    A nested section's defaults are those of its field's default instance (``defaults``), not
    of its class."""
    out = []
    for f, typ in fields_of(cls):
        key = f"{prefix}{f.name}"
        base, _ = _optional(typ)
        if defaults is not None and f.name in defaults:
            default = defaults[f.name]
        elif f.default is not dataclasses.MISSING:
            default = plain(f.default)
        elif f.default_factory is not dataclasses.MISSING:
            default = plain(f.default_factory())
        else:
            default = Raw("???")
        if dataclasses.is_dataclass(base):
            out += describe(base, f"{key}.", default if isinstance(default, Mapping) else None)
            continue
        unit = f.metadata.get("unit")
        doc = f.metadata.get("doc", "") + (f" [{unit}]" if unit else "")
        out.append((key, _type_word(typ, f.metadata), default, doc.strip()))
    return out
