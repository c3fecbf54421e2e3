"""Configuration: dataclass schemas registered in Hydra's ConfigStore, and validation.

Hydra composes ``conf/config.yaml`` over the schema :class:`Config` (registered as
``config_schema``), so a wrong *type* (``seed=abc``) or an unknown key fails at composition.
:func:`validate` then checks every value's *range* and cross-references (rules exist, shocks name
firms, dates parse) and returns the typed :class:`Config`.  Every failure is a
:class:`ConfigError` whose one-line message names the key, the value and what is allowed.

Units follow ``DESIGN.md``: days, USD, USD per million tokens, million tokens, quality points,
H100-equivalent GPUs and GPU-hours.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, OmegaConf

from sim import checks
from sim.errors import ConfigError
from sim.strategies import spec_schema, validate_spec

__all__ = [
    "ConfigError",
    "DistConfig",
    "SegmentsConfig",
    "OutsideConfig",
    "TechnologyConfig",
    "MarketConfig",
    "FundingConfig",
    "FirmConfig",
    "ShockConfig",
    "OutputConfig",
    "Config",
    "validate",
    "FIRM_KINDS",
    "SHOCK_KINDS",
]

FIRM_KINDS = ("lean_lab", "tech_giant")
SHOCK_KINDS = ("entry", "price_cut", "demand_jump")
MAX_HORIZON_DAYS = checks.MAX_HORIZON_DAYS
MAX_SEGMENTS = 1_000_000


# ----------------------------------------------------------------------------- schemas
@dataclass
class DistConfig:
    """A distribution across customer segments.

    ``constant``: every segment gets ``mean``.  ``lognormal``: ``mean * exp(sigma*Z - sigma^2/2)``,
    whose expectation is ``mean``.  ``uniform``: on ``[low, high]``.
    """

    dist: str = "constant"
    mean: float = 1.0
    sigma: float = 0.0
    low: float = 0.0
    high: float = 1.0


@dataclass
class SegmentsConfig:
    """Customer segments (arrays, not agents).

    Segment sizes are lognormal weights (log-sd ``size_sigma``) scaled to
    ``total_m_tokens_per_day``; every size grows by ``growth_per_year`` per 365 days.
    """

    count: int = 200
    total_m_tokens_per_day: float = 100_000.0
    size_sigma: float = 1.0
    growth_per_year: float = 1.0
    price_sensitivity: DistConfig = field(
        default_factory=lambda: DistConfig(dist="lognormal", mean=1.0, sigma=0.5)
    )  # per USD/M
    quality_taste: DistConfig = field(
        default_factory=lambda: DistConfig(dist="lognormal", mean=0.02, sigma=0.5)
    )  # USD/M per quality point


@dataclass
class OutsideConfig:
    """The outside option: a frontier closed model.  Paths are ``[[day or date, value], ...]``,
    linearly interpolated and held constant beyond their ends."""

    label: str = "frontier"
    price: list[Any] = field(default_factory=lambda: [[0, 10.0]])  # USD per million tokens
    quality: list[Any] = field(default_factory=lambda: [[0, 1250.0]])  # quality points


@dataclass
class TechnologyConfig:
    """Shared technology.  Quality of a model trained with effective compute ``C`` (H100-hours
    times the firm's training efficiency times algorithmic progress):
    ``quality_anchor + points_per_decade * log10(C / anchor_gpu_hours)``."""

    tokens_per_gpu_hour_m: float = 4.0
    quality_anchor: float = 1200.0
    anchor_gpu_hours: float = 3.0e6
    points_per_decade: float = 80.0
    algorithmic_progress_per_year: float = 1.0


@dataclass
class MarketConfig:
    """Token-market clearing options."""

    capacity_limits: bool = True
    rechoice_rounds: int = 1


@dataclass
class FundingConfig:
    """Venture funding rounds (lean labs).

    A round starts when runway (cash over trailing 30-day burn) falls below
    ``raise_below_runway_days``; it closes ``round_days`` later with probability
    ``1 / (1 + exp(-(success_intercept + success_slope * score)))``, where the performance score is
    ``log(revenue last 30 days / revenue the 30 before)`` (clipped to [-2, 2]) plus
    ``(quality - outside quality) / 100`` (momentum counts from 60 days of history).  A closed
    round raises ``min(max_round_usd, max(min_round_usd, revenue_multiple * annualised
    revenue))``.  Runway is cash over minus the mean daily free cash flow of the last 90 days.
    """

    enabled: bool = False
    raise_below_runway_days: float = 180.0
    round_days: float = 60.0
    retry_days: float = 30.0
    min_round_usd: float = 1.0e8
    max_round_usd: float = 1.0e10
    revenue_multiple: float = 10.0
    success_intercept: float = 1.0
    success_slope: float = 2.0


# A rule spec: ``rule`` plus every parameter of every registered rule of that kind (None = the
# chosen rule's default).  Generated from the registry in sim.strategies.
PricingSpec = spec_schema("pricing")
ResearchSpec = spec_schema("research")
CapacitySpec = spec_schema("capacity")


@dataclass
class FirmConfig:
    """One firm.  ``kind`` picks the agent class; strategies are picked by ``rule`` name."""

    kind: str = MISSING
    label: str = ""
    cash_usd: float = 1.0e9
    price_usd_per_m: float = 1.0
    quality: float = 1200.0
    gpus: float = 1000.0
    inference_efficiency: float = 1.0
    training_efficiency: float = 1.0
    cost_per_gpu_hour_usd: float = 1.0
    gpu_price_usd: float = 25_000.0
    gpu_lead_days: float = 120.0
    gpu_depreciation_per_year: float = 0.2
    fixed_cost_usd_per_day: float = 0.0
    review_days: float = 30.0
    first_review_day: float = 1.0
    reaction_lag_days: float | None = None
    reacts_to: list[str] = field(default_factory=lambda: ["all"])
    subsidy_usd_per_day: float = 0.0
    funding: FundingConfig = field(default_factory=FundingConfig)
    pricing: PricingSpec = field(default_factory=lambda: PricingSpec(rule="cost_plus"))
    research: ResearchSpec = field(default_factory=lambda: ResearchSpec(rule="none"))
    capacity: CapacitySpec = field(default_factory=lambda: CapacitySpec(rule="none"))


@dataclass
class ShockConfig:
    """A scripted shock at a date: a firm's ``entry``, a ``price_cut`` of ``fraction`` of its
    price, or a ``demand_jump`` multiplying every segment's size by ``factor``."""

    at: Any = MISSING
    kind: str = MISSING
    firm: str | None = None
    fraction: float = 0.0
    factor: float = 1.0


@dataclass
class OutputConfig:
    """What a run writes besides its tables."""

    figures: bool = True


@dataclass
class Config:
    """A whole scenario."""

    name: str = "custom"
    description: str = ""
    seed: int = 0
    horizon_days: int = 1095
    start_date: str = "2024-01-01"
    segments: SegmentsConfig = field(default_factory=SegmentsConfig)
    outside: OutsideConfig = field(default_factory=OutsideConfig)
    technology: TechnologyConfig = field(default_factory=TechnologyConfig)
    market: MarketConfig = field(default_factory=MarketConfig)
    firms: dict[str, FirmConfig] = field(default_factory=dict)
    shocks: list[ShockConfig] = field(default_factory=list)
    targets: dict[str, Any] = field(default_factory=dict)
    output: OutputConfig = field(default_factory=OutputConfig)

    # ----- helpers used by the model (not configuration keys) -----
    @property
    def start(self) -> _dt.date:
        return _dt.date.fromisoformat(self.start_date)

    def day_of(self, when: Any) -> float:
        """Day offset of ``when``: a number of days, or an ISO date counted from ``start_date``."""
        if isinstance(when, str):
            return float((_dt.date.fromisoformat(when) - self.start).days)
        return float(when)

    def entry_day(self, firm: str) -> float | None:
        """The day a firm enters by an ``entry`` shock, or ``None`` if present from day 0."""
        days = [self.day_of(s.at) for s in self.shocks if s.kind == "entry" and s.firm == firm]
        return min(days) if days else None


def register_configs() -> None:
    """Register the schema as ``config_schema`` in Hydra's ConfigStore (idempotent)."""
    ConfigStore.instance().store(name="config_schema", node=Config)


register_configs()


# ----------------------------------------------------------------------------- validation
def _dist(key: str, d: DistConfig) -> None:
    allowed = ("constant", "lognormal", "uniform")
    if d.dist not in allowed:
        raise ConfigError(f"{key}.dist", d.dist, ", ".join(allowed), "unknown distribution")
    if d.dist == "uniform":
        checks.number(f"{key}.low", d.low, 0, None, lo_open=True)
        checks.number(f"{key}.high", d.high, d.low, None)
    else:
        checks.number(f"{key}.mean", d.mean, 0, None, lo_open=True, hi_open=True)
        checks.number(f"{key}.sigma", d.sigma, 0, 5)


def _firm(key: str, f: FirmConfig, cfg: Config) -> None:
    if f.kind not in FIRM_KINDS:
        raise ConfigError(f"{key}.kind", f.kind, ", ".join(FIRM_KINDS), "unknown firm kind")
    checks.number(f"{key}.cash_usd", f.cash_usd, 0, 1e15)
    checks.number(f"{key}.price_usd_per_m", f.price_usd_per_m, 0, 1e6)
    checks.number(f"{key}.quality", f.quality, -1e5, 1e5)
    checks.number(f"{key}.gpus", f.gpus, 0, 1e9)
    checks.number(f"{key}.inference_efficiency", f.inference_efficiency, 0, 1e4, lo_open=True)
    checks.number(f"{key}.training_efficiency", f.training_efficiency, 0, 1e4, lo_open=True)
    checks.number(f"{key}.cost_per_gpu_hour_usd", f.cost_per_gpu_hour_usd, 0, 1e4)
    checks.number(f"{key}.gpu_price_usd", f.gpu_price_usd, 0, 1e8)
    checks.number(f"{key}.gpu_lead_days", f.gpu_lead_days, 0, 3650)
    checks.number(f"{key}.gpu_depreciation_per_year", f.gpu_depreciation_per_year, 0, 1)
    checks.number(f"{key}.fixed_cost_usd_per_day", f.fixed_cost_usd_per_day, 0, 1e12)
    checks.number(f"{key}.review_days", f.review_days, 0, MAX_HORIZON_DAYS, lo_open=True)
    checks.number(f"{key}.first_review_day", f.first_review_day, 0, MAX_HORIZON_DAYS)
    if f.reaction_lag_days is not None:
        checks.number(f"{key}.reaction_lag_days", f.reaction_lag_days, 0, 3650, lo_open=True)
    targets = set(cfg.firms) | set(FIRM_KINDS) | {"all"}
    for i, who in enumerate(f.reacts_to):
        if who not in targets:
            raise ConfigError(
                f"{key}.reacts_to[{i}]", who, "all, a firm kind or a firm name", "unknown firm"
            )
    checks.number(f"{key}.subsidy_usd_per_day", f.subsidy_usd_per_day, 0, 1e12)
    if f.kind == "lean_lab" and f.subsidy_usd_per_day > 0:
        raise ConfigError(
            f"{key}.subsidy_usd_per_day", f.subsidy_usd_per_day, "0 for a lean_lab",
            "a lean lab has no external profit stream",
        )
    if f.kind == "tech_giant" and f.funding.enabled:
        raise ConfigError(
            f"{key}.funding.enabled", True, "false for a tech_giant",
            "a tech giant is funded by its parent's subsidy, not by venture rounds",
        )
    fu, fk = f.funding, f"{key}.funding"
    checks.number(f"{fk}.raise_below_runway_days", fu.raise_below_runway_days, 0, MAX_HORIZON_DAYS)
    checks.number(f"{fk}.round_days", fu.round_days, 0, 3650, lo_open=True)
    checks.number(f"{fk}.retry_days", fu.retry_days, 0, 3650, lo_open=True)
    checks.number(f"{fk}.min_round_usd", fu.min_round_usd, 0, 1e13)
    checks.number(f"{fk}.max_round_usd", fu.max_round_usd, fu.min_round_usd, 1e13)
    checks.number(f"{fk}.revenue_multiple", fu.revenue_multiple, 0, 1e3)
    checks.number(f"{fk}.success_intercept", fu.success_intercept, -50, 50)
    checks.number(f"{fk}.success_slope", fu.success_slope, -50, 50)
    for kind in ("pricing", "research", "capacity"):
        validate_spec(kind, getattr(f, kind), f"{key}.{kind}", cfg)


def validate(cfg: DictConfig | Config) -> Config:
    """Check a composed configuration and return it as a typed :class:`Config`.

    Raises
    ------
    ConfigError
        Naming the first offending key, its value and the allowed range.
    """
    if isinstance(cfg, DictConfig):
        cfg = OmegaConf.to_object(cfg)
    if not isinstance(cfg, Config):
        raise ConfigError("<root>", type(cfg).__name__, "a pricewars Config", "not a config")

    checks.integer("seed", cfg.seed, 0, 2**63, hi_open=True)
    checks.integer("horizon_days", cfg.horizon_days, 1, MAX_HORIZON_DAYS)
    checks.date("start_date", cfg.start_date)

    s = cfg.segments
    checks.integer("segments.count", s.count, 1, MAX_SEGMENTS)
    checks.number("segments.total_m_tokens_per_day", s.total_m_tokens_per_day, 0, 1e15,
                  lo_open=True)
    checks.number("segments.size_sigma", s.size_sigma, 0, 5)
    checks.number("segments.growth_per_year", s.growth_per_year, 0, 1e3, lo_open=True)
    _dist("segments.price_sensitivity", s.price_sensitivity)
    _dist("segments.quality_taste", s.quality_taste)

    checks.path("outside.price", cfg.outside.price, cfg.day_of, 0, 1e6)
    checks.path("outside.quality", cfg.outside.quality, cfg.day_of, -1e5, 1e5)

    t = cfg.technology
    checks.number("technology.tokens_per_gpu_hour_m", t.tokens_per_gpu_hour_m, 0, 1e6, lo_open=True)
    checks.number("technology.quality_anchor", t.quality_anchor, -1e5, 1e5)
    checks.number("technology.anchor_gpu_hours", t.anchor_gpu_hours, 0, 1e15, lo_open=True)
    checks.number("technology.points_per_decade", t.points_per_decade, 0, 1e4)
    checks.number("technology.algorithmic_progress_per_year", t.algorithmic_progress_per_year,
                  0, 1e3, lo_open=True)

    checks.integer("market.rechoice_rounds", cfg.market.rechoice_rounds, 0, 100)

    if not cfg.firms:
        raise ConfigError("firms", {}, "at least one firm", "no firms")
    for name, f in cfg.firms.items():
        if not name.replace("_", "").isalnum():
            raise ConfigError(f"firms.{name}", name, "letters, digits and _", "bad firm name")
        _firm(f"firms.{name}", f, cfg)

    for i, sh in enumerate(cfg.shocks):
        key = f"shocks[{i}]"
        if sh.kind not in SHOCK_KINDS:
            raise ConfigError(f"{key}.kind", sh.kind, ", ".join(SHOCK_KINDS), "unknown shock")
        checks.when(f"{key}.at", sh.at, cfg.start, cfg.horizon_days)  # before the last day ends
        if sh.kind in ("entry", "price_cut"):
            if sh.firm not in cfg.firms:
                raise ConfigError(f"{key}.firm", sh.firm, ", ".join(cfg.firms), "unknown firm")
        elif sh.firm is not None:
            raise ConfigError(f"{key}.firm", sh.firm, "null for a demand_jump",
                              "a demand jump applies to the whole market")
        if sh.kind == "price_cut":
            checks.number(f"{key}.fraction", sh.fraction, 0, 1)
        if sh.kind == "demand_jump":
            checks.number(f"{key}.factor", sh.factor, 0, 1e6)
    entries = [s.firm for s in cfg.shocks if s.kind == "entry"]
    if len(entries) != len(set(entries)):
        dup = next(f for f in entries if entries.count(f) > 1)
        raise ConfigError("shocks", dup, "one entry shock per firm", "firm enters twice")
    return cfg
