"""PriceWarModel: a Mesa model whose clock is a SimPy environment.

One clock: ``env.now`` in days (1.0 = one day).  ``model.step()`` advances exactly one day by
running the SimPy environment to the next integer time, so Mesa's own ``model.time`` equals
``env.now`` between steps and SolaraViz can drive the same model.

Within day ``d``: scripted shocks and the firms' decisions (price reviews, reactions, training
runs, GPU orders and deliveries) happen at their own event times, mostly ``d`` itself; the token
market clears at ``d + 0.5`` and books every firm's day; the day is then recorded by Mesa's
DataCollector; financing decisions (funding rounds, exits) follow.

One source of randomness: ``numpy.random.SeedSequence(seed)``; every consumer gets its own
Generator keyed by a stable name (``segments``, ``firm:<name>``, ...), so adding a firm does not
reshuffle anyone else's draws.
"""

from __future__ import annotations

import dataclasses
import functools
import operator
import zlib

import mesa
import numpy as np
import pandas as pd
import simpy

from sim.config import Config, DistConfig, SegmentsConfig
from sim.economics import hhi
from sim.firms import FIRM_CLASSES, Firm, Outcome
from sim.markets import tokens

__all__ = ["PriceWarModel", "MarketView", "OfferBook", "SeedTree", "Segments", "FIRM_COLUMNS",
           "MARKET_COLUMNS", "EVENT_COLUMNS"]


class SeedTree:
    """Named, independent Generators derived from one seed.

    ``generator(name)`` is ``Generator(PCG64(SeedSequence(seed, spawn_key=(crc32(name),))))``:
    the same name always gets the same stream, whatever else is drawn.
    """

    def __init__(self, seed: int):
        self.seed = int(seed)

    def generator(self, name: str) -> np.random.Generator:
        key = zlib.crc32(name.encode("utf-8"))
        return np.random.Generator(np.random.PCG64(np.random.SeedSequence(self.seed,
                                                                          spawn_key=(key,))))


