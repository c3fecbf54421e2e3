"""The GPU-hour market in the world, and the price and supply of new GPUs.

:class:`ComputeMarket` is the ``compute_market`` daily step (``compute.enabled``).  Every
``clear_every_days`` days (on days ``d`` with ``d % clear_every_days == 0``, at ``d + 0.5``,
before the token market) it asks every part of every active firm that takes part for its orders
for the coming period of ``P = clear_every_days`` days, clears them with the uniform-price double
auction :func:`sim.markets.compute.clear`, and tells each participant its fills.

The protocol a firm's component follows to take part (any role: ``renter``, ``host``, ...):

* seller: ``compute_asks(period_days) -> (prices, gpu_hours)``, ask prices in USD per GPU-hour
  and volumes in GPU-hours for the whole period, and ``compute_sold(gpu_hours, price,
  period_days)``;
* buyer: ``compute_bids(period_days) -> (prices, gpu_hours)`` and ``compute_bought(gpu_hours,
  price, period_days)``.

At every clearing every part that has ``compute_asks`` is told ``compute_sold`` and every part
that has ``compute_bids`` is told ``compute_bought``, also when it traded nothing (so it can end
its last period): ``gpu_hours`` is the sum of its orders' fills and ``price`` the volume-weighted
price of those fills, so ``gpu_hours * price`` is what it earns or pays for the period.  A
participant that traded nothing is given the price of its auction if that traded, else 0.

Export controls
---------------
An ``export_control`` shock (:class:`GpuSupply.restrict`) bars its firms from renting across
borders; each firm has a ``jurisdiction`` (``Ledger.Config``).  A clearing then runs in two
stages:

1. a *local* auction for each jurisdiction ``J`` with restricted buyers that may still rent at
   home (``rentals: true``): their bids against the asks of every seller in ``J``;
2. the *global* auction: every other buyer's bids against every ask's volume left over from the
   local auctions.

A restricted buyer with ``rentals: false`` is in no auction: its bids are counted as unmet
demand.  Sellers are not restricted.  Each auction is cleared on its own, at its own price; an
ask that sells in both is paid each auction's price for its part (:func:`clear_with_controls`).
Without restricted buyers the clearing is the one global auction.

The rest of the world
---------------------
With ``compute.world_rentals`` the rest of the world takes part in the global auction at its
rental price ``w(d)`` (``compute.world_price_usd_per_gpu_hour``, a path): an ask and a bid at
``w``, each for ``V``, twice the firms' asks' and bids' GPU-hours together.  Below ``w`` supply
is at most the firms' asks, less than ``V``, and above it demand is at most their bids, also less
than ``V``, so excess demand changes sign at ``w`` (never on a vertical stretch around it) and
the auction clears at ``w`` whenever a firm has an order in it: the firms' asks below ``w`` sell
in full, their bids above it are filled in full, orders at ``w`` share what is left pro rata, and
orders on the wrong side of ``w`` do not trade.  The market is a small open economy: its firms
take the world's price.  The world's orders are not in the local auctions of an export control,
and the recorded volume, supply, demand and unmet demand are the firms' own: the volume is
``max(sold by firms, bought by firms)`` (trades between firms counted once, the world netted
out), and ``compute_world_net_gpu_hours`` is what the firms bought from the world less what they
sold to it.

New GPUs
--------
:class:`GpuSupply` (always present, with or without the rental market) prices new GPUs,

.. math::

    \\text{price}(d) = \\text{gpu\\_price\\_usd} \\cdot 2^{-d / (365\\, T)},

``T = compute.gpu_price_halving_years`` (``inf``: constant prices), and grants GPU orders under
the world's supply of ``compute.gpu_supply_per_quarter`` GPUs per quarter (91 days from day 0)
and each export-controlled firm's ``gpu_cap`` per quarter; an order beyond what is left is cut,
first come first served, and the cut is logged (``gpu_supply_cut``).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from sim.config.schema import ComputeConfig
from sim.markets.compute import Clearing, clear
from sim.world.exogenous import Path

__all__ = ["ComputeMarket", "GpuSupply", "ExportControl", "Fill", "ClearingRecord", "Auctions",
           "clear_with_controls", "with_world", "WORLD", "QUARTER_DAYS", "COMPUTE_COLUMNS"]

#: Days in a quarter of the world's GPU supply and of an export control's GPU cap.
QUARTER_DAYS = 91

#: The market table's compute columns (NaN on every day when the market is disabled).
COMPUTE_COLUMNS = ("compute_price_usd_per_gpu_hour", "compute_volume_gpu_hours",
                   "compute_unmatched_gpu_hours", "compute_supply_gpu_hours",
                   "compute_world_net_gpu_hours")

GLOBAL, LOCAL, BARRED = "global", "local", "barred"

#: The jurisdiction of the rest of the world's orders (in the global auction only).
WORLD = "world"


# ----------------------------------------------------------------------------- the auctions
@dataclasses.dataclass(frozen=True, slots=True)
class Auctions:
    """One clearing day's auctions (GPU-hours for the period, USD per GPU-hour, USD).

    ``sold`` (per ask) and ``bought`` (per bid) sum each order's fills over the auctions it was
    in; ``earned`` and ``paid`` are the money of those fills, each at its auction's price.
    ``world`` is the global auction and ``local`` the local ones by jurisdiction; ``barred`` the
    GPU-hours bid by buyers who may not rent at all.
    """

    sold: np.ndarray
    bought: np.ndarray
    earned: np.ndarray
    paid: np.ndarray
    world: Clearing
    local: dict[str, Clearing]
    barred: float

    @property
    def volume(self) -> float:
        """GPU-hours traded in every auction."""
        return float(self.world.volume + sum(c.volume for c in self.local.values()))

    @property
    def supply(self) -> float:
        """GPU-hours offered (each ask counted once)."""
        return float(self.world.supply + sum(c.volume for c in self.local.values()))

    @property
    def demand(self) -> float:
        """GPU-hours bid for, the barred buyers' included."""
        return float(self.world.demand + sum(c.demand for c in self.local.values())
                     + self.barred)

    @property
    def unmet(self) -> float:
        """GPU-hours bid for and not bought."""
        return max(self.demand - self.volume, 0.0)


