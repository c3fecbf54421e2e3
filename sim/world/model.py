"""PriceWarModel: a Mesa model whose clock is a SimPy environment.

One clock: ``env.now`` in days (1.0 = one day).  ``model.step()`` advances exactly one day by
running the SimPy environment to the next integer time, so Mesa's own ``model.time`` equals
``env.now`` between steps and SolaraViz can drive the same model.  The order of a day's work is
the :class:`~sim.world.schedule.DailySchedule` (shocks in the morning; compute market, token
clearing, booking, depreciation, record and financing at midday); firms' decisions are SimPy
processes at their own times.

One source of randomness: the seed tree (:class:`sim.core.rng.SeedTree`) rooted at the config's
seed; the segments, Mesa and every firm's rules and funding draw from their own named children,
so adding a firm does not reshuffle anyone else's draws.
"""

from __future__ import annotations

import functools

import mesa
import numpy as np
import pandas as pd
import simpy

from sim.config.schema import Config
from sim.core.rng import SeedTree
from sim.economics import (
    SegmentMarket,
    demand_state,
    efficient_prices,
    elasticities,
    hhi,
    lerner,
)
from sim.firms import KINDS, Firm, Outcome
from sim.markets import tokens
from sim.views import MarketView
from sim.world.benchmarks import Benchmarks
from sim.world.compute import COMPUTE_COLUMNS, ComputeMarket, GpuSupply
from sim.world.demand import Segments
from sim.world.exogenous import Path, Technology
from sim.world.network import BitcoinNetwork
from sim.world.offers import OfferBook
from sim.world.record import (
    EVENT_COLUMNS,
    FIRM_COLUMNS,
    FIRM_REPORTERS,
    MARKET_COLUMNS,
    NETWORK_COLUMNS,
)
from sim.world.schedule import DailySchedule

__all__ = ["PriceWarModel", "FIRM_COLUMNS", "MARKET_COLUMNS", "EVENT_COLUMNS"]


