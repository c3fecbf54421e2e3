"""Decision rules chosen by name in config: pricing, research, capacity and hosting.

A config names a rule and its parameters, e.g. ``pricing: {rule: undercut, step: 0.05}``; it
never names an import path, so a shared config file cannot run code.  Each rule is a small class
registered with :func:`register`; its ``Params`` dataclass declares the parameters with their
defaults, allowed ranges, units and docs (:func:`sim.core.params.param`), from which
:func:`validate_spec` checks a spec and :func:`make` builds the rule.

Specs are strict: every key besides ``rule`` and ``preset`` must be a parameter of the named
rule, or the spec is refused with the rule's parameters listed.  ``preset`` holds the parameters
a firm preset tunes for each rule, by rule name (``preset: {undercut: {step: 0.1}}``); they apply
when that rule is chosen, under any parameter set at the top level.  So switching a preset's
rule on the command line (``firms.giant.pricing.rule=best_response``) leaves the preset's
undercut tuning aside, while ``firms.lab.pricing.rule=undercut firms.lab.pricing.markup=0.3``
is an error (``markup`` is a cost_plus parameter).

A rule sees only frozen views (:mod:`sim.views`): the market, its own firm and its context.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from sim.core.errors import ConfigError
from sim.core.params import load
from sim.core.params import param as param
from sim.core.registry import Registry

__all__ = ["REGISTRY", "KINDS", "register", "param", "make", "parse", "validate_spec", "Rule",
           "rules"]

KINDS = ("pricing", "research", "capacity", "hosting")


def _load() -> None:
    # Importing the modules registers their rules.
    from sim.strategies import capacity, hosting, learning, pricing, research  # noqa: F401


REGISTRY: dict[str, Registry] = {kind: Registry(f"{kind} rule", _load) for kind in KINDS}


class Rule:
    """Base class of every decision rule; ``params`` is an instance of the class's ``Params``."""

    kind: str = ""
    name: str = ""

    @dataclasses.dataclass
    class Params:
        pass

    def __init__(self, params: Params):
        self.params = params

    def bind(self, ctx) -> None:
        """Called once when the firm that uses the rule is created (``ctx``: its
        :class:`~sim.views.RuleContext`); rules that learn together join their shared state."""

    @classmethod
    def check(cls, key: str, params: Params, cfg) -> None:
        """Cross-checks beyond per-parameter ranges (override where needed); ``cfg`` is the
        whole typed config."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.params})"


def register(kind: str, name: str):
    """Class decorator: register a rule under ``kind``/``name``."""
    deco = REGISTRY[kind].register(name)

    def wrap(cls: type[Rule]) -> type[Rule]:
        cls.kind = kind
        return deco(cls)

    return wrap


def rules(kind: str) -> list[str]:
    """Registered rule names of one kind, sorted."""
    return REGISTRY[kind].names()


def _as_dict(spec: Any) -> Any:
    if dataclasses.is_dataclass(spec) and not isinstance(spec, type):
        return {k: v for k, v in dataclasses.asdict(spec).items() if v is not None}
    if isinstance(spec, Mapping):
        return dict(spec)
    return spec


def parse(kind: str, spec: Any, key: str | None = None) -> tuple[type[Rule], Rule.Params]:
    """``(rule class, checked Params)`` of a spec ``{rule: name, param: value, ...}``.

    Raises
    ------
    ConfigError
        No ``rule``, an unknown rule, a key that is not a parameter of that rule (the message
        lists the rule's parameters), or a parameter out of its range.
    """
    key = kind if key is None else key
    spec = _as_dict(spec)
    if not isinstance(spec, dict) or "rule" not in spec:
        raise ConfigError(key, spec, f"a mapping with a 'rule': one of {', '.join(rules(kind))}",
                          "no rule")
    cls = REGISTRY[kind].get(spec["rule"], f"{key}.rule")
    preset = spec.get("preset") or {}
    if not isinstance(preset, Mapping):
        raise ConfigError(f"{key}.preset", preset, "a mapping of rule name to its parameters",
                          "not a mapping")
    for name, tuned in preset.items():
        other = REGISTRY[kind].get(name, f"{key}.preset.{name}")
        _strict(kind, other, tuned, f"{key}.preset.{name}")
    values = {k: v for k, v in spec.items() if k not in ("rule", "preset")}
    _strict(kind, cls, values, key)
    merged = {**dict(preset.get(cls.name) or {}), **values}
    return cls, load(cls.Params, merged, key)


def _strict(kind: str, cls: type[Rule], values: Any, key: str) -> None:
    if not isinstance(values, Mapping):
        raise ConfigError(key, values, f"a mapping of parameters of {kind} rule '{cls.name}'",
                          "not a mapping")
    own = [f.name for f in dataclasses.fields(cls.Params)]
    for k, v in values.items():
        if k not in own:
            raise ConfigError(f"{key}.{k}", v, f"parameters of {kind} rule '{cls.name}': "
                              f"{', '.join(own) or 'none'}", "unknown parameter")


def validate_spec(kind: str, spec: Any, key: str, cfg) -> None:
    """Check a rule spec and its rule's cross-checks; raise :class:`ConfigError`."""
    cls, params = parse(kind, spec, key)
    cls.check(key, params, cfg)


def make(kind: str, spec: Any) -> Rule:
    """Build a rule from a spec (checked as by :func:`parse`)."""
    cls, params = parse(kind, spec, kind)
    return cls(params)
