"""The bitcoin network as miners see it: difficulty retargets, halvings, hashprice, hashcost, a
rest-of-world hashrate response and BTC price paths.

Pure functions of numpy arrays and floats; no simulation state.  The simulator schedules
retargets and halvings as events at block epochs (:func:`next_events`) and calls these functions
there.  Units: time in days except where Bitcoin's rule is in seconds (each name says which:
``_s`` seconds, ``_days`` days), money in USD, hashrate in EH/s (1e18 hashes a second),
hashprice and hashcost in USD per PH/s per day, power in MW, efficiency in J/TH, power price in
USD/MWh.  Difficulty is Bitcoin's own number (86.39T after the 2024 halving), BTC amounts in BTC.

Blocks and difficulty
---------------------
At difficulty ``D`` a block takes ``2^32 D`` hashes on average (exactly ``2^48 / 0xFFFF D``, a
factor ``1 + 1.5e-5`` that is ignored here), so a network of ``H`` EH/s finds a block every

    T(D, H) = 2^32 D / (H 1e18) seconds,      and  H(D, T) = 2^32 D / (T 1e18)  EH/s

is the hashrate that makes blocks take ``T`` seconds (the difficulty 86.39T of April 2024 means
618 EH/s at 600 s blocks).  Blocks arrive as a Poisson process; these are its expected times.

Every ``RETARGET_BLOCKS = 2016`` blocks (at heights that are multiples of 2016) the difficulty is
reset so that the last epoch would have taken the target span ``TARGET_SPAN_S = 2016 * 600 =
1,209,600`` seconds:

    D' = D * TARGET_SPAN_S / clip(actual_span_s, TARGET_SPAN_S / 4, 4 TARGET_SPAN_S),

so one retarget moves difficulty by at most a factor 4 either way.  (Bitcoin Core measures the
span over 2015 block intervals, an old off-by-one, and never lets difficulty fall below 1, the
proof-of-work limit; neither is modelled: the caller passes the span it measured, and real
difficulties are 14 orders of magnitude above 1.)  After a hashrate step the first retarget
restores 600 s blocks exactly when the step fell on an epoch boundary, and the second when it
fell inside an epoch (the first retarget then sees a span that mixes both hashrates).

Halvings
--------
The block at height ``h`` pays a subsidy of ``5,000,000,000 >> (h // 210,000)`` satoshi
(integers, as in Bitcoin Core), 0 once the shift reaches 64: 50 BTC, then 25 from block 210,000
... and 3.125 BTC from block 840,000 (2024-04-20).  The integer shift truncates: the subsidy is
exactly ``50 / 2^k`` BTC for the first 10 eras (``k <= 9``), within one satoshi of it afterwards,
and 0 from the 33rd halving on (Core's guard at 64 never matters); all subsidies sum to
20,999,999.9769 BTC.  A halving (every 210,000 blocks) falls inside an epoch (210,000 is not a
multiple of 2016).

Hashprice, hashcost and the margin of a site
--------------------------------------------
Hashprice is the expected revenue of 1 PH/s for a day: it finds ``86400 * 1e15 / (2^32 D)``
blocks a day, each worth the subsidy ``R`` plus fees ``F`` (BTC) at the BTC price ``P``:

    hashprice = 86400 * 1e15 / (2^32 D) * (R + F) * P       USD per PH/s per day.

It depends on the network's hashrate only through the difficulty: between retargets more
hashrate finds more blocks a day, but each PH/s's share of them is unchanged.

An ASIC of efficiency ``e`` J/TH draws ``e`` kW per PH/s (1 PH/s = 1000 TH/s, times ``e`` J/TH is
``1000 e`` W), that is ``0.024 e`` MWh a day, so at a power price ``p`` USD/MWh

    hashcost = 0.024 e p   USD per PH/s per day,     and one MW runs  1000 / e  PH/s.

A site's daily mining margin per MW is ``1000 / e * (hashprice - hashcost) = 1000 hashprice / e -
24 p``: revenue per MW falls with worse efficiency, the power bill per MW does not.  With
``switch_off=True`` the operator follows the short-run shutdown rule: it runs the ASICs only
while hashprice covers hashcost (the only cost it avoids by switching off) and otherwise switches
them off, so the margin is floored at 0.  Fixed costs (hosting, staff, capex) are not here.

Rest-of-world hashrate
----------------------
The rest of the network grows when mining pays the marginal miner and shrinks when it does not,
by partial adjustment at the rate ``k`` (``elasticity``, per day):

    dH / H = k ln(hashprice / hashcost_marginal) dt,

so at a hashprice 10% above the marginal hashcost the hashrate grows by about ``0.095 k`` a day.
Hashprice is fixed between retargets (the difficulty is), so over a step ``dt`` the rule has the
exact solution ``H' = H (hashprice / hashcost_marginal)^(k dt)``; the feedback from hashrate to
hashprice runs through :func:`next_difficulty` at the next retarget.

BTC price paths
---------------
Either geometric Brownian motion on a daily grid with exact log-normal steps (:func:`gbm_path`),
or a path given in a config as points ``{day: price}``, interpolated linearly between them and
flat beyond the first and last (:func:`path_from_points`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from numbers import Integral

import numpy as np

__all__ = [
    "RETARGET_BLOCKS",
    "TARGET_BLOCK_S",
    "TARGET_SPAN_S",
    "MAX_RETARGET_FACTOR",
    "HALVING_BLOCKS",
    "INITIAL_SUBSIDY_SAT",
    "SAT_PER_BTC",
    "HASHES_PER_DIFFICULTY",
    "SECONDS_PER_DAY",
    "DAYS_PER_YEAR",
    "next_difficulty",
    "block_subsidy",
    "block_subsidy_sat",
    "expected_block_seconds",
    "implied_hashrate",
    "hashprice",
    "hashcost",
    "ph_per_mw",
    "mining_margin_per_mw_day",
    "hashrate_response",
    "gbm_path",
    "path_from_points",
    "epoch_end",
    "next_halving_height",
    "blocks_to_days",
    "NextEvents",
    "next_events",
]

#: Blocks between difficulty retargets.
RETARGET_BLOCKS = 2016
#: Target seconds per block.
TARGET_BLOCK_S = 600
#: Target seconds per retarget epoch, 2016 * 600 = 1,209,600 (two weeks).
TARGET_SPAN_S = RETARGET_BLOCKS * TARGET_BLOCK_S
#: One retarget moves difficulty by at most this factor either way.
MAX_RETARGET_FACTOR = 4
#: Blocks between halvings of the block subsidy.
HALVING_BLOCKS = 210_000
#: The first era's subsidy, 50 BTC in satoshi.
INITIAL_SUBSIDY_SAT = 5_000_000_000
SAT_PER_BTC = 100_000_000
#: Expected hashes per block at difficulty 1 (2^32; exactly 2^48 / 0xFFFF).
HASHES_PER_DIFFICULTY = 2**32
SECONDS_PER_DAY = 86_400
#: The year of the GBM's annual drift and volatility, in days (the time step is 1 / 365).
DAYS_PER_YEAR = 365

_EH = 1e18  # hashes a second in one EH/s
_PH = 1e15  # hashes a second in one PH/s
#: MWh a day that 1 PH/s draws at 1 J/TH: 1000 TH/s * 1 J/TH = 1 kW, times 24 h = 0.024 MWh.
_MWH_PER_PH_DAY_PER_J_TH = 0.024


# --- validation -----------------------------------------------------------------------------


def _floats(name: str, value) -> np.ndarray:
    try:
        return np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{name} {value!r}: must be a number") from None


def _first_bad(a: np.ndarray, bad: np.ndarray):
    return a[bad].flat[0].item() if a.ndim else a.item()


def _positive(name: str, value) -> np.ndarray:
    a = _floats(name, value)
    bad = ~(np.isfinite(a) & (a > 0))
    if bad.any():
        raise ValueError(f"{name} {_first_bad(a, bad)!r}: must be positive and finite")
    return a


def _nonnegative(name: str, value) -> np.ndarray:
    a = _floats(name, value)
    bad = ~(np.isfinite(a) & (a >= 0))
    if bad.any():
        raise ValueError(f"{name} {_first_bad(a, bad)!r}: must be non-negative and finite")
    return a


def _finite(name: str, value) -> np.ndarray:
    a = _floats(name, value)
    bad = ~np.isfinite(a)
    if bad.any():
        raise ValueError(f"{name} {_first_bad(a, bad)!r}: must be finite")
    return a


def _height(name: str, value) -> np.ndarray:
    """Block heights: non-negative integers (Python or numpy), scalar or integer array."""
    if isinstance(value, bool) or isinstance(value, np.bool_):
        raise ValueError(f"{name} {value!r}: must be a non-negative integer")
    if isinstance(value, Integral):
        a = np.asarray(int(value))
    else:
        a = np.asarray(value)
        if a.dtype.kind not in "iu":
            raise ValueError(f"{name} {value!r}: must be a non-negative integer")
    if (a < 0).any():
        raise ValueError(f"{name} {_first_bad(a, a < 0)!r}: must be a non-negative integer")
    return a.astype(np.int64)


def _out(a: np.ndarray):
    """A 0-d result as a Python number, otherwise the array."""
    return a.item() if a.ndim == 0 else a


# --- difficulty and blocks ------------------------------------------------------------------


def next_difficulty(difficulty, actual_span_s):
    """Bitcoin's retarget: the difficulty for the next 2016 blocks.

    ``D' = D * TARGET_SPAN_S / clip(actual_span_s, TARGET_SPAN_S / 4, 4 TARGET_SPAN_S)``, so
    ``D / 4 <= D' <= 4 D`` and ``D' = D`` when the epoch took exactly ``TARGET_SPAN_S =
    1,209,600`` seconds.

    Parameters
    ----------
    difficulty : difficulty of the epoch that just ended (positive).
    actual_span_s : seconds that epoch's 2016 blocks took (positive).
    """
    d = _positive("difficulty", difficulty)
    span = _positive("actual_span_s", actual_span_s)
    lo, hi = TARGET_SPAN_S / MAX_RETARGET_FACTOR, TARGET_SPAN_S * MAX_RETARGET_FACTOR
    clamped = np.clip(span, lo, hi)
    return _out(d * (TARGET_SPAN_S / clamped))


def block_subsidy_sat(height):
    """Subsidy of the block at ``height`` in satoshi (integers):
    ``5,000,000,000 >> (height // 210,000)``, 0 from 64 halvings on (as Bitcoin Core)."""
    h = _height("height", height)
    halvings = h // HALVING_BLOCKS
    # Shifting an int64 by 64 or more is undefined; Core's guard makes it 0.
    shifted = np.right_shift(np.int64(INITIAL_SUBSIDY_SAT), np.minimum(halvings, 63))
    return _out(np.where(halvings >= 64, 0, shifted).astype(np.int64))


def block_subsidy(height):
    """Subsidy of the block at ``height`` in BTC: :func:`block_subsidy_sat` / 1e8.

    50 BTC from height 0, halved every 210,000 blocks: 6.25 at 839,999, 3.125 at 840,000.
    """
    return _out(np.asarray(block_subsidy_sat(height)) / SAT_PER_BTC)


def expected_block_seconds(difficulty, hashrate_eh_s):
    """Expected seconds per block, ``2^32 D / (H 1e18)``, at difficulty ``D`` and network
    hashrate ``H`` EH/s."""
    d = _positive("difficulty", difficulty)
    h = _positive("hashrate_eh_s", hashrate_eh_s)
    return _out(d * HASHES_PER_DIFFICULTY / (h * _EH))


def implied_hashrate(difficulty, block_s=TARGET_BLOCK_S):
    """Network hashrate in EH/s at which blocks take ``block_s`` seconds on average at
    difficulty ``D``: ``2^32 D / (block_s 1e18)`` (86.39T and 600 s: 618 EH/s)."""
    d = _positive("difficulty", difficulty)
    t = _positive("block_s", block_s)
    return _out(d * HASHES_PER_DIFFICULTY / (t * _EH))


def epoch_end(height):
    """The next retarget height after ``height`` (the current chain tip): the smallest multiple
    of 2016 above it, ``(height // 2016 + 1) * 2016``.  The block at that height is the first
    mined at the new difficulty."""
    h = _height("height", height)
    return _out((h // RETARGET_BLOCKS + 1) * RETARGET_BLOCKS)


def next_halving_height(height):
    """The next halving height after ``height`` (the current chain tip): the smallest multiple
    of 210,000 above it.  The block at that height is the first paid the halved subsidy."""
    h = _height("height", height)
    return _out((h // HALVING_BLOCKS + 1) * HALVING_BLOCKS)


def blocks_to_days(blocks, difficulty, hashrate_eh_s):
    """Expected days to mine ``blocks`` blocks at difficulty ``D`` and hashrate ``H`` EH/s:
    ``blocks * 2^32 D / (H 1e18) / 86400``."""
    n = _nonnegative("blocks", blocks)
    return _out(n * np.asarray(expected_block_seconds(difficulty, hashrate_eh_s)) / SECONDS_PER_DAY)


@dataclass(frozen=True, slots=True)
class NextEvents:
    """The next retarget and halving seen from a chain tip, for scheduling.

    The day counts assume the current difficulty and hashrate hold.  Only the one to the next
    retarget is exact in that sense: the difficulty changes there, so a simulator schedules the
    earlier event and asks again after it.

    Attributes
    ----------
    height : the chain tip.
    retarget_height : :func:`epoch_end` of the tip.
    halving_height : :func:`next_halving_height` of the tip.
    blocks_to_retarget, blocks_to_halving : blocks still to mine before each.
    days_to_retarget, days_to_halving : expected days (:func:`blocks_to_days`).
    """

    height: int
    retarget_height: int
    halving_height: int
    blocks_to_retarget: int
    blocks_to_halving: int
    days_to_retarget: float
    days_to_halving: float


def next_events(height: int, difficulty: float, hashrate_eh_s: float) -> NextEvents:
    """The next retarget and halving from the chain tip ``height`` at difficulty ``D`` and
    hashrate ``H`` EH/s (see :class:`NextEvents`)."""
    if not isinstance(height, Integral) or isinstance(height, bool):
        raise ValueError(f"height {height!r}: must be a non-negative integer")
    h = int(_height("height", height))
    retarget, halving = int(epoch_end(h)), int(next_halving_height(h))
    return NextEvents(
        height=h,
        retarget_height=retarget,
        halving_height=halving,
        blocks_to_retarget=retarget - h,
        blocks_to_halving=halving - h,
        days_to_retarget=float(blocks_to_days(retarget - h, difficulty, hashrate_eh_s)),
        days_to_halving=float(blocks_to_days(halving - h, difficulty, hashrate_eh_s)),
    )


# --- money ----------------------------------------------------------------------------------


def hashprice(btc_price_usd, difficulty, subsidy_btc, fees_btc_per_block=0.0):
    """Expected revenue of 1 PH/s for a day, USD per PH/s per day:

    ``86400 * 1e15 / (2^32 D) * (subsidy_btc + fees_btc_per_block) * btc_price_usd``

    (blocks a day found by 1 PH/s, times BTC per block, times USD per BTC).
    """
    p = _positive("btc_price_usd", btc_price_usd)
    d = _positive("difficulty", difficulty)
    r = _nonnegative("subsidy_btc", subsidy_btc)
    f = _nonnegative("fees_btc_per_block", fees_btc_per_block)
    blocks_per_day = SECONDS_PER_DAY * _PH / (d * HASHES_PER_DIFFICULTY)
    return _out(blocks_per_day * (r + f) * p)


def hashcost(efficiency_j_per_th, power_usd_per_mwh):
    """Power cost of 1 PH/s for a day, USD per PH/s per day: ``0.024 * e * p``.

    1 PH/s at ``e`` J/TH draws ``1000 e`` W, that is ``0.024 e`` MWh a day, at ``p`` USD/MWh.
    """
    e = _positive("efficiency_j_per_th", efficiency_j_per_th)
    p = _nonnegative("power_usd_per_mwh", power_usd_per_mwh)
    return _out(_MWH_PER_PH_DAY_PER_J_TH * e * p)


def ph_per_mw(efficiency_j_per_th):
    """PH/s that one MW runs at ``e`` J/TH: ``1000 / e`` (57.1 at 17.5 J/TH)."""
    e = _positive("efficiency_j_per_th", efficiency_j_per_th)
    return _out(1000.0 / e)


def mining_margin_per_mw_day(hashprice, efficiency_j_per_th, power_usd_per_mwh,
                             switch_off=False):
    """A site's daily mining margin per MW of ASICs, USD per MW per day:

    ``ph_per_mw(e) * (hashprice - hashcost(e, p)) = 1000 hashprice / e - 24 p``.

    With ``switch_off=True``, the shutdown rule: when hashcost exceeds hashprice the operator
    switches the ASICs off, saving the power, so the margin is ``max(margin, 0)``.  Fixed costs
    are not included.

    Parameters
    ----------
    hashprice : USD per PH/s per day (non-negative; see the function of that name).
    efficiency_j_per_th : J/TH of the site's ASICs (positive).
    power_usd_per_mwh : the site's power price (non-negative).
    switch_off : whether idle ASICs are switched off when mining loses money.
    """
    hp = _nonnegative("hashprice", hashprice)
    margin = np.asarray(ph_per_mw(efficiency_j_per_th)) * (
        hp - np.asarray(hashcost(efficiency_j_per_th, power_usd_per_mwh))
    )
    if switch_off:
        margin = np.maximum(margin, 0.0)
    return _out(margin)


# --- rest-of-world hashrate -----------------------------------------------------------------


def hashrate_response(hashrate_eh_s, hashprice, hashcost_marginal, elasticity, dt_days):
    """The rest-of-world hashrate after ``dt_days`` of partial adjustment, EH/s:

    ``dH / H = k ln(hashprice / hashcost_marginal) dt``, solved exactly for a hashprice and a
    marginal hashcost held fixed over the step: ``H' = H (hashprice / hashcost_marginal)^(k dt)``.

    Parameters
    ----------
    hashrate_eh_s : the hashrate now, EH/s (positive).
    hashprice : USD per PH/s per day (positive).
    hashcost_marginal : the marginal (least profitable running) miner's hashcost, USD per PH/s
        per day (positive; e.g. :func:`hashcost` of its efficiency and power price).
    elasticity : ``k`` per day (non-negative): the daily growth rate of hashrate per unit of
        log hashprice premium over the marginal hashcost; 0 holds hashrate fixed.
    dt_days : the step, days (non-negative).
    """
    h = _positive("hashrate_eh_s", hashrate_eh_s)
    hp = _positive("hashprice", hashprice)
    c = _positive("hashcost_marginal", hashcost_marginal)
    k = _nonnegative("elasticity", elasticity)
    dt = _nonnegative("dt_days", dt_days)
    return _out(h * np.exp(k * dt * np.log(hp / c)))


# --- BTC price paths ------------------------------------------------------------------------


def _days(value) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral) or value < 0:
        raise ValueError(f"days {value!r}: must be a non-negative integer")
    return int(value)


def gbm_path(p0, mu_per_year, sigma_per_year, days, rng: np.random.Generator) -> np.ndarray:
    """A geometric Brownian motion on days ``0..days`` (length ``days + 1``, starting at ``p0``)
    with exact log-normal steps, ``dt = 1 / 365`` years:

    ``ln p_{t+1} = ln p_t + (mu - sigma^2 / 2) dt + sigma sqrt(dt) Z_t``, ``Z_t`` i.i.d. N(0, 1)
    from ``rng``.

    Parameters
    ----------
    p0 : the price on day 0 (positive), e.g. USD per BTC.
    mu_per_year : drift per year (finite); ``E[p_t] = p0 e^{mu t dt}``.
    sigma_per_year : volatility per year (non-negative).
    days : number of daily steps (non-negative integer).
    rng : the Generator the normals are drawn from.
    """
    p = float(_positive("p0", p0))
    mu = float(_finite("mu_per_year", mu_per_year))
    sigma = float(_nonnegative("sigma_per_year", sigma_per_year))
    n = _days(days)
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng {rng!r}: must be a numpy.random.Generator")
    dt = 1.0 / DAYS_PER_YEAR
    steps = (mu - 0.5 * sigma**2) * dt + sigma * np.sqrt(dt) * rng.standard_normal(n)
    log_rel = np.concatenate(([0.0], np.cumsum(steps)))
    return p * np.exp(log_rel)


def path_from_points(days, points: Mapping | Iterable) -> np.ndarray:
    """A daily path on days ``0..days`` (length ``days + 1``) through config points, linear in
    the value between consecutive points and flat beyond the first and last.

    Linear (not log-linear) interpolation, so values may be zero or negative (fees, a shock
    size); for constant growth between points of a positive series, pass log values and take the
    exponential of the path.

    Parameters
    ----------
    days : the last day (non-negative integer).
    points : ``{day: value}`` or an iterable of ``(day, value)`` pairs; at least one, days
        distinct and finite (any order, may lie outside ``0..days``), values finite.
    """
    n = _days(days)
    pairs = list(points.items()) if isinstance(points, Mapping) else list(points)
    if not pairs:
        raise ValueError("points []: must have at least one (day, value)")
    try:
        xs, ys = (np.asarray(c, dtype=float) for c in zip(*pairs, strict=True))
    except (TypeError, ValueError):
        raise ValueError(f"points {points!r}: must be (day, value) pairs of numbers") from None
    if xs.shape != (len(pairs),) or ys.shape != (len(pairs),):
        raise ValueError(f"points {points!r}: must be (day, value) pairs of numbers")
    _finite("points day", xs)
    _finite("points value", ys)
    order = np.argsort(xs, kind="stable")
    xs, ys = xs[order], ys[order]
    if (np.diff(xs) == 0).any():
        raise ValueError(f"points day {float(xs[1:][np.diff(xs) == 0][0])!r}: appears twice")
    return np.interp(np.arange(n + 1, dtype=float), xs, ys)