class PriceWarModel(mesa.Model):
    """Firms (Mesa agents with SimPy processes) competing in a daily-cleared token market.

    Parameters
    ----------
    cfg : Config
        A validated configuration (:func:`sim.validation.validate`).
    """

    def __init__(self, cfg: Config):
        self.cfg = cfg
        self.seeds = SeedTree(cfg.seed)
        super().__init__(rng=self.seeds.generator("mesa"))
        self.env = simpy.Environment()
        self.segments = Segments(cfg.segments, self.seeds.generator("segments"))
        self.outside_price_path = Path(cfg.outside.price, cfg.day_of)
        self.outside_quality_path = Path(cfg.outside.quality, cfg.day_of)
        self.technology = Technology(cfg.technology)
        self.active: list[Firm] = []
        # The bitcoin network (before the firms: a miner may read it when it is created).
        self.bitcoin = (BitcoinNetwork(cfg.bitcoin, cfg, self.env, self.seeds.generator("bitcoin"),
                                       hosts_hashrate=self.hosts_hashrate_eh_s, log=self.log)
                        if cfg.bitcoin.enabled else None)
        seg = cfg.segments
        self.usage = tokens.Usage(seg.usage_elasticity, seg.usage_satiation_usd_per_m)
        self.no_purchase_quality = float(seg.no_purchase_quality)
        self.book = OfferBook(self.segments.alpha, self.segments.theta, self.usage,
                              self.no_purchase_quality)
        self.firms: dict[str, Firm] = {}  # every firm that ever entered, by name
        self.exits: dict[str, int] = {}  # firm name -> the day it left
        # State the rules of this model share (the Q-learning arena), by summary key; each
        # object's ``summary(firms, market)`` is added to the run summary under that key.
        self.shared: dict[str, object] = {}
        self.market_row: dict[str, float] = {}
        self.benchmarks = Benchmarks()
        self._efficient_last: tuple[tuple[str, ...], np.ndarray] = ((), np.zeros(0))
        self.datacollector = mesa.DataCollector(
            model_reporters={c: functools.partial(_market_value, column=c)
                             for c in MARKET_COLUMNS if c != "date"},
            agent_reporters=FIRM_REPORTERS,
            tables={"events": EVENT_COLUMNS},
        )
        self._pending_shocks = sorted(cfg.shocks, key=lambda s: cfg.day_of(s.at))
        # New GPUs' price and supply (always), and the GPU-hour market (compute.enabled).
        self.gpu_supply = GpuSupply(self, cfg.compute)
        self.compute: ComputeMarket | None = (
            ComputeMarket(self, cfg.compute, self.gpu_supply) if cfg.compute.enabled else None)
        # Firms present at t = 0 are created, not announced as entries: every one of them is in
        # the market before anyone's first decision.
        for name in cfg.firms:
            if cfg.entry_day(name) is None:
                self._create(name)
        for firm in list(self.active):
            firm.start()
        steps = {
            "shocks": self._shocks_today,
            **({"compute_market": self.compute.step} if self.compute is not None else {}),
            "token_market": self._clear,
            "booking": self._book,
            "depreciation": self._depreciate,
            "record": self._record,
            "financing": self._financing,
        }
        due = {"shocks": self._shocks_due}
        if self.bitcoin is not None:  # without it the mornings wake only on shock days
            steps["network"] = self.bitcoin.daily
            due["network"] = _every_day
        self.schedule = DailySchedule(self.env, steps, due=due)
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
        return self.outside_price_path(self.day if day is None else day)

    def outside_quality(self, day: float | None = None) -> float:
        return self.outside_quality_path(self.day if day is None else day)

    def algorithmic_progress(self) -> float:
        """Effective-compute multiplier ``algorithmic_progress_per_year^(now/365)``."""
        return self.technology.progress(self.env.now)

    def trained_quality(self, effective_gpu_hours: float) -> float:
        """``quality_anchor + points_per_decade * log10(C / anchor_gpu_hours)``."""
        return self.technology.trained_quality(effective_gpu_hours)

    def compute_price_for(self, firm: Firm) -> float:
        """The compute price ``firm`` faces, USD per GPU-hour (:meth:`ComputeMarket.price_for`;
        NaN without a compute market)."""
        return self.compute.price_for(firm) if self.compute is not None else float("nan")

    @property
    def token_firms(self) -> list[Firm]:
        """The active firms that sell tokens (a ``seller`` component), in market order; a
        firm of another kind (a miner turned host) is active without being in the token
        market."""
        return [f for f in self.active if f.seller is not None]

    def hosts_hashrate_eh_s(self) -> float:
        """The active firms' mining hashrate, EH/s (firms with a ``miner``)."""
        return sum(f.miner.hashrate_eh_s for f in self.active
                   if f.miner is not None)

    def _sellers(self) -> list:
        """Today's sellers in market order: the token firms, then the outside seller (if
        ``outside.enabled``), which has no capacity limit."""
        sellers: list = [f.seller for f in self.token_firms]
        if self.cfg.outside.enabled:
            sellers.append(_Offer(self.outside_price(), self.outside_quality()))
        return sellers

    def _book_now(self) -> OfferBook:
        return self.book.current(self.day, self._sellers())

    def view(self, firm: Firm) -> MarketView:
        """The market as ``firm`` sees it now."""
        book = self._book_now()
        act = self.token_firms
        n = len(act)
        frontier = self.cfg.outside.enabled
        return MarketView(
            me=book.index(firm.seller),
            names=tuple(f.name for f in act),
            prices=book.prices[:n].copy(),
            qualities=book.qualities[:n].copy(),
            costs=np.array([f.seller.marginal_cost for f in act]),
            capacities=np.array([f.seller.capacity_m_tokens for f in act]),
            sizes=self.segments.sizes_at(self.day),
            alpha=self.segments.alpha,
            theta=self.segments.theta,
            frontier_price=float(book.prices[n]) if frontier else None,
            frontier_quality=float(book.qualities[n]) if frontier else None,
            capacity_limits=self.cfg.market.capacity_limits,
            rechoice_rounds=self.cfg.market.rechoice_rounds,
            book=book,
            no_purchase_quality=self.no_purchase_quality,
            usage=self.usage,
        )

    # ----------------------------------------------------------------- firms
    def _create(self, name: str) -> Firm:
        fcfg = self.cfg.firms[name]
        firm = KINDS[fcfg.kind](self, name, fcfg)
        self.active.append(firm)
        self.firms[name] = firm
        self.book.invalidate()
        if firm.seller is not None:
            self.log(firm, "entry", f"{fcfg.kind} at {firm.seller.price:.6g} USD/M, quality "
                     f"{firm.seller.quality:.0f}", firm.seller.price)
        else:
            self.log(firm, "entry", fcfg.kind)
        return firm

    def enter(self, name: str) -> Firm:
        """Firm ``name`` enters now (an entry shock): create it, start it, let rivals see it."""
        firm = self._create(name)
        firm.start()
        self.announce(firm, "entry")
        return firm

    def on_exit(self, firm: Firm) -> None:
        self.active.remove(firm)
        self.exits[firm.name] = self.day
        self.book.invalidate()
        if self.bitcoin is not None and firm.miner is not None:
            self.bitcoin.hashrate_changed()  # its hashrate leaves the network with it

    def announce(self, firm: Firm, kind: str) -> None:
        """Tell every active rival that watches ``firm`` about its move (price_change, entry or
        release), and every rival's components that listen (a research rule that answers
        releases); a price change or release also updates the offer book."""
        if kind != "entry" and firm.seller is not None:
            self.book.update(firm.seller, self.day)
        for other in self.active:
            if other.seller is not None and firm.seller is not None \
                    and other.seller.watches(firm):
                other.seller.notify(firm, kind)
            if other is not firm:
                other.on_rival_move(firm, kind)

    def log(self, firm: Firm | None, kind: str, detail: str, value: float = 0.0) -> None:
        """Append a row to the events table."""
        self.datacollector.add_table_row("events", {
            "time": float(self.env.now), "day": self.day, "date": "",
            "firm": firm.name if firm is not None else "", "kind": kind, "detail": detail,
            "value": float(value),
        })

    # ----------------------------------------------------------------- the daily steps
    def _shocks_due(self, day: int) -> bool:
        return bool(self._pending_shocks) and self.cfg.day_of(self._pending_shocks[0].at) <= day

    def _shocks_today(self) -> None:
        """Morning step: apply every shock dated today."""
        while self._pending_shocks and self.cfg.day_of(self._pending_shocks[0].at) <= self.now:
            shock = self._pending_shocks.pop(0)
            if shock.kind == "entry":
                self.enter(shock.firm)
            elif shock.kind == "price_cut":
                firm = self.firms.get(shock.firm)
                if firm is not None and firm.alive:
                    self.log(firm, "shock", f"price cut of {shock.fraction:.0%}", shock.fraction)
                    firm.seller.set_price(firm.seller.price * (1.0 - shock.fraction), "shock")
            elif shock.kind == "demand_jump":
                self.segments.jump *= shock.factor
                self.log(None, "shock", f"demand x{shock.factor:g}", shock.factor)
            elif shock.kind == "export_control":
                self._export_control(shock)

    def _export_control(self, shock) -> None:
        """An ``export_control`` shock: each of its firms may order at most ``gpu_cap`` new GPUs
        a quarter from today, and rent only at home (``rentals``) or not at all."""
        names = list(dict.fromkeys(([shock.firm] if shock.firm else []) + list(shock.firms)))
        rentals = "only from sellers in its jurisdiction" if shock.rentals else "none"
        for name in names:
            self.gpu_supply.restrict(name, shock.gpu_cap, shock.rentals, self.day)
            firm = self.firms.get(name)
            where = firm.jurisdiction if firm is not None else self.cfg.firms[name].jurisdiction
            self.log(firm, "shock", f"export control on {name} ({where}): at most "
                     f"{shock.gpu_cap:g} new GPUs a quarter, rentals {rentals}", shock.gpu_cap)

    def _clear(self) -> None:
        """Token-market step: clear today's market at the posted offers and capacities, then
        the day's welfare against the efficient benchmark (:meth:`_efficient`)."""
        act = self.token_firms
        n = len(act)
        sizes = self.segments.sizes_at(self.day)
        total = float(sizes.sum())
        p0, q0 = self.outside_price(), self.outside_quality()
        frontier = self.cfg.outside.enabled
        prices = np.array([f.seller.price for f in act] + ([p0] if frontier else []))
        qualities = np.array([f.seller.quality for f in act] + ([q0] if frontier else []))
        capacities = np.array([f.seller.capacity_m_tokens for f in act]
                              + ([np.inf] if frontier else []))
        costs = np.array([f.seller.marginal_cost for f in act] + ([p0] if frontier else []))
        limits = self.cfg.market.capacity_limits
        res = tokens.clear(prices, qualities, capacities if limits else None, sizes,
                           self.segments.alpha, self.segments.theta, 0.0,
                           self.no_purchase_quality, self.cfg.market.rechoice_rounds, self.usage)
        market = SegmentMarket(qualities, costs, sizes, self.segments.alpha, self.segments.theta,
                               0.0, self.no_purchase_quality, capacities if limits else None,
                               self.usage)
        if n and self.cfg.output.benchmarks:
            self._benchmark(act, market, prices[:n], capacities[:n], limits)
        served = res.served[:n]
        served_total = float(served.sum())
        outside = float(res.served[n]) if frontier else 0.0
        bought = served_total + outside
        firm_shares = served / served_total if served_total > 0 else np.zeros(n)
        self._outcomes: list[Outcome] = [Outcome(
            demand_m_tokens=float(res.demand[k]), served_m_tokens=float(served[k]),
            rationed_m_tokens=float(res.rationed[k]), capacity_m_tokens=float(capacities[k]),
            choice_share=float(res.choice_share[k]),
            token_share=float(served[k]) / bought if bought > 0 else 0.0,
            firm_share=float(firm_shares[k]), revenue_usd=float(res.revenue[k]),
        ) for k in range(n)]
        margins = float(((prices - costs)[:n] * served).sum())
        efficient = self._efficient(market, prices, n)
        self.market_row = dict.fromkeys(MARKET_COLUMNS[2:], 0.0) | dict(
            day=self.day, n_firms=n, total_demand_m_tokens=total,
            firms_demand_m_tokens=float(res.demand[:n].sum()), served_m_tokens=served_total,
            rationed_m_tokens=float(res.rationed[:n].sum()), unserved_m_tokens=res.unserved,
            outside_m_tokens=outside,
            outside_choice_share=float(res.choice_share[n]) if frontier else 0.0,
            no_purchase_m_tokens=res.no_purchase,
            no_purchase_choice_share=res.no_purchase_choice_share,
            outside_price_usd_per_m=p0, outside_quality=q0,
            mean_price_usd_per_m=res.spend / served_total if served_total > 0 else 0.0,
            min_price_usd_per_m=float(prices[:n].min()) if n else 0.0,
            hhi=hhi(firm_shares), hhi_with_outside=_hhi_with_outside(served, outside),
            customer_spend_usd=float(res.revenue[:n].sum()),
            consumer_surplus_usd=res.consumer_surplus, rationing_loss_usd=res.rationing_loss,
            efficient_surplus_usd=efficient,
            deadweight_loss_usd=max(efficient - (res.consumer_surplus + margins), 0.0),
        ) | (self.bitcoin.row() if self.bitcoin is not None else _NO_NETWORK)

    def _efficient(self, market: SegmentMarket, prices: np.ndarray, n: int) -> float:
        """Total surplus of the efficient benchmark, USD a day: consumer surplus plus the firms'
        margins ``sum_i (p_i - c_i) D_i`` with every firm at marginal cost, or where its
        capacity binds at the price that fills it (:func:`sim.economics.efficient_prices`),
        today's qualities and capacities, the outside seller at its price."""
        p = prices.copy()
        p[:n] = market.costs[:n]
        cs, demand, _ = demand_state(market, p)  # at cost every margin is zero
        if n and market.capacities is not None and np.any(demand[:n] > market.capacities[:n]):
            names = tuple(f.name for f in self.token_firms)
            start = self._efficient_last[1] if self._efficient_last[0] == names else None
            players = np.arange(n)
            p[:n] = efficient_prices(market, p, players, start=start)
            self._efficient_last = (names, p[:n].copy())
            cs, demand, _ = demand_state(market, p)
            sells = np.isfinite(p[:n])  # a firm without capacity is priced out (+inf)
            return cs + float((p[:n] - market.costs[:n])[sells] @ demand[:n][sells])
        return cs

    def _benchmark(self, act, market: SegmentMarket, prices: np.ndarray,
                   capacities: np.ndarray, limits: bool) -> None:
        """Bring the day's Nash and joint-monopoly prices up to date (``output.benchmarks``);
        ``market`` is today's, the firms first and the outside seller last."""
        n = len(act)
        self.benchmarks.update(tuple(f.name for f in act), prices, market.qualities[:n],
                               market.costs[:n], capacities, market.sizes, self.outside_price(),
                               self.outside_quality(), limits, lambda: market)

    def _book(self) -> None:
        """Booking step: every token firm books its outcome of today's clearing, every other
        firm its day (outcome ``None``)."""
        outcomes = dict(zip((f.name for f in self.token_firms), self._outcomes, strict=True))
        for firm in list(self.active):
            firm.book_day(outcomes.get(firm.name))

    def _depreciate(self) -> None:
        for firm in self.active:
            firm.depreciate()

    def _record(self) -> None:
        """Record step: the day's welfare (once every firm has booked and depreciated), then
        Mesa's DataCollector row, then each firm's history."""
        row = self.market_row
        row.update(self.compute.row() if self.compute is not None
                   else dict.fromkeys(COMPUTE_COLUMNS, float("nan")))
        flows = [f.ledger.flows for f in self.active]
        row["producer_surplus_usd"] = float(sum(f.operating_profit_usd for f in flows))
        row["subsidy_paid_usd"] = float(sum(f.subsidy_usd for f in flows))
        row["total_surplus_usd"] = row["consumer_surplus_usd"] + row["producer_surplus_usd"]
        self.datacollector.collect(self)
        for firm in self.active:
            firm.record_day()

    def _financing(self) -> None:
        for firm in list(self.active):
            firm.after_day()

    # ----------------------------------------------------------------- results
    def demand_report(self) -> dict:
        """The demand the active firms face at the last clearing, at their posted prices
        (:func:`sim.economics.elasticities`, first-round demand, no capacity limits): each
        firm's own-price elasticity, its diversion ratios to every rival and to the outside
        seller, and its Lerner index ``(p - c) / p``."""
        act = self.token_firms
        if not act:
            return {}
        day = max(self.day - 1, 0)
        frontier = self.cfg.outside.enabled
        p0, q0 = self.outside_price(day), self.outside_quality(day)
        market = SegmentMarket(
            np.array([f.seller.quality for f in act] + ([q0] if frontier else [])),
            np.array([f.seller.marginal_cost for f in act] + ([p0] if frontier else [])),
            self.segments.sizes_at(day), self.segments.alpha, self.segments.theta, 0.0,
            self.no_purchase_quality, usage=self.usage)
        prices = np.array([f.seller.price for f in act] + ([p0] if frontier else []))
        el = elasticities(market, prices)
        n = len(act)
        with np.errstate(divide="ignore", invalid="ignore"):
            ler = lerner(prices[:n], market.costs[:n])
        names = [f.name for f in act] + (["outside"] if frontier else [])
        return {"day": day, "firms": {name: {
            "own_price_elasticity": float(el.own[k]),
            "diversion": {**{other: float(el.diversion[k, j]) for j, other in enumerate(names)
                             if j != k}, "no_purchase": float(el.diversion_outside[k])},
            "lerner": float(ler[k]),
        } for k, name in enumerate(names[:n])}}

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


#: The network's market columns when ``bitcoin.enabled`` is false.
_NO_NETWORK = dict.fromkeys(NETWORK_COLUMNS, float("nan"))


def _every_day(day: int) -> bool:
    return True


class _Offer:
    """The outside seller's offer, as the offer book reads a seller."""

    __slots__ = ("price", "quality")

    def __init__(self, price: float, quality: float):
        self.price, self.quality = float(price), float(quality)


def _hhi_with_outside(served: np.ndarray, outside: float) -> float:
    """HHI of the tokens bought, the outside seller counted as one more seller."""
    bought = float(served.sum()) + outside
    if bought <= 0:
        return 0.0
    return hhi(served / bought, normalise=False)


def _market_value(model: PriceWarModel, column: str) -> float:
    """Mesa model reporter: one column of the day's market row."""
    return model.market_row[column]


def _with_date(df: pd.DataFrame, start: np.datetime64) -> pd.DataFrame:
    df = df.copy()
    days = df["day"].to_numpy().astype("timedelta64[D]")
    df["date"] = (start + days).astype("datetime64[ms]")  # the unit parquet stores
    return df