def draw(d: DistConfig, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` draws from a segment distribution (see :class:`sim.config.DistConfig`)."""
    if d.dist == "constant":
        return np.full(n, float(d.mean))
    if d.dist == "lognormal":
        return d.mean * np.exp(d.sigma * rng.standard_normal(n) - 0.5 * d.sigma**2)
    if d.dist == "uniform":
        return rng.uniform(d.low, d.high, n)
    raise ValueError(f"unknown distribution {d.dist!r}")  # validate() rejects this earlier


class Segments:
    """Customer segments as arrays.

    Base sizes are lognormal weights ``w_j = exp(size_sigma * Z_j)`` scaled to sum to
    ``total_m_tokens_per_day``; on day ``t`` segment ``j`` wants
    ``M_j(t) = M_j(0) * growth_per_year^(t/365) * J(t)`` million tokens, where ``J`` is the
    product of demand-jump shocks so far.
    """

    def __init__(self, cfg: SegmentsConfig, rng: np.random.Generator):
        w = np.exp(cfg.size_sigma * rng.standard_normal(cfg.count))
        self.base_sizes = cfg.total_m_tokens_per_day * w / w.sum()
        self.alpha = draw(cfg.price_sensitivity, cfg.count, rng)
        self.theta = draw(cfg.quality_taste, cfg.count, rng)
        self.growth = cfg.growth_per_year
        self.jump = 1.0

    def sizes_at(self, day: float) -> np.ndarray:
        return self.base_sizes * (self.jump * self.growth ** (day / 365.0))


@dataclasses.dataclass(frozen=True, slots=True)
class MarketView:
    """What a firm sees at a decision: every active firm's offer (``me`` is its own index), its
    own capacity (million tokens a day), and the demand side today."""

    me: int
    prices: np.ndarray
    qualities: np.ndarray
    capacity: float
    sizes: np.ndarray
    alpha: np.ndarray
    theta: np.ndarray
    outside_price: float
    outside_quality: float
    capacity_limits: bool
    book: OfferBook | None = None

    def rival_log_term(self) -> np.ndarray:
        """``L_j = ln(1 + sum_{k != me} exp(v_kj))`` per segment: the rivals' and the outside
        option's logit weight, from the model's offer book when there is one."""
        if self.book is not None:
            return self.book.rival_log_term(self.me)
        others = np.arange(self.prices.shape[0]) != self.me
        return tokens.log_inclusive(tokens.relative_utilities(
            self.prices[others], self.qualities[others], self.alpha, self.theta,
            self.outside_price, self.outside_quality))


class OfferBook:
    """The active firms' offers as arrays, with each segment's logit weights for today.

    With a per-segment shift ``m_j = max(0, max_k v_kj)`` set when the book is built,
    ``E_jk = exp(v_kj - m_j)`` and ``T_j = exp(-m_j) + sum_k E_jk``, so that firm ``i``'s rivals'
    log term is ``L_ij = ln(1 + sum_{k != i} exp(v_kj)) = m_j + ln(T_j - E_ji)``.  A price or
    quality change updates one column and ``T`` in O(S); rows where a subtraction would lose
    precision are recomputed exactly.  The book is rebuilt (O(S n)) on a new day, when the
    outside option's offer moves, and on an entry or exit.  It is a cache: the firms' ``price``
    and ``quality`` attributes are the state.
    """

    #: Rows where ``T_j - E_ji`` is below this share of ``T_j`` (the firm holds over 99.99% of the
    #: segment's logit weight) are recomputed exactly: the subtraction would lose digits.
    PRECISION = 1e-4

    def __init__(self, model: PriceWarModel):
        self.model = model
        self.day: int | None = None

    def invalidate(self) -> None:
        self.day = None

    def current(self) -> OfferBook:
        if self.day != self.model.day:
            self._rebuild()
        return self

    def _utilities(self, prices, qualities, rows=slice(None)) -> np.ndarray:
        seg = self.model.segments
        return tokens.relative_utilities(prices, qualities, seg.alpha[rows], seg.theta[rows],
                                         self.outside_price, self.outside_quality)

    def _rebuild(self) -> None:
        m = self.model
        act = m.active
        self.slot = {firm: k for k, firm in enumerate(act)}
        self.prices = np.array([f.price for f in act])
        self.qualities = np.array([f.quality for f in act])
        self.outside_price, self.outside_quality = m.outside_price(), m.outside_quality()
        v = self._utilities(self.prices, self.qualities)
        self.shift = np.maximum(v.max(axis=1, initial=0.0), 0.0)
        self.weights = np.exp(v - self.shift[:, None])
        self.total = np.exp(-self.shift) + self.weights.sum(axis=1)
        self.day = m.day

    def update(self, firm: Firm) -> None:
        """Firm ``firm`` posted a new price or released a model."""
        if self.day != self.model.day:
            return  # stale anyway: rebuilt on next use
        k = self.slot[firm]
        self.prices[k], self.qualities[k] = firm.price, firm.quality
        x = self._utilities(self.prices[k : k + 1], self.qualities[k : k + 1])[:, 0] - self.shift
        if x.max() > 700.0:  # far above the day's shift: rebuild with a new one
            self._rebuild()
            return
        new = np.exp(x)
        old = self.weights[:, k].copy()
        before = self.total.copy()
        self.weights[:, k] = new
        self.total += new - old
        risky = old > 0.5 * before
        if risky.any():
            self.total[risky] = np.exp(-self.shift[risky]) + self.weights[risky].sum(axis=1)

    def rival_log_term(self, k: int) -> np.ndarray:
        """``L_kj = ln(1 + sum_{i != k} exp(v_ij))`` for every segment ``j``."""
        rest = self.total - self.weights[:, k]
        bad = ~(rest > self.PRECISION * self.total)
        out = self.shift + np.log(rest, where=~bad, out=np.zeros_like(rest))
        if bad.any():
            others = np.arange(self.prices.shape[0]) != k
            out[bad] = tokens.log_inclusive(self._utilities(self.prices[others],
                                                            self.qualities[others], bad))
        return out


# Columns of the output tables, in order.  docs/outputs.md gives each one's unit.
_FIRM_REPORTERS = {
    "day": operator.attrgetter("model.day"),
    "firm": operator.attrgetter("name"),
    "kind": operator.attrgetter("kind"),
    "price_usd_per_m": operator.attrgetter("price"),
    "marginal_cost_usd_per_m": operator.attrgetter("marginal_cost"),
    "quality": operator.attrgetter("quality"),
    "choice_share": operator.attrgetter("outcome.choice_share"),
    "token_share": operator.attrgetter("outcome.token_share"),
    "firm_share": operator.attrgetter("outcome.firm_share"),
    "demand_m_tokens": operator.attrgetter("outcome.demand_m_tokens"),
    "served_m_tokens": operator.attrgetter("outcome.served_m_tokens"),
    "rationed_m_tokens": operator.attrgetter("outcome.rationed_m_tokens"),
    "capacity_m_tokens": operator.attrgetter("outcome.capacity_m_tokens"),
    "gpus": operator.attrgetter("gpus"),
    "gpus_serving": operator.attrgetter("gpus_serving"),
    "gpus_training": operator.attrgetter("gpus_training"),
    "gpus_on_order": operator.attrgetter("gpus_on_order"),
    "revenue_usd": operator.attrgetter("flows.revenue_usd"),
    "serving_cost_usd": operator.attrgetter("flows.serving_cost_usd"),
    "training_cost_usd": operator.attrgetter("flows.training_cost_usd"),
    "fixed_cost_usd": operator.attrgetter("flows.fixed_cost_usd"),
    "capex_usd": operator.attrgetter("flows.capex_usd"),
    "depreciation_usd": operator.attrgetter("flows.depreciation_usd"),
    "funding_usd": operator.attrgetter("flows.funding_usd"),
    "subsidy_usd": operator.attrgetter("flows.subsidy_usd"),
    "operating_profit_usd": operator.attrgetter("flows.operating_profit_usd"),
    "cash_usd": operator.attrgetter("cash"),
}
FIRM_COLUMNS = ["day", "date", *list(_FIRM_REPORTERS)[1:]]
MARKET_COLUMNS = [
    "day", "date", "n_firms", "total_demand_m_tokens", "firms_demand_m_tokens", "served_m_tokens",
    "rationed_m_tokens", "unserved_m_tokens", "outside_m_tokens", "outside_choice_share",
    "outside_price_usd_per_m", "outside_quality", "mean_price_usd_per_m", "min_price_usd_per_m",
    "hhi", "customer_spend_usd", "consumer_surplus_usd",
]
EVENT_COLUMNS = ["time", "day", "date", "firm", "kind", "detail", "value"]


class PriceWarModel(mesa.Model):
    """Firms (Mesa agents with SimPy processes) competing in a daily-cleared token market.

    Parameters
    ----------
    cfg : Config
        A validated configuration (:func:`sim.config.validate`).
    """

    def __init__(self, cfg: Config):
        self.cfg = cfg
        self.seeds = SeedTree(cfg.seed)
        super().__init__(rng=self.seeds.generator("mesa"))
        self.env = simpy.Environment()
        self.segments = Segments(cfg.segments, self.seeds.generator("segments"))
        self._outside_price = _path_arrays(cfg, cfg.outside.price)
        self._outside_quality = _path_arrays(cfg, cfg.outside.quality)
        self.active: list[Firm] = []
        self.book = OfferBook(self)
        self.firms: dict[str, Firm] = {}  # every firm that ever entered, by name
        self.exits: dict[str, int] = {}  # firm name -> the day it left
        # State the rules of this model share (the Q-learning arena), by summary key; each
        # object's ``summary(firms, market)`` is added to the run summary under that key.
        self.shared: dict[str, object] = {}
        self.market_row: dict[str, float] = {}
        self.datacollector = mesa.DataCollector(
            model_reporters={c: functools.partial(_market_value, column=c)
                             for c in MARKET_COLUMNS if c != "date"},
            agent_reporters=_FIRM_REPORTERS,
            tables={"events": EVENT_COLUMNS},
        )
        for name in cfg.firms:
            if cfg.entry_day(name) is None:
                self.enter(name)
        self.env.process(self._shocks())
        self.env.process(self._market_days())
        self.running = cfg.horizon_days > 0

    # ----------------------------------------------------------------- clock
    @property
    def now(self) -> float:
        """Simulated time in days (SimPy's ``env.now``)."""
        return self.env.now

    @property
    def day(self) -> int:
        """The current day, ``floor(now)``."""
        return int(self.env.now)

    def step(self) -> None:
        """Advance one day."""
        self.env.run(until=self.env.now + 1.0)
        self.running = self.env.now < self.cfg.horizon_days

    def run(self, progress: bool = False) -> None:
        """Run to ``horizon_days``; ``progress`` shows a tqdm bar on a terminal."""
        from tqdm.auto import tqdm

        remaining = int(self.cfg.horizon_days - self.env.now)
        with tqdm(total=remaining, unit="day", disable=not progress or None, leave=False) as bar:
            while self.running:
                self.step()
                bar.update(1)

    # ----------------------------------------------------------------- environment
    def outside_price(self, day: float | None = None) -> float:
        """The outside option's price (USD/M) on ``day`` (today by default)."""
        return float(np.interp(self.day if day is None else day, *self._outside_price))

    def outside_quality(self, day: float | None = None) -> float:
        return float(np.interp(self.day if day is None else day, *self._outside_quality))

    def algorithmic_progress(self) -> float:
        """Effective-compute multiplier ``algorithmic_progress_per_year^(now/365)``."""
        return self.cfg.technology.algorithmic_progress_per_year ** (self.env.now / 365.0)

    def trained_quality(self, effective_gpu_hours: float) -> float:
        """``quality_anchor + points_per_decade * log10(C / anchor_gpu_hours)``."""
        t = self.cfg.technology
        if effective_gpu_hours <= 0:
            return -np.inf
        return t.quality_anchor + t.points_per_decade * np.log10(
            effective_gpu_hours / t.anchor_gpu_hours)

    def view(self, firm: Firm) -> MarketView:
        """The market as ``firm`` sees it now."""
        book = self.book.current()
        return MarketView(
            me=book.slot[firm],
            prices=book.prices.copy(),
            qualities=book.qualities.copy(),
            capacity=firm.capacity_m_tokens,
            sizes=self.segments.sizes_at(self.day),
            alpha=self.segments.alpha,
            theta=self.segments.theta,
            outside_price=book.outside_price,
            outside_quality=book.outside_quality,
            capacity_limits=self.cfg.market.capacity_limits,
            book=book,
        )

    # ----------------------------------------------------------------- firms
    def enter(self, name: str) -> Firm:
        """Create firm ``name`` (a Mesa agent) now and let rivals see the entry."""
        fcfg = self.cfg.firms[name]
        firm = FIRM_CLASSES[fcfg.kind](self, name, fcfg)
        self.active.append(firm)
        self.firms[name] = firm
        self.book.invalidate()
        self.log(firm, "entry", f"{fcfg.kind} at {firm.price:.6g} USD/M, quality "
                 f"{firm.quality:.0f}", firm.price)
        self.announce(firm, "entry")
        return firm

    def on_exit(self, firm: Firm) -> None:
        self.active.remove(firm)
        self.exits[firm.name] = self.day
        self.book.invalidate()

    def announce(self, firm: Firm, kind: str) -> None:
        """Tell every active rival that watches ``firm`` about its move (price_change, entry or
        release); a price change or release also updates the offer book."""
        if kind != "entry":
            self.book.update(firm)
        for other in self.active:
            if other.watches(firm):
                other.notify(firm, kind)

    def log(self, firm: Firm | None, kind: str, detail: str, value: float = 0.0) -> None:
        """Append a row to the events table."""
        self.datacollector.add_table_row("events", {
            "time": float(self.env.now), "day": self.day, "date": "",
            "firm": firm.name if firm is not None else "", "kind": kind, "detail": detail,
            "value": float(value),
        })

    # ----------------------------------------------------------------- processes
    def _shocks(self):
        for shock in sorted(self.cfg.shocks, key=lambda s: self.cfg.day_of(s.at)):
            at = self.cfg.day_of(shock.at)
            if at > self.env.now:
                yield self.env.timeout(at - self.env.now)
            if shock.kind == "entry":
                self.enter(shock.firm)
            elif shock.kind == "price_cut":
                firm = self.firms.get(shock.firm)
                if firm is not None and firm.alive:
                    self.log(firm, "shock", f"price cut of {shock.fraction:.0%}", shock.fraction)
                    firm.set_price(firm.price * (1.0 - shock.fraction), "shock")
            elif shock.kind == "demand_jump":
                self.segments.jump *= shock.factor
                self.log(None, "shock", f"demand x{shock.factor:g}", shock.factor)

    def _market_days(self):
        yield self.env.timeout(0.5)
        while True:
            self._clear()
            self.datacollector.collect(self)
            for firm in self.active:
                firm.record_day()
            for firm in list(self.active):
                firm.after_day()
            yield self.env.timeout(1.0)

    def _clear(self) -> None:
        """Clear today's token market and book every firm's day."""
        act = self.active
        day = self.day
        sizes = self.segments.sizes_at(day)
        total = float(sizes.sum())
        p0, q0 = self.outside_price(), self.outside_quality()
        row = dict.fromkeys(MARKET_COLUMNS[2:], 0.0)
        row.update(day=day, total_demand_m_tokens=total, outside_price_usd_per_m=p0,
                   outside_quality=q0, outside_m_tokens=total, outside_choice_share=1.0)
        if act:
            for firm in act:
                firm.depreciate()
            prices = np.array([f.price for f in act])
            capacities = np.array([f.capacity_m_tokens for f in act])
            res = tokens.clear(
                prices, np.array([f.quality for f in act]),
                capacities if self.cfg.market.capacity_limits else None,
                sizes, self.segments.alpha, self.segments.theta, p0, q0,
                self.cfg.market.rechoice_rounds,
            )
            served_total = float(res.served.sum())
            firm_shares = res.served / served_total if served_total > 0 else np.zeros(len(act))
            for k, firm in enumerate(act):
                firm.settle(Outcome(
                    demand_m_tokens=float(res.demand[k]), served_m_tokens=float(res.served[k]),
                    rationed_m_tokens=float(res.rationed[k]),
                    capacity_m_tokens=float(capacities[k]),
                    choice_share=float(res.choice_share[k]),
                    token_share=float(res.served[k]) / total,
                    firm_share=float(firm_shares[k]),
                ), float(res.revenue[k]))
            row.update(
                n_firms=len(act), firms_demand_m_tokens=float(res.demand.sum()),
                served_m_tokens=served_total, rationed_m_tokens=float(res.rationed.sum()),
                unserved_m_tokens=res.unserved, outside_m_tokens=res.outside,
                outside_choice_share=res.outside_choice_share,
                mean_price_usd_per_m=res.spend / served_total if served_total > 0 else 0.0,
                min_price_usd_per_m=float(prices.min()), hhi=hhi(firm_shares),
                customer_spend_usd=res.spend, consumer_surplus_usd=res.consumer_surplus,
            )
        self.market_row = row

    # ----------------------------------------------------------------- results
    def tables(self) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        """``(firms, market, events)`` DataFrames of everything recorded so far."""
        dc = self.datacollector
        start = np.datetime64(self.cfg.start, "D")
        if dc._agent_records:
            firms = dc.get_agent_vars_dataframe().reset_index(drop=True)
        else:
            firms = pd.DataFrame(columns=[c for c in FIRM_COLUMNS if c != "date"])
        firms = _with_date(firms.astype({"day": "int64"}), start)[FIRM_COLUMNS]
        market = pd.DataFrame(dc.model_vars)
        if market.empty:
            market = pd.DataFrame(columns=[c for c in MARKET_COLUMNS if c != "date"])
        market = _with_date(market.astype({"day": "int64", "n_firms": "int64"}),
                            start)[MARKET_COLUMNS]
        events = dc.get_table_dataframe("events").astype({"day": "int64", "time": "float64",
                                                           "value": "float64"})
        events = _with_date(events.drop(columns="date"), start)[EVENT_COLUMNS]
        return firms, market, events


def _market_value(model: PriceWarModel, column: str) -> float:
    """Mesa model reporter: one column of the day's market row."""
    return model.market_row[column]


def _with_date(df: pd.DataFrame, start: np.datetime64) -> pd.DataFrame:
    df = df.copy()
    days = df["day"].to_numpy().astype("timedelta64[D]")
    df["date"] = (start + days).astype("datetime64[ms]")  # the unit parquet stores
    return df


def _path_arrays(cfg: Config, points) -> tuple[np.ndarray, np.ndarray]:
    days = np.array([cfg.day_of(p[0]) for p in points], dtype=float)
    values = np.array([float(p[1]) for p in points])
    return days, values
