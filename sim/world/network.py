"""The bitcoin network as a world process: block epochs, retargets and halvings as SimPy events,
and each day's BTC price, fees and rest-of-world hashrate.

Blocks are mined continuously at their expected rate: at difficulty ``D`` and total hashrate
``H`` EH/s (the rest of the world plus the firms that mine) a block takes

    T(D, H) = 2^32 D / (H 1e18) seconds        (:func:`~sim.markets.bitcoin.expected_block_seconds`)

so the chain tip ``height`` is a float that grows by ``86400 / T`` blocks a day.  Retargets
(heights that are multiples of 2016) and halvings (multiples of 210,000) are events at those
heights, not daily averages: one process computes the time to the next event height at the
current ``D`` and ``H``,

    dt = (next_height - height) * T(D, H) / 86400 days,

and waits for it or for a change of hashrate, whichever comes first.  When the hashrate changes
(a firm's miner calls :meth:`BitcoinNetwork.hashrate_changed`, the model calls it when a mining
firm exits, or the daily update moves the rest of the world or finds the hosts' total moved) the
tip is first advanced by the blocks mined so far at the old rate, then the
time to the event is recomputed at the new one.  A retarget sets ``D' = next_difficulty(D,
span_s)`` from the span of the epoch's 2016 blocks in seconds; a halving sets the subsidy to
``block_subsidy(height)`` (unless ``bitcoin.halvings`` is false: then the subsidy keeps its
start value, the counterfactual).

Each morning (the ``network`` step of :mod:`sim.world.schedule`) sets the day's BTC price (a
config path, or a GBM drawn once at construction from the network's own random stream), the
day's fees per block (a path) and the rest-of-world hashrate (a path, or the partial-adjustment
response to the day's hashprice against the marginal miner's hashcost).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import simpy

from sim.config.schema import BitcoinConfig, Config
from sim.markets import bitcoin as btc
from sim.world.exogenous import Path

__all__ = ["BitcoinNetwork"]

_DAY_S = btc.SECONDS_PER_DAY


def _trillions(difficulty: float) -> str:
    return f"{difficulty / 1e12:.2f}T"


class BitcoinNetwork:
    """The bitcoin network of one model run.

    Parameters
    ----------
    cfg : the ``bitcoin`` section.
    config : the whole config (its calendar for path dates, its horizon for the GBM).
    env : the model's SimPy environment (days).
    rng : the network's Generator (the seed tree's ``bitcoin`` stream); only the GBM draws.
    hosts_hashrate : ``() -> float``, the firms' mining hashrate in EH/s (the model's
        ``hosts_hashrate_eh_s``), read at every hashrate change and every morning.
    log : ``log(firm_or_None, kind, detail, value)``, the model's event log.

    Attributes (read any time)
    --------------------------
    height : the chain tip, blocks (a float, advanced continuously).
    difficulty : the difficulty in force.
    subsidy_btc : the subsidy of the next block, BTC.
    halvings, retargets : how many of each so far in this run.
    btc_price_usd : today's BTC price, USD.
    fees_btc_per_block : today's fees per block, BTC.
    world_hashrate_eh_s : the rest of the world's hashrate today, EH/s.
    hashrate_eh_s : the hashrate blocks are being mined at, world plus hosts, EH/s (as of the
        last :meth:`hashrate_changed` or morning update).
    hashprice : USD per PH/s per day at today's price and fees and the difficulty and subsidy
        in force.

    The first epoch starts at ``start_height``, which may lie inside an epoch whose earlier
    blocks were not simulated: its span is extrapolated from the blocks that were, as their
    elapsed seconds times ``2016 / blocks``.  With block times at their expectations this is the
    span the whole epoch would have taken had the hashrate before day 0 been that of day 0.
    """

    def __init__(self, cfg: BitcoinConfig, config: Config, env: simpy.Environment,
                 rng: np.random.Generator, hosts_hashrate: Callable[[], float] = lambda: 0.0,
                 log: Callable[..., None] | None = None):
        self.cfg = cfg
        self.env = env
        self._hosts = hosts_hashrate
        self._log = log if log is not None else (lambda firm, kind, detail, value=0.0: None)
        self._price_path = Path(cfg.btc_price_usd, config.day_of)
        self._fees_path = Path(cfg.fees_btc_per_block, config.day_of)
        self._world_path = Path(cfg.world_hashrate_eh_s, config.day_of)
        self._gbm = (btc.gbm_path(self._price_path(0.0), cfg.btc_drift_per_year,
                                  cfg.btc_volatility_per_year, config.horizon_days, rng)
                     if cfg.btc_model == "gbm" else None)
        self.marginal_hashcost = float(btc.hashcost(cfg.marginal_efficiency_j_per_th,
                                                    cfg.marginal_power_usd_per_mwh))
        start = int(cfg.start_height)
        self.difficulty = float(cfg.difficulty)
        self.subsidy_btc = float(btc.block_subsidy(start))
        self.halvings = 0
        self.retargets = 0
        # The tip was at self._height at time self._synced, mined since at self._blocks_per_day.
        self._height, self._synced = float(start), env.now
        # The first block height and the time of the epoch under way (for its span).
        self._epoch_height, self._epoch_time = start, env.now
        self._target = self._next_event_height(start)
        self._day = int(env.now)
        self.btc_price_usd = self._price(self._day)
        self.fees_btc_per_block = self._fees_path(self._day)
        self.world_hashrate_eh_s = self._world_path(self._day)
        self._total = self.world_hashrate_eh_s + float(self._hosts())
        self._set_rate()
        self._wake = env.event()
        self.process = env.process(self._epochs())

    # ------------------------------------------------------------------ state
    @property
    def height(self) -> float:
        """The chain tip now, blocks: the tip at the last change plus the blocks mined since at
        the rate in force (never past the next event height, which the process reaches)."""
        mined = (self.env.now - self._synced) * self._blocks_per_day
        return min(self._height + mined, float(self._target))

    @property
    def hashrate_eh_s(self) -> float:
        """The total hashrate blocks are mined at, EH/s: the rest of the world plus the hosts."""
        return self._total

    @property
    def hashprice(self) -> float:
        """USD per PH/s per day: :func:`sim.markets.bitcoin.hashprice` of today's BTC price and
        fees and the difficulty and subsidy in force."""
        return float(btc.hashprice(self.btc_price_usd, self.difficulty, self.subsidy_btc,
                                   self.fees_btc_per_block))

    @property
    def block_seconds(self) -> float:
        """Expected seconds per block now, ``2^32 D / (H 1e18)``."""
        return float(btc.expected_block_seconds(self.difficulty, self._total))

    @property
    def next_event_height(self) -> int:
        """The height of the next retarget or halving (whichever comes first)."""
        return self._target

    def days_to_next_event(self) -> float:
        """Expected days until the tip reaches :attr:`next_event_height` at the current rate."""
        return max(self._target - self.height, 0.0) / self._blocks_per_day

    # ------------------------------------------------------------------ hashrate
    def hashrate_changed(self) -> None:
        """A host's mining hashrate changed: advance the tip at the old rate, read the hosts'
        hashrate again and let the epoch process recompute when the next event falls."""
        self._set_hashrate(self.world_hashrate_eh_s)

    def _set_hashrate(self, world_eh_s: float) -> None:
        self._sync()
        self.world_hashrate_eh_s = float(world_eh_s)
        self._total = self.world_hashrate_eh_s + float(self._hosts())
        self._set_rate()
        if not self._wake.triggered:
            self._wake.succeed()

    def _sync(self) -> None:
        self._height, self._synced = self.height, self.env.now

    def _set_rate(self) -> None:
        self._blocks_per_day = _DAY_S / self.block_seconds

    # ------------------------------------------------------------------ the daily update
    def _price(self, day: int) -> float:
        if self._gbm is not None:
            return float(self._gbm[min(day, len(self._gbm) - 1)])
        return self._price_path(day)

    def daily(self) -> None:
        """The morning ``network`` step: today's BTC price and fees from their paths, then the
        rest-of-world hashrate, from its path or (``hashrate_model: response``) by
        ``H' = H (hashprice / hashcost_marginal)^(k dt)`` over the days since the last update at
        today's hashprice; a move of the total (world or hosts) is a hashrate change."""
        cfg, day = self.cfg, int(self.env.now)
        self.btc_price_usd = self._price(day)
        self.fees_btc_per_block = self._fees_path(day)
        if cfg.hashrate_model == "response":
            world = float(btc.hashrate_response(
                self.world_hashrate_eh_s, self.hashprice, self.marginal_hashcost,
                cfg.hashrate_response_per_day, max(day - self._day, 0)))
        else:
            world = self._world_path(day)
        self._day = day
        if world + float(self._hosts()) != self._total or world != self.world_hashrate_eh_s:
            self._set_hashrate(world)

    # ------------------------------------------------------------------ block epochs
    def _next_event_height(self, height: int) -> int:
        nxt = int(btc.epoch_end(height))
        if self.cfg.halvings:
            nxt = min(nxt, int(btc.next_halving_height(height)))
        return nxt

    def _epochs(self):
        """The epoch process: wait until the tip reaches the next event height at the current
        rate, or until the hashrate changes (then recompute); at the height, retarget and/or
        halve, then aim at the next one."""
        env = self.env
        # Firms created after the network may have set up their miners: read them once.
        if self._total != self.world_hashrate_eh_s + float(self._hosts()):
            self._set_hashrate(self.world_hashrate_eh_s)
        while True:
            self._wake = env.event()
            reached = env.timeout(self.days_to_next_event())
            yield reached | self._wake
            if not reached.processed:
                continue  # the hashrate changed: the tip is synced, recompute the wait
            height = self._target
            self._height, self._synced = float(height), env.now
            if height % btc.RETARGET_BLOCKS == 0:
                self._retarget(height)
            if self.cfg.halvings and height % btc.HALVING_BLOCKS == 0:
                self._halve(height)
            self._target = self._next_event_height(height)

    def _retarget(self, height: int) -> None:
        blocks = height - self._epoch_height
        elapsed_s = (self.env.now - self._epoch_time) * _DAY_S
        span_s = elapsed_s * btc.RETARGET_BLOCKS / blocks  # a partial first epoch, extrapolated
        old = self.difficulty
        self.difficulty = float(btc.next_difficulty(old, span_s))
        self.retargets += 1
        self._epoch_height, self._epoch_time = height, self.env.now
        self._set_rate()
        self._log(None, "retarget", f"height {height}: difficulty {_trillions(old)} -> "
                  f"{_trillions(self.difficulty)} (mean block "
                  f"{span_s / btc.RETARGET_BLOCKS:.0f} s)", self.difficulty)

    def _halve(self, height: int) -> None:
        old = self.subsidy_btc
        self.subsidy_btc = float(btc.block_subsidy(height))
        self.halvings += 1
        self._log(None, "halving", f"height {height}: subsidy {old:g} -> {self.subsidy_btc:g} "
                  "BTC", self.subsidy_btc)

    # ------------------------------------------------------------------ record
    def row(self) -> dict[str, float]:
        """The network's columns of the day's market row (at the clearing)."""
        return {
            "btc_price_usd": self.btc_price_usd,
            "hashprice_usd_per_ph_day": self.hashprice,
            "difficulty": self.difficulty,
            "network_hashrate_eh_s": self._total,
            "block_height": self.height,
            "block_subsidy_btc": self.subsidy_btc,
        }
