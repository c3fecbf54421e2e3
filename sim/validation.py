"""Validation at the edge: one composed config in, one typed :class:`~sim.config.Config` out.

Every value is checked from its field's :func:`~sim.core.params.param` metadata by
:func:`sim.core.params.load` (type, range, unknown keys); each firm's section against its kind's
config (:data:`sim.firms.KINDS`), then each kind's components' and rules' ``check()``.  The
hand-written checks here are cross-references only: shocks name firms that exist and fall inside
the horizon, a firm enters at most once, at least one firm.  Every failure is a one-line
:class:`~sim.core.errors.ConfigError` naming the key, the value and what is allowed.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

from sim.config import compose as _compose
from sim.config.schema import Config, publish
from sim.core import params
from sim.core.errors import ConfigError
from sim.firms import KINDS

__all__ = ["validate", "firm_section", "firm_schema", "register_schema"]


def _spec_schema(kind: str) -> type:
    """Hydra's mirror of a rule spec: ``rule``, ``preset`` and every parameter of every rule of
    that kind, all unset (``None``); the checker keeps only what is set."""
    from sim.strategies import REGISTRY

    names: dict[str, None] = {}
    for _, cls in REGISTRY[kind].items():
        for f in dataclasses.fields(cls.Params):
            names.setdefault(f.name)
    fields = [("rule", Any, dataclasses.field(default=None)),
              ("preset", Any, dataclasses.field(default=None))]
    fields += [(n, Any, dataclasses.field(default=None)) for n in names]
    return publish(dataclasses.make_dataclass(f"{kind.title()}SpecSchema", fields), __name__)


def firm_schema() -> type:
    """Hydra's mirror of a firm section: the union of every kind's keys, all unset (``None``), so
    that ``firms.X.quality=1200`` is a key whatever the preset sets, while a misspelled key is
    refused at composition.  :func:`firm_section` then checks the keys that are set against the
    firm's own kind, so a key of another kind is refused there."""
    from sim.config.schema import hydra_schema
    from sim.firms import FirmConfig

    specs = {k: _spec_schema(k) for k in ("pricing", "research", "capacity")}
    fields: dict[str, tuple[str, Any, dataclasses.Field]] = {}
    for _, kind in KINDS.items():
        mirror = hydra_schema(kind.Config, types_of=specs, unset=True, module=__name__)
        for f in dataclasses.fields(mirror):
            if f.name not in fields:
                fields[f.name] = (f.name, f.type, dataclasses.field(
                    default=f.default, default_factory=f.default_factory)
                    if f.default_factory is dataclasses.MISSING else
                    dataclasses.field(default_factory=f.default_factory))
    for name in (f.name for f in dataclasses.fields(FirmConfig)):
        fields.setdefault(name, (name, Any, dataclasses.field(default=None)))
    return publish(dataclasses.make_dataclass("FirmSchema", list(fields.values())), __name__)


def _config_schema() -> type:
    from sim.config.schema import hydra_schema

    return hydra_schema(Config, types_of={"firms": dict[str, firm_schema()]}, module=__name__)


#: Hydra's schema of the whole config, built when this module is imported, its classes
#: published here so that a process launcher's workers can unpickle a config.
CONFIG_SCHEMA = _config_schema()


def register_schema() -> None:
    """Register the config schema (:data:`CONFIG_SCHEMA`) in Hydra's ConfigStore."""
    from sim.config.schema import register_configs

    register_configs(CONFIG_SCHEMA)


def _set(raw: Any) -> Any:
    """``raw`` without its unset (``None``) entries, recursively; a mapping left empty is
    unset too.  Lists are kept as they are."""
    if isinstance(raw, dict):
        out = {}
        for k, v in raw.items():
            v = _set(v)
            if v is None or (isinstance(v, dict) and not v and k != "preset"):
                continue
            out[k] = v
        return out
    return raw


def firm_section(key: str, raw: Any, day_of=None):
    """A firm's raw section checked against its kind's config dataclass."""
    if dataclasses.is_dataclass(raw) and not isinstance(raw, type):
        raw = params.plain(raw)
    if not isinstance(raw, dict):
        raise ConfigError(key, raw, "a mapping of the firm's keys, or a preset with "
                          f"+firm@{key}=NAME ({', '.join(KINDS.names())})", "not a firm section")
    raw = _set(raw)
    kind = KINDS.get(raw.get("kind"), f"{key}.kind")
    return params.load(kind.Config, raw, key, day_of=day_of)


def validate(cfg: Any) -> Config:
    """Check a composed configuration (a ``DictConfig``, a plain mapping or a
    :class:`Config`) and return it as a typed :class:`Config`.

    Raises
    ------
    ConfigError
        Naming the first offending key, its value and the allowed range.
    """
    if hasattr(cfg, "_metadata") and hasattr(cfg, "_get_node"):  # an OmegaConf container
        from omegaconf import OmegaConf

        raw = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)
        raw.pop("hydra", None)
    else:
        raw = params.plain(cfg)
    if not isinstance(raw, dict):
        raise ConfigError("<root>", type(cfg).__name__, "a pricewars Config", "not a config")
    firms_raw = raw.get("firms", {})
    start = params.date("start_date", raw.get("start_date", "2024-01-01"))
    day_of = functools.partial(params.day_number, start=start)
    typed: Config = params.load(Config, {**raw, "firms": {}}, day_of=day_of)
    if not isinstance(firms_raw, dict):
        raise ConfigError("firms", firms_raw, "a mapping of firm name to its section",
                          "not a mapping")
    if not firms_raw:
        raise ConfigError("firms", {}, "at least one firm", "no firms")
    for name, section in firms_raw.items():
        name = str(name)
        if not name.replace("_", "").isalnum():
            raise ConfigError(f"firms.{name}", name, "letters, digits and _", "bad firm name")
        typed.firms[name] = firm_section(f"firms.{name}", section, day_of)
    for name, section in typed.firms.items():
        kind = KINDS.get(section.kind)
        for comp in kind.components:
            comp.check(f"firms.{name}", section, typed)
    _check_shocks(typed)
    _check_release_targets(typed)
    _check_targets(typed)
    return typed