def clear_with_controls(ask_price, ask_volume, ask_place: Sequence[str], bid_price, bid_volume,
                        bid_place: Sequence[str], bid_rule: Sequence[str]) -> Auctions:
    """Clear one day's GPU-hour orders under export controls.

    ``ask_place`` and ``bid_place`` are the orders' jurisdictions; ``bid_rule`` says where each
    bid may buy: ``"global"`` (anywhere), ``"local"`` (only from sellers of its own jurisdiction)
    or ``"barred"`` (nowhere).  First, for each jurisdiction ``J`` with local bids (in sorted
    order; they share no asks), :func:`sim.markets.compute.clear` of those bids against the asks
    placed in ``J``; then the global auction of the global bids against every ask's volume left
    over.  An order's fills are summed over its auctions and paid at each auction's price.

    Raises
    ------
    ValueError
        As :func:`sim.markets.compute.clear` for bad prices or volumes, or an unknown rule.
    """
    a = np.asarray(ask_price, dtype=float)
    u = np.asarray(ask_volume, dtype=float)
    b = np.asarray(bid_price, dtype=float)
    w = np.asarray(bid_volume, dtype=float)
    a_at = np.asarray(ask_place, dtype=object).reshape(-1)
    b_at = np.asarray(bid_place, dtype=object).reshape(-1)
    rule = np.asarray(bid_rule, dtype=object).reshape(-1)
    if a_at.shape != a.shape or b_at.shape != b.shape or rule.shape != b.shape:
        raise ValueError("every order needs one jurisdiction, and every bid one rule")
    unknown = set(rule) - {GLOBAL, LOCAL, BARRED}
    if unknown:
        raise ValueError(f"unknown bid rules {sorted(unknown)}: global, local or barred")
    sold, earned = np.zeros_like(u), np.zeros_like(u)
    bought, paid = np.zeros_like(w), np.zeros_like(w)
    left = u.copy()
    local: dict[str, Clearing] = {}
    for place in sorted({str(p) for p in b_at[rule == LOCAL]}):
        asks = a_at == place
        bids = (rule == LOCAL) & (b_at == place)
        c = clear(a[asks], left[asks], b[bids], w[bids])
        local[place] = c
        if c.volume > 0:
            sold[asks] += c.sold
            earned[asks] += c.sold * c.price
            left[asks] = np.maximum(left[asks] - c.sold, 0.0)
            bought[bids] = c.bought
            paid[bids] = c.bought * c.price
    bids = rule == GLOBAL
    world = clear(a, left, b[bids], w[bids])
    if world.volume > 0:
        sold += world.sold
        earned += world.sold * world.price
        bought[bids] = world.bought
        paid[bids] = world.bought * world.price
    barred = float(w[rule == BARRED].sum())
    return Auctions(sold=sold, bought=bought, earned=earned, paid=paid, world=world, local=local,
                    barred=barred)


