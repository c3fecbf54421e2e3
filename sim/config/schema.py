"""The configuration schema: dataclasses whose fields carry :func:`~sim.core.params.param`
metadata (range, unit, doc).

Hydra composes ``conf/config.yaml`` over a mirror of :class:`Config` whose leaves are untyped
(:func:`hydra_schema`, registered as ``config_schema``): it fixes the key set, so a misspelled
key fails at composition, and lets every value through as written, so that the one checker
(:func:`sim.core.params.load`, called by :func:`sim.validation.validate`) sees ``output.figures=2``
as the integer it is, not as a coerced ``true``.  A firm's section depends on its kind
(:mod:`sim.firms`), so ``firms`` is a mapping checked kind by kind.

Units follow ``DESIGN.md``: days, USD, USD per million tokens, million tokens, quality points,
H100-equivalent GPUs and GPU-hours.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import math
import types
import typing
from typing import Any

from sim.core.params import MAX_HORIZON_DAYS, day_number, fields_of, param

__all__ = [
    "DistConfig",
    "SegmentsConfig",
    "OutsideConfig",
    "TechnologyConfig",
    "MarketConfig",
    "BitcoinConfig",
    "ComputeConfig",
    "ShockConfig",
    "OutputConfig",
    "Config",
    "SHOCK_KINDS",
    "MAX_SEGMENTS",
    "MAX_HORIZON_DAYS",
    "hydra_schema",
    "register_configs",
    "publish",
]

SHOCK_KINDS = ("entry", "price_cut", "demand_jump", "export_control")
BTC_MODELS = ("path", "gbm")
HASHRATE_MODELS = ("path", "response")
#: The last block height that pays a subsidy: from 33 halvings (6,930,000) on it is 0.
LAST_SUBSIDY_HEIGHT = 33 * 210_000 - 1
MAX_SEGMENTS = 1_000_000


@dataclasses.dataclass
class DistConfig:
    """A distribution across customer segments.

    ``constant``: every segment gets ``mean``.  ``lognormal``: ``mean * exp(sigma*Z - sigma^2/2)``,
    whose expectation is ``mean``.  ``uniform``: on ``[low, high]``.
    """

    dist: str = param("constant", choices=("constant", "lognormal", "uniform"),
                      doc="constant, lognormal or uniform")
    mean: float = param(1.0, 0, None, lo_open=True, doc="mean (constant, lognormal)")
    sigma: float = param(0.0, 0, 5, doc="log-sd (lognormal)")
    low: float = param(0.0, 0, None, doc="lower end (uniform)")
    high: float = param(1.0, 0, None, doc="upper end (uniform)")


@dataclasses.dataclass
class SegmentsConfig:
    """Customer segments (arrays, not agents).

    Segment sizes are lognormal weights (log-sd ``size_sigma``) scaled to
    ``total_m_tokens_per_day``; every size grows by ``growth_per_year`` per 365 days.  A size
    is the segment's usage at a zero price: customers may buy nothing (worth a free model of
    ``no_purchase_quality``) and use ``(1 + p / usage_satiation_usd_per_m)^-usage_elasticity``
    of it at a price ``p`` (:mod:`sim.markets.tokens`).
    """

    count: int = param(200, 1, MAX_SEGMENTS, doc="number of customer segments")
    total_m_tokens_per_day: float = param(100_000.0, 0, 1e15, lo_open=True,
                                          unit="M tokens/day", doc="market size on day 0")
    size_sigma: float = param(1.0, 0, 5, doc="log-sd of segment sizes")
    growth_per_year: float = param(1.0, 0, 1e3, lo_open=True, unit="x per year",
                                   doc="market growth factor a year")
    price_sensitivity: DistConfig = param(DistConfig(dist="lognormal", mean=1.0, sigma=0.5),
                                          unit="per USD/M", doc="alpha across segments")
    quality_taste: DistConfig = param(DistConfig(dist="lognormal", mean=0.02, sigma=0.5),
                                      unit="USD/M per point", doc="theta across segments")
    no_purchase_quality: float = param(1000.0, -1e5, 1e5, unit="points",
                                       doc="not buying is worth a free model of this quality")
    usage_elasticity: float = param(0.0, 0, 0.95, unit="",
                                    doc="usage elasticity eta well above the satiation price")
    usage_satiation_usd_per_m: float = param(1.0, 0, 1e6, lo_open=True, unit="USD/M tokens",
                                             doc="price scale below which usage saturates")


@dataclasses.dataclass
class OutsideConfig:
    """The outside seller: a frontier closed model with an exogenous price path and no capacity
    limit (an ordinary seller to customers; not a player).  Paths are
    ``[[day or date, value], ...]``, linearly interpolated and held constant beyond their ends."""

    enabled: bool = param(True, doc="the outside seller is in the market")
    label: str = param("frontier", doc="name in figures")
    price: list[Any] = param([[0, 10.0]], 0, 1e6, kind="path", unit="USD/M tokens",
                             doc="price path")
    quality: list[Any] = param([[0, 1250.0]], -1e5, 1e5, kind="path", unit="points",
                               doc="quality path")


@dataclasses.dataclass
class TechnologyConfig:
    """Shared technology.  Quality of a model trained with effective compute ``C`` (H100-hours
    times the firm's training efficiency times algorithmic progress):
    ``quality_anchor + points_per_decade * log10(C / anchor_gpu_hours)``."""

    tokens_per_gpu_hour_m: float = param(4.0, 0, 1e6, lo_open=True, unit="M tokens/GPU-hour",
                                         doc="baseline serving throughput")
    quality_anchor: float = param(1200.0, -1e5, 1e5, unit="points",
                                  doc="quality of a model trained with anchor_gpu_hours")
    anchor_gpu_hours: float = param(3.0e6, 0, 1e15, lo_open=True, unit="GPU-hours",
                                    doc="compute of the anchor model")
    points_per_decade: float = param(80.0, 0, 1e4, unit="points per 10x compute",
                                     doc="scaling-law slope")
    algorithmic_progress_per_year: float = param(1.0, 0, 1e3, lo_open=True, unit="x per year",
                                                 doc="effective compute per GPU-hour, growth")


@dataclasses.dataclass
class MarketConfig:
    """Token-market clearing options."""

    capacity_limits: bool = param(True, doc="ration demand at each firm's capacity")
    rechoice_rounds: int = param(1, 0, 100, doc="rounds in which rationed customers choose again")


@dataclasses.dataclass
class BitcoinConfig:
    """The bitcoin network as a world process (:class:`sim.world.network.BitcoinNetwork`):
    block epochs at the total hashrate (the rest of the world plus the firms that mine), Bitcoin's
    difficulty retarget every 2016 blocks, halvings every 210,000, and each day's BTC price,
    fees and hashprice.  Defaults: the network of April 2024 (difficulty 86.39T, BTC about
    $64k, a few thousand blocks before the fourth halving at 840,000); see calibration.md.
    Paths are ``[[day or date, value], ...]``, linear between points, flat beyond their ends."""

    enabled: bool = param(False, doc="simulate the bitcoin network (market columns btc_*, "
                                     "hashprice, difficulty, ...; retarget and halving events)")
    start_height: int = param(838_000, 0, LAST_SUBSIDY_HEIGHT, unit="blocks",
                              doc="chain tip on day 0 (may lie inside a retarget epoch)")
    difficulty: float = param(86.39e12, 0, 1e18, lo_open=True, unit="",
                              doc="difficulty on day 0 (86.39T: April 2024)")
    halvings: bool = param(True, doc="the subsidy halves every 210,000 blocks; false holds it "
                                     "at its start value (the counterfactual)")
    fees_btc_per_block: list[Any] = param([[0, 0.1]], 0, 1e3, kind="path", unit="BTC/block",
                                          doc="transaction fees per block, path")
    btc_price_usd: list[Any] = param([[0, 64_000.0]], 0, 1e9, lo_open=True, kind="path",
                                     unit="USD/BTC", doc="BTC price path (btc_model=path; its "
                                                         "day-0 value starts the gbm)")
    btc_model: str = param("path", choices=BTC_MODELS,
                           doc="path: btc_price_usd as given; gbm: a geometric Brownian motion "
                               "from its day-0 value, drawn once per seed")
    btc_drift_per_year: float = param(0.0, -10, 10, unit="per year",
                                      doc="GBM drift mu (btc_model=gbm)")
    btc_volatility_per_year: float = param(0.5, 0, 5, unit="per sqrt(year)",
                                           doc="GBM volatility sigma (btc_model=gbm)")
    world_hashrate_eh_s: list[Any] = param([[0, 600.0]], 0, 1e6, lo_open=True, kind="path",
                                           unit="EH/s", doc="rest-of-world hashrate path "
                                           "(hashrate_model=path; its day-0 value starts the "
                                           "response)")
    hashrate_model: str = param("path", choices=HASHRATE_MODELS,
                                doc="path: world_hashrate_eh_s as given; response: it grows "
                                    "while hashprice exceeds the marginal miner's hashcost")
    hashrate_response_per_day: float = param(0.01, 0, 1, unit="per day",
                                             doc="k of dH/H = k ln(hashprice / hashcost) dt "
                                                 "(hashrate_model=response)")
    marginal_efficiency_j_per_th: float = param(25.0, 0, 1e4, lo_open=True, unit="J/TH",
                                                doc="the marginal miner's ASIC efficiency")
    marginal_power_usd_per_mwh: float = param(60.0, 0, 1e4, lo_open=True, unit="USD/MWh",
                                              doc="the marginal miner's power price")


@dataclasses.dataclass
class ComputeConfig:
    """The GPU-hour market and new GPUs (``sim/world/compute.py``).

    With ``enabled`` the compute market clears every ``clear_every_days`` days: firms rent
    GPU-hours for the coming period from hosts and giants' clouds.  New GPUs' price
    (``gpu_price_halving_years``) and the world's supply (``gpu_supply_per_quarter``) apply with
    or without the market; their defaults (``inf``) leave GPU orders as they were.  With
    ``world_rentals`` the rest of the world (neoclouds, hyperscalers' spot capacity) rents to and
    from the firms at ``world_price_usd_per_gpu_hour``, so the market is a small open economy
    that takes the world's price."""

    enabled: bool = param(False, doc="clear the GPU-hour rental market")
    clear_every_days: int = param(7, 1, 365, unit="days",
                                  doc="days between clearings; each rents GPU-hours for the "
                                      "coming period of that many days")
    gpu_price_halving_years: float = param(math.inf, 0, None, lo_open=True, inf=True,
                                           unit="years",
                                           doc="the price of a new GPU halves every this many "
                                               "years (inf: constant; ML GPUs' price-performance "
                                               "doubles every ~2.07 years)")
    gpu_supply_per_quarter: float = param(math.inf, 0, None, inf=True, unit="GPUs/quarter",
                                          doc="new GPUs all firms together may order per 91-day "
                                              "quarter (inf: no limit); orders beyond it are cut")
    gpu_price_usd: float = param(30_000.0, 0, 1e8, unit="USD/GPU",
                                 doc="reference price of a new H100-equivalent on day 0, for "
                                     "buyers without a price of their own")
    world_rentals: bool = param(False, doc="the rest of the world rents GPU-hours to and from "
                                           "the firms at world_price_usd_per_gpu_hour (price-"
                                           "taking); false: the firms' orders alone")
    world_price_usd_per_gpu_hour: list[Any] = param(
        [[0, 2.0]], 0, 1e4, lo_open=True, kind="path", unit="USD/GPU-hour",
        doc="the rest of the world's rental price of an H100-equivalent GPU-hour, path "
            "(world_rentals)")


@dataclasses.dataclass
class ShockConfig:
    """A scripted shock at the start of a day: a firm's ``entry``, a ``price_cut`` of
    ``fraction`` of its price, a ``demand_jump`` multiplying every segment's size by
    ``factor``, or an ``export_control`` on ``firm`` and ``firms`` (at most ``gpu_cap`` new GPUs
    a quarter from then on; rentals only at home with ``rentals``, none without).  ``at`` is a
    whole day number or an ISO date."""

    at: Any = param(doc="day number or ISO date")
    kind: str = param(choices=SHOCK_KINDS, doc="entry, price_cut, demand_jump or export_control")
    firm: str | None = param(None, doc="the firm (entry, price_cut, export_control)")
    fraction: float = param(0.0, 0, 1, doc="price cut as a fraction of the price")
    factor: float = param(1.0, 0, 1e6, lo_open=True, doc="demand multiplier")
    firms: list[str] = param([], doc="more firms an export_control applies to")
    gpu_cap: float = param(0.0, 0, None, inf=True, unit="GPUs/quarter",
                           doc="export_control: new GPUs each affected firm may order per 91-day "
                               "quarter from then on (0: none; inf: no cap)")
    rentals: bool = param(True, doc="export_control: renting GPU-hours from sellers of the "
                                    "firm's own jurisdiction stays allowed (cross-border rentals "
                                    "are always barred); false bars every rental")


@dataclasses.dataclass
class OutputConfig:
    """What a run writes besides its tables."""

    figures: bool = param(True, doc="write figures/*.png")
    benchmarks: bool = param(True, doc="each day's static Nash and joint-monopoly prices "
                                       "beside the posted ones (nash_price_usd_per_m, "
                                       "monopoly_price_usd_per_m); false leaves them NaN "
                                       "and saves about a fifth of the default run's time")


@dataclasses.dataclass
class Config:
    """A whole scenario."""

    name: str = param("custom", doc="scenario name")
    description: str = param("", doc="one line on the scenario")
    seed: int = param(0, 0, 2**63, hi_open=True, doc="root of the seed tree")
    horizon_days: int = param(1095, 1, MAX_HORIZON_DAYS, unit="days", doc="days simulated")
    start_date: str = param("2024-01-01", kind="date", doc="calendar date of day 0")
    segments: SegmentsConfig = param(SegmentsConfig(), doc="customer segments")
    outside: OutsideConfig = param(OutsideConfig(), doc="the outside seller")
    technology: TechnologyConfig = param(TechnologyConfig(), doc="shared technology")
    market: MarketConfig = param(MarketConfig(), doc="token-market options")
    bitcoin: BitcoinConfig = param(BitcoinConfig(), doc="the bitcoin network")
    compute: ComputeConfig = param(ComputeConfig(), doc="the GPU-hour market and new GPUs")
    firms: dict[str, Any] = param({}, doc="firm sections by name (see the firm kinds)")
    shocks: list[ShockConfig] = param([], doc="scripted shocks")
    targets: dict[str, Any] = param({}, doc="observed outcomes to compare with")
    output: OutputConfig = param(OutputConfig(), doc="what a run writes")

    # ----- helpers used by the model (not configuration keys) -----
    @property
    def start(self) -> _dt.date:
        return _dt.date.fromisoformat(self.start_date)

    def day_of(self, when: Any) -> float:
        """Day offset of ``when``: a number of days, or an ISO date counted from ``start_date``."""
        return day_number(when, self.start)

    def entry_day(self, firm: str) -> float | None:
        """The day a firm enters by an ``entry`` shock, or ``None`` if present from day 0."""
        days = [self.day_of(s.at) for s in self.shocks if s.kind == "entry" and s.firm == firm]
        return min(days) if days else None


# ----------------------------------------------------------------------------- Hydra
def hydra_schema(cls: type, types_of: dict[str, Any] | None = None,
                 unset: bool = False, module: str = __name__) -> type:
    """A mirror of the dataclass ``cls`` for Hydra: the same keys and defaults, every leaf typed
    ``Any`` (nested dataclasses mirrored), so composition fixes the key set but not the types.

    ``types_of`` gives some fields a mirror type of their own (``firms``: the union of every
    kind's keys); with ``unset`` every default is ``None`` ("not set": the checker then uses the
    field's own default)."""
    fields = []
    for f, typ in fields_of(cls):
        if types_of and f.name in types_of:
            mirror = types_of[f.name]
            if dataclasses.is_dataclass(mirror):
                factory = mirror
            elif f.default_factory is not dataclasses.MISSING:
                factory = f.default_factory
            else:
                factory = dict
            fields.append((f.name, mirror, dataclasses.field(default_factory=factory)))
            continue
        base = typ
        if typing.get_origin(typ) in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(typ) if a is not type(None)]
            base = args[0] if len(args) == 1 else Any
        if dataclasses.is_dataclass(base):
            mirror = hydra_schema(base, unset=unset, module=module)
            if unset:
                fields.append((f.name, mirror, dataclasses.field(default_factory=mirror)))
                continue
            default = f.default_factory() if f.default_factory is not dataclasses.MISSING \
                else f.default
            values = {g.name: getattr(default, g.name) for g in dataclasses.fields(base)}
            fields.append((f.name, mirror, dataclasses.field(
                default_factory=lambda m=mirror, v=values: m(**_mirror_values(m, v)))))
            continue
        if unset:
            fields.append((f.name, Any, dataclasses.field(default=None)))
            continue
        if f.default is not dataclasses.MISSING:
            new = dataclasses.field(default=f.default)
        elif f.default_factory is not dataclasses.MISSING:
            new = dataclasses.field(default_factory=f.default_factory)
        else:
            new = dataclasses.field(default="???")
        fields.append((f.name, Any, new))
    return publish(dataclasses.make_dataclass(
        f"{cls.__name__}{'Unset' if unset else ''}Schema", fields), module)


def publish(cls: type, module: str) -> type:
    """Make a generated class importable by reference (``module.<name>``), as pickling needs:
    Hydra's process launchers (joblib, submitit) send the config, schema classes included, to
    other processes, where a class of no module cannot be rebuilt."""
    import sys

    cls.__module__ = module
    cls.__qualname__ = cls.__name__
    setattr(sys.modules[module], cls.__name__, cls)
    return cls


def _mirror_values(mirror: type, values: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for f in dataclasses.fields(mirror):
        v = values[f.name]
        if dataclasses.is_dataclass(v) and not isinstance(v, type):
            v = f.type(**_mirror_values(f.type, {g.name: getattr(v, g.name)
                                                  for g in dataclasses.fields(v)}))
        out[f.name] = v
    return out


def register_configs(node: type | None = None) -> None:
    """Register ``node`` (default: :func:`hydra_schema` of :class:`Config`) as
    ``config_schema`` in Hydra's ConfigStore (idempotent); :func:`sim.validation.register_schema`
    passes the full one, whose ``firms`` hold the union of every firm kind's keys."""
    from hydra.core.config_store import ConfigStore

    ConfigStore.instance().store(name="config_schema",
                                 node=hydra_schema(Config) if node is None else node)
