"""Decision rules chosen by name in config: pricing, research and capacity.

A config names a rule and its parameters, e.g. ``pricing: {rule: undercut, step: 0.05}``; it
never names an import path, so a shared config file cannot run code.  Each rule is a small class
registered with :func:`register`; its ``Params`` dataclass declares the parameters with their
defaults and allowed ranges (:func:`param`), from which :func:`validate_spec` checks a config
and :func:`make` builds the rule.

The config schema of a rule spec (:func:`spec_schema`) is generated from the registry: ``rule``
plus every parameter of every rule of that kind, each optional (``None`` = the chosen rule's
default).  So ``firms.x.pricing.target_share=0.3`` is a typed key on the command line, and keys
that belong to another rule of the same kind are ignored, which lets ``firms.x.pricing.rule`` be
switched without deleting the old rule's parameters.
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any

from sim import checks
from sim.errors import ConfigError

__all__ = ["REGISTRY", "register", "param", "make", "validate_spec", "spec_schema", "Rule",
           "rules"]

KINDS = ("pricing", "research", "capacity")
REGISTRY: dict[str, dict[str, type[Rule]]] = {kind: {} for kind in KINDS}


def param(default: Any, lo: float | None = None, hi: float | None = None, *,
          lo_open: bool = False, hi_open: bool = False, doc: str = "") -> Any:
    """A rule parameter with its allowed range ``[lo, hi]`` (open ends where flagged)."""
    meta = {"lo": lo, "hi": hi, "lo_open": lo_open, "hi_open": hi_open, "doc": doc}
    if isinstance(default, list):
        return dataclasses.field(default_factory=lambda: list(default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


class Rule:
    """Base class of every decision rule; ``params`` is an instance of the class's ``Params``."""

    kind: str = ""
    name: str = ""

    @dataclasses.dataclass
    class Params:
        pass

    def __init__(self, params: Params):
        self.params = params

    @classmethod
    def check(cls, key: str, params: Params, cfg) -> None:
        """Extra validation beyond per-parameter ranges (override where needed)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.params})"


def register(kind: str, name: str):
    """Class decorator: register a rule under ``kind``/``name``."""

    def deco(cls: type[Rule]) -> type[Rule]:
        cls.kind, cls.name = kind, name
        REGISTRY[kind][name] = cls
        return cls

    return deco


def rules(kind: str) -> list[str]:
    """Registered rule names of one kind, sorted."""
    _load()
    return sorted(REGISTRY[kind])


def _load() -> None:
    # Importing the modules registers their rules.
    from sim.strategies import capacity, learning, pricing, research  # noqa: F401


def _base_type(typ: Any) -> tuple[Any, bool]:
    """``(T, optional)`` for ``T`` or ``T | None``."""
    args = typing.get_args(typ)
    if type(None) in args:
        return next(a for a in args if a is not type(None)), True
    return typ, False


def _check_value(key: str, value: Any, f: dataclasses.Field, hints: dict[str, Any]) -> Any:
    typ, optional = _base_type(hints[f.name])
    if value is None and optional:
        return None
    m = f.metadata
    if typ is bool:
        if not isinstance(value, bool):
            raise ConfigError(key, value, "true or false", "not a boolean")
        return value
    if typ is list or typing.get_origin(typ) is list:
        if not isinstance(value, list):
            raise ConfigError(key, value, "a list", "not a list")
        return value
    if typ is int:
        return checks.integer(key, value, m.get("lo"), m.get("hi"), hi_open=m.get("hi_open", False))
    return checks.number(key, value, m.get("lo"), m.get("hi"), lo_open=m.get("lo_open", False),
                         hi_open=m.get("hi_open", False))


def spec_schema(kind: str) -> type:
    """The config dataclass of a ``kind`` rule spec: ``rule`` and every registered parameter.

    Raises ``TypeError`` if two rules declare the same parameter name with different types.
    """
    _load()
    types: dict[str, Any] = {}
    for cls in REGISTRY[kind].values():
        hints = typing.get_type_hints(cls.Params)
        for f in dataclasses.fields(cls.Params):
            typ = _base_type(hints[f.name])[0]
            if types.setdefault(f.name, typ) != typ:
                raise TypeError(f"{kind} parameter {f.name!r} has two types: "
                                f"{types[f.name]} and {typ}")
    spec = [("rule", str)] + [(name, typ | None, None) for name, typ in sorted(types.items())]
    cls = dataclasses.make_dataclass(f"{kind.title()}Spec", spec)
    cls.__doc__ = f"A {kind} rule spec: ``rule`` ({', '.join(sorted(REGISTRY[kind]))}) and its " \
                  "parameters; unset parameters take the rule's defaults."
    return cls


def _as_dict(spec: Any) -> Any:
    if dataclasses.is_dataclass(spec) and not isinstance(spec, type):
        return {k: v for k, v in dataclasses.asdict(spec).items() if v is not None}
    if hasattr(spec, "items"):
        return {k: v for k, v in spec.items() if v is not None}
    return spec


def _params(kind: str, spec: Any, key: str) -> tuple[type[Rule], Rule.Params]:
    _load()
    spec = _as_dict(spec)
    if not isinstance(spec, dict) or "rule" not in spec:
        raise ConfigError(key, spec, f"a mapping with a 'rule': one of {', '.join(rules(kind))}",
                          "no rule")
    name = spec["rule"]
    if name not in REGISTRY[kind]:
        raise ConfigError(f"{key}.rule", name, ", ".join(rules(kind)), f"unknown {kind} rule")
    cls = REGISTRY[kind][name]
    hints = typing.get_type_hints(cls.Params)
    own = {f.name: f for f in dataclasses.fields(cls.Params)}
    others = {
        f.name for c in REGISTRY[kind].values() for f in dataclasses.fields(c.Params)
    }
    values = {}
    for k, v in spec.items():
        if k == "rule":
            continue
        if k in own:
            values[k] = _check_value(f"{key}.{k}", v, own[k], hints)
        elif k not in others:
            allowed = ", ".join(own) or "none"
            raise ConfigError(f"{key}.{k}", v, f"parameters of {kind} rule '{name}': {allowed}",
                              "unknown parameter")
    return cls, cls.Params(**values)


def validate_spec(kind: str, spec: Any, key: str, cfg) -> None:
    """Check a rule spec (``{rule: name, param: value, ...}``); raise :class:`ConfigError`."""
    cls, params = _params(kind, spec, key)
    cls.check(key, params, cfg)


def make(kind: str, spec: Any) -> Rule:
    """Build a rule from a validated spec."""
    cls, params = _params(kind, spec, kind)
    return cls(params)