def with_world(ask_price, ask_volume, ask_place, bid_price, bid_volume, bid_place, bid_rule,
               world_price: float):
    """The firms' orders with the rest of the world's appended (module doc): an ask and a bid at
    ``world_price``, each for twice the firms' asks' and bids' GPU-hours together (so more than
    either side of the firms' orders), both placed in :data:`WORLD` (so in the global auction
    only).  Returns the seven order arrays and lists of :func:`clear_with_controls`, each one
    longer; the world's orders are the last ask and the last bid."""
    u, w = np.asarray(ask_volume, dtype=float), np.asarray(bid_volume, dtype=float)
    volume = 2.0 * (u.sum() + w.sum())
    return (np.append(np.asarray(ask_price, dtype=float), world_price), np.append(u, volume),
            [*ask_place, WORLD], np.append(np.asarray(bid_price, dtype=float), world_price),
            np.append(w, volume), [*bid_place, WORLD], [*bid_rule, GLOBAL])


# ----------------------------------------------------------------------------- GPU supply
@dataclasses.dataclass(frozen=True, slots=True)
class ExportControl:
    """An export control on one firm, from ``since`` (day): at most ``gpu_cap`` new GPUs per
    quarter (``inf``: no cap), and rentals only from sellers of its own jurisdiction
    (``rentals``) or none."""

    gpu_cap: float
    rentals: bool
    since: int