@dataclasses.dataclass
class PriceCutTarget:
    """An observed first price cut (``targets.price_cuts.<firm>``)."""

    date: str = params.param(kind="date", doc="calendar date of the cut")
    cut_pct: float = params.param(lo=0.0, hi=100.0, unit="%", doc="depth, % of the pre-war price")


def _check_targets(cfg: Config) -> None:
    """``targets.price_cuts`` names firms, each with a date and a depth in [0, 100];
    ``targets.fitted_on`` lists some of those firms."""
    targets = cfg.targets or {}
    cuts = targets.get("price_cuts") or {}
    if not isinstance(cuts, dict):
        raise ConfigError("targets.price_cuts", cuts, "a mapping of firm to {date, cut_pct}",
                          "not a mapping")
    for name, obs in cuts.items():
        key = f"targets.price_cuts.{name}"
        if name not in cfg.firms:
            raise ConfigError(key, name, ", ".join(cfg.firms), "unknown firm")
        params.load(PriceCutTarget, obs, key)
    fitted = targets.get("fitted_on")
    if fitted is not None:
        if not isinstance(fitted, list) or not fitted:
            raise ConfigError("targets.fitted_on", fitted, "a non-empty list of firms in "
                              "targets.price_cuts", "not a list")
        for i, name in enumerate(fitted):
            if name not in cuts:
                raise ConfigError(f"targets.fitted_on[{i}]", name,
                                  f"a firm of targets.price_cuts: {', '.join(cuts) or 'none'}",
                                  "no observed cut")


def _check_shocks(cfg: Config) -> None:
    for i, sh in enumerate(cfg.shocks):
        key = f"shocks[{i}]"
        if isinstance(sh.at, str):
            params.when(f"{key}.at", sh.at, cfg.start, cfg.horizon_days)
        else:
            params.integer(f"{key}.at", sh.at, 0, cfg.horizon_days, hi_open=True)
        if sh.kind in ("entry", "price_cut"):
            if sh.firm not in cfg.firms:
                raise ConfigError(f"{key}.firm", sh.firm, ", ".join(cfg.firms), "unknown firm")
        elif sh.kind == "export_control":
            _check_export_control(cfg, key, sh)
        elif sh.firm is not None:
            raise ConfigError(f"{key}.firm", sh.firm, "null for a demand_jump",
                              "a demand jump applies to the whole market")
        if sh.firms and sh.kind != "export_control":
            raise ConfigError(f"{key}.firms", sh.firms, "[] (firms lists an export_control's "
                              "firms)", f"not used by a {sh.kind} shock")
    entries = [s.firm for s in cfg.shocks if s.kind == "entry"]
    if len(entries) != len(set(entries)):
        dup = next(f for f in entries if entries.count(f) > 1)
        raise ConfigError("shocks", dup, "one entry shock per firm", "firm enters twice")


def _check_export_control(cfg: Config, key: str, sh) -> None:
    """An ``export_control`` names at least one firm (``firm`` and/or ``firms``), each a firm of
    the config."""
    if sh.firm is None and not sh.firms:
        raise ConfigError(f"{key}.firms", sh.firms, "the firms under the export control: "
                          f"{', '.join(cfg.firms)}", "no firm named")
    if sh.firm is not None and sh.firm not in cfg.firms:
        raise ConfigError(f"{key}.firm", sh.firm, ", ".join(cfg.firms), "unknown firm")
    for i, name in enumerate(sh.firms):
        if name not in cfg.firms:
            raise ConfigError(f"{key}.firms[{i}]", name, ", ".join(cfg.firms), "unknown firm")


def _check_release_targets(cfg: Config) -> None:
    """``targets.releases``: ``{firm: [date or {date, model}, ...]}``, firms of the config,
    ISO dates in strictly increasing order."""
    releases = (cfg.targets or {}).get("releases")
    if releases is None:
        return
    key = "targets.releases"
    if not isinstance(releases, dict):
        raise ConfigError(key, releases, "a mapping of firm name to its recorded releases",
                          "not a mapping")
    for firm, items in releases.items():
        fk = f"{key}.{firm}"
        if firm not in cfg.firms:
            raise ConfigError(fk, items, ", ".join(cfg.firms), "unknown firm")
        if not isinstance(items, list) or not items:
            raise ConfigError(fk, items, "a non-empty list of dates or {date, model}", "empty")
        last = None
        for i, it in enumerate(items):
            ik = f"{fk}[{i}]"
            if isinstance(it, dict):
                extra = set(it) - {"date", "model"}
                if extra or "date" not in it:
                    raise ConfigError(ik, it, "a date or a mapping {date, model}",
                                      "bad release entry")
                if not isinstance(it.get("model", ""), str):
                    raise ConfigError(f"{ik}.model", it["model"], "a string", "not a string")
                date = params.date(f"{ik}.date", it["date"])
            else:
                date = params.date(ik, it)
            if last is not None and date <= last:
                raise ConfigError(ik, str(date), f"a date after {last}", "unordered")
            last = date


# The composer (config layer) learns the full schema and the kinds' names from here.
_compose.configure(register=register_schema, firm_kinds=KINDS.names)