class GpuSupply:
    """The price of new GPUs, the world's quarterly supply, and export controls.

    ``price_of_new_gpu(day, base_usd) = base_usd * 2^(-day / (365 T))`` with
    ``T = gpu_price_halving_years`` (``inf``: ``base_usd`` on every day); ``base_usd`` defaults to
    the world's reference price ``compute.gpu_price_usd``.  :meth:`grant` cuts an order to what
    is left of the quarter's world supply and of the firm's export cap.
    """

    def __init__(self, model: Any, cfg: ComputeConfig):
        self.model = model
        self.cfg = cfg
        self.halving_years = float(cfg.gpu_price_halving_years)
        self.flat = not math.isfinite(self.halving_years)
        self.per_quarter = float(cfg.gpu_supply_per_quarter)
        self.controls: dict[str, ExportControl] = {}
        self._world_used: dict[int, float] = {}
        self._firm_used: dict[tuple[str, int], float] = {}

    def price_of_new_gpu(self, day: float, base_usd: float | None = None) -> float:
        """USD for a new H100-equivalent on ``day``: ``base_usd * 2^(-day / (365 T))``."""
        base = self.cfg.gpu_price_usd if base_usd is None else float(base_usd)
        if self.flat:
            return base
        return base * 2.0 ** (-float(day) / (365.0 * self.halving_years))

    def restrict(self, name: str, gpu_cap: float, rentals: bool, day: int) -> ExportControl:
        """Put firm ``name`` under an export control from ``day`` (replacing any earlier one);
        its GPU orders are counted against ``gpu_cap`` from then on."""
        control = ExportControl(gpu_cap=float(gpu_cap), rentals=bool(rentals), since=int(day))
        self.controls[name] = control
        for key in [k for k in self._firm_used if k[0] == name]:
            del self._firm_used[key]
        return control

    def left(self, name: str, day: float) -> tuple[float, float]:
        """``(world, firm)``: GPUs the world's supply and the firm's export cap still allow in
        the quarter of ``day``."""
        q = int(day // QUARTER_DAYS)
        world = self.per_quarter - self._world_used.get(q, 0.0)
        control = self.controls.get(name)
        firm = math.inf if control is None else control.gpu_cap - self._firm_used.get((name, q),
                                                                                      0.0)
        return max(world, 0.0), max(firm, 0.0)

    def grant(self, firm: Any, wanted: float) -> float:
        """The part of an order of ``wanted`` GPUs by ``firm`` that the quarter's world supply and
        the firm's export cap allow now; a cut is logged as ``gpu_supply_cut``."""
        if wanted <= 0 or (math.isinf(self.per_quarter) and firm.name not in self.controls):
            return wanted
        day = self.model.env.now
        world, own = self.left(firm.name, day)
        allowed = min(wanted, world, own)
        allowed = allowed if allowed > 1e-9 else 0.0
        if allowed < wanted:
            why = "export control" if own < world else "world supply"
            self.model.log(firm, "gpu_supply_cut",
                           f"GPU order: {wanted:.4g} wanted, {allowed:.4g} allowed ({why}: "
                           f"{min(world, own):.4g} GPUs left this quarter)", allowed)
        if allowed > 0:
            q = int(day // QUARTER_DAYS)
            self._world_used[q] = self._world_used.get(q, 0.0) + allowed
            if firm.name in self.controls:
                self._firm_used[(firm.name, q)] = self._firm_used.get((firm.name, q), 0.0) \
                    + allowed
        return allowed

    def rule_of(self, name: str) -> str:
        """Where firm ``name`` may rent: ``global``, ``local`` (at home only) or ``barred``."""
        control = self.controls.get(name)
        if control is None:
            return GLOBAL
        return LOCAL if control.rentals else BARRED


# ----------------------------------------------------------------------------- the market
@dataclasses.dataclass(frozen=True, slots=True)
class Fill:
    """One firm's part in a clearing: GPU-hours offered, bid for, sold and bought for the period,
    and the money of its fills (USD)."""

    asked: float = 0.0
    bid: float = 0.0
    sold: float = 0.0
    bought: float = 0.0
    earned_usd: float = 0.0
    paid_usd: float = 0.0

    def __add__(self, other: Fill) -> Fill:
        return Fill(*(x + y for x, y in zip(dataclasses.astuple(self),
                                             dataclasses.astuple(other), strict=True)))


@dataclasses.dataclass(frozen=True, slots=True)
class ClearingRecord:
    """One clearing: its day, the global auction's price (NaN if it did not trade), the local
    auctions' prices, the firms' GPU-hours traded, offered, bid for and unmet, every
    participating firm's :class:`Fill` by name, and the GPU-hours the firms bought from the rest
    of the world less those they sold to it (``world_net``, 0 without ``world_rentals``)."""

    day: int
    price: float
    local_prices: dict[str, float]
    volume: float
    supply: float
    demand: float
    unmet: float
    fills: dict[str, Fill]
    world_net: float = 0.0


def _orders(owner: str, side: str, got: Any) -> tuple[np.ndarray, np.ndarray]:
    try:
        prices, volumes = got
    except (TypeError, ValueError):
        raise TypeError(f"{owner}.{side} must return (prices, gpu_hours)") from None
    p = np.atleast_1d(np.asarray(prices, dtype=float))
    v = np.atleast_1d(np.asarray(volumes, dtype=float))
    if p.ndim != 1 or p.shape != v.shape:
        raise ValueError(f"{owner}.{side}: prices {p.shape} and gpu_hours {v.shape} must be "
                         "one-dimensional and of one length")
    return p, v


class ComputeMarket:
    """The GPU-hour market (see the module docstring), cleared every ``period_days`` days.

    Attributes
    ----------
    period_days : days between clearings, the period each clearing's GPU-hours are for.
    last_price : USD per GPU-hour of the last global clearing that traded (NaN before); with
        ``world_rentals``, the world's price at the last clearing, traded or not.
    world_price : the rest of the world's price path (``None`` without ``world_rentals``).
    local_prices : the same for each jurisdiction's local auction.
    last : the last :class:`ClearingRecord` (``None`` before the first clearing).
    clearings : every clearing so far.
    """

    def __init__(self, model: Any, cfg: ComputeConfig, supply: GpuSupply):
        self.model = model
        self.cfg = cfg
        self.supply = supply
        self.period_days = int(cfg.clear_every_days)
        self.world_price = (Path(cfg.world_price_usd_per_gpu_hour, model.cfg.day_of)
                            if cfg.world_rentals else None)
        self.last_price = math.nan
        self.local_prices: dict[str, float] = {}
        self.last: ClearingRecord | None = None
        self.clearings: list[ClearingRecord] = []

    def price_of_new_gpu(self, day: float, base_usd: float | None = None) -> float:
        """USD for a new GPU on ``day`` (:meth:`GpuSupply.price_of_new_gpu`)."""
        return self.supply.price_of_new_gpu(day, base_usd)

    def due(self, day: int) -> bool:
        """Whether the market clears on ``day``."""
        return day % self.period_days == 0

    def price_for(self, firm: Any) -> float:
        """The compute price ``firm`` faces: the last price of the auction it may buy in (its
        jurisdiction's local auction under an export control with rentals, none when barred:
        NaN), NaN before that auction has traded."""
        rule = self.supply.rule_of(firm.name)
        if rule == GLOBAL:
            return self.last_price
        if rule == LOCAL:
            return self.local_prices.get(firm.jurisdiction, math.nan)
        return math.nan

    def participants(self) -> list[tuple[Any, Any]]:
        """``(firm, part)`` of every part of an active firm that takes part, in market order."""
        return [(firm, part) for firm in self.model.active for part in firm.parts
                if hasattr(part, "compute_asks") or hasattr(part, "compute_bids")]

    def step(self) -> None:
        """The ``compute_market`` daily step: clear on the days it is due."""
        if self.due(self.model.day):
            self.clear_now()

    def clear_now(self) -> ClearingRecord:
        """Gather every participant's orders, clear them and tell each its fills."""
        period = self.period_days
        parts = self.participants()
        ask_p, ask_v, ask_at, ask_of = [], [], [], []
        bid_p, bid_v, bid_at, bid_rule, bid_of = [], [], [], [], []
        for k, (firm, part) in enumerate(parts):
            name = f"{firm.name}.{type(part).__name__}"
            if hasattr(part, "compute_asks"):
                p, v = _orders(name, "compute_asks", part.compute_asks(period))
                ask_p.append(p), ask_v.append(v)
                ask_at += [firm.jurisdiction] * p.size
                ask_of += [k] * p.size
            if hasattr(part, "compute_bids"):
                p, v = _orders(name, "compute_bids", part.compute_bids(period))
                bid_p.append(p), bid_v.append(v)
                bid_at += [firm.jurisdiction] * p.size
                bid_rule += [self.supply.rule_of(firm.name)] * p.size
                bid_of += [k] * p.size
        cat = lambda xs: np.concatenate(xs) if xs else np.zeros(0)  # noqa: E731
        a, u, b, w = cat(ask_p), cat(ask_v), cat(bid_p), cat(bid_v)
        n_a, n_b = a.size, b.size
        p_w = math.nan
        if self.world_price is not None:
            p_w = self.world_price(self.model.day)
            a, u, ask_at, b, w, bid_at, bid_rule = with_world(a, u, ask_at, b, w, bid_at,
                                                              bid_rule, p_w)
        res = clear_with_controls(a, u, ask_at, b, w, bid_at, bid_rule)
        if self.world_price is not None:
            self.last_price = p_w
        elif res.world.volume > 0:
            self.last_price = res.world.price
        for place, c in res.local.items():
            if c.volume > 0:
                self.local_prices[place] = c.price
        ask_of_a, bid_of_a = np.asarray(ask_of, dtype=int), np.asarray(bid_of, dtype=int)
        fills: dict[str, Fill] = {}
        for k, (firm, part) in enumerate(parts):
            mine_a, mine_b = ask_of_a == k, bid_of_a == k
            fill = Fill(asked=float(u[:n_a][mine_a].sum()), bid=float(w[:n_b][mine_b].sum()),
                        sold=float(res.sold[:n_a][mine_a].sum()),
                        bought=float(res.bought[:n_b][mine_b].sum()),
                        earned_usd=float(res.earned[:n_a][mine_a].sum()),
                        paid_usd=float(res.paid[:n_b][mine_b].sum()))
            home = self._home_price(firm, res)
            if hasattr(part, "compute_asks"):
                part.compute_sold(fill.sold, _price(fill.earned_usd, fill.sold, home), period)
            if hasattr(part, "compute_bids"):
                part.compute_bought(fill.bought, _price(fill.paid_usd, fill.bought, home), period)
            fills[firm.name] = fills[firm.name] + fill if firm.name in fills else fill
        # The firms' side (the world's orders are the last ask and bid): without the world,
        # what the firms sold is what they bought.
        sold, bought = float(res.sold[:n_a].sum()), float(res.bought[:n_b].sum())
        demand = float(w[:n_b].sum())
        world = self.world_price is not None
        record = ClearingRecord(
            day=self.model.day, price=p_w if world else res.world.price,
            local_prices={p: c.price for p, c in res.local.items()}, volume=max(sold, bought),
            supply=float(u[:n_a].sum()), demand=demand, unmet=max(demand - bought, 0.0),
            fills=fills, world_net=bought - sold if world else 0.0)
        self.last = record
        self.clearings.append(record)
        return record

    def _home_price(self, firm: Any, res: Auctions) -> float:
        """The price of the auction ``firm`` buys in (global for sellers and free buyers)."""
        if self.supply.rule_of(firm.name) == LOCAL and firm.jurisdiction in res.local:
            return res.local[firm.jurisdiction].price
        return res.world.price

    def row(self) -> dict[str, float]:
        """The market table's compute columns for today."""
        last = self.last
        return {
            "compute_price_usd_per_gpu_hour": self.last_price,
            "compute_volume_gpu_hours": last.volume if last else 0.0,
            "compute_unmatched_gpu_hours": last.unmet if last else 0.0,
            "compute_supply_gpu_hours": last.supply if last else 0.0,
            "compute_world_net_gpu_hours": last.world_net if last else 0.0,
        }


def _price(usd: float, gpu_hours: float, home: float) -> float:
    """The volume-weighted price of a participant's fills; with none, its auction's price, or 0
    when that did not trade (so ``gpu_hours * price`` is always a finite amount)."""
    if gpu_hours > 0:
        return usd / gpu_hours
    return home if math.isfinite(home) else 0.0
