"""Q-learning in repeated pricing games (Calvano, Calzolari, Denicolò & Pastorello 2020, AER).

``n`` firms each choose one of ``m`` prices every period.  Firm ``i`` keeps a table
``Q_i[s, a]`` over states ``s`` (the last period's joint action, memory one, so ``m**n``
states) and its own actions ``a``.  After a period in state ``s`` where it played ``a``, earned
``pi`` and moved the game to ``s'``, it updates

    Q_i[s, a] <- (1 - alpha) Q_i[s, a] + alpha (pi + delta max_a' Q_i[s', a'])

and plays the greedy action ``argmax_a Q_i[s, a]`` except with probability
``epsilon_t = exp(-beta t)``, when it draws an action uniformly at random.  ``Q`` starts at the
discounted payoff against uniformly random rivals,
``Q0_i[s, a] = sum_{a_-i} pi_i(a, a_-i) / (m**(n-1) (1 - delta))`` for every ``s``.

A joint action (and so a state) is the integer ``s = sum_j a_j m**(n-1-j)``, written in one
place: :func:`encode` (compiled, one joint action), :func:`state_index` (numpy, any number of
joint actions) and their inverse :func:`decode`; the profit table ``profits[i, s]`` is firm
``i``'s per-period profit when the firms play ``s``.

One implementation of the learning step, :func:`q_update`, and of the action choice,
:func:`choose_action`, is shared by the many-session engine (:func:`run_sessions`, compiled
with numba, one session per thread at a time) and by the ``q_learning`` pricing rule that plays
in the discrete-event token market (:mod:`sim.strategies.pricing`).

Each session draws its random numbers from its own SplitMix64 stream seeded from the project's
seed tree: session ``k`` uses the first 64-bit word of the child ``("sessions", k)`` of a
:class:`sim.core.rng.SeedTree` node (``SeedTree(seed)`` for an integer seed), so results do not
depend on how sessions are spread over threads and every batch of sessions an experiment runs is
a named child of one seed.
"""

from __future__ import annotations

import dataclasses
import os
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from numba import njit

from sim import economics
from sim.core.rng import SeedTree

__all__ = ["MAX_Q_ENTRIES", "Game", "Sessions", "logit_game", "price_grid", "epsilon",
           "initial_q", "q_update", "choose_action", "greedy_actions", "run_session",
           "run_sessions", "greedy_cycle", "impulse_response", "static_best_response", "encode",
           "decode", "state_index", "session_seeds"]

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S11 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(11)
_TO_UNIT = 1.0 / 9007199254740992.0  # 2**-53

#: Largest Q table one firm may keep: ``m**n`` states times ``m`` actions, ``m**(n+1)`` entries.
MAX_Q_ENTRIES = 20_000_000


# --------------------------------------------------------------------------------------------
# Shared kernels: the engine and the token-market rule both call these.
# --------------------------------------------------------------------------------------------

@njit(cache=True, inline="always")
def _splitmix_next(state):
    """One SplitMix64 step (Steele, Lea & Flood 2014): returns ``(new state, 64 random bits)``."""
    state = state + _GOLDEN
    z = state
    z = (z ^ (z >> _S30)) * _MIX1
    z = (z ^ (z >> _S27)) * _MIX2
    return state, z ^ (z >> _S31)


@njit(cache=True, inline="always")
def _unit(bits):
    """A float in [0, 1) from the top 53 of 64 random bits."""
    return float(bits >> _S11) * _TO_UNIT


@njit(cache=True)
def q_update(q, greedy, s, a, reward, s_next, alpha, delta):
    """One Q-learning step on one firm's table; returns whether its greedy action in ``s`` changed.

    ``Q[s, a] <- (1 - alpha) Q[s, a] + alpha (reward + delta Q[s', g(s')])`` where ``g`` is the
    greedy table (``g(s) = argmax_a Q[s, a]``, the first maximum), which is kept up to date here
    so that ``max_a' Q[s', a']`` costs one lookup.

    Parameters
    ----------
    q : float64 array (states, actions), updated in place.
    greedy : int array (states,), the first argmax of each row of ``q``, updated in place.
    s, a : the state the period was played in and the firm's action.
    reward : the firm's profit in the period.
    s_next : the state the period led to (the joint action played).
    alpha, delta : learning rate and discount factor.
    """
    old_best = greedy[s]
    best_value = q[s, old_best]
    value = (1.0 - alpha) * q[s, a] + alpha * (reward + delta * q[s_next, greedy[s_next]])
    q[s, a] = value
    if a == old_best:
        if value >= best_value:
            return False
        best = 0
        for b in range(1, q.shape[1]):
            if q[s, b] > q[s, best]:
                best = b
        greedy[s] = best
        return best != old_best
    if value > best_value or (value == best_value and a < old_best):
        greedy[s] = a
        return True
    return False


@njit(cache=True, inline="always")
def choose_action(greedy_action, eps, u_explore, u_action, m):
    """Epsilon-greedy: with ``u_explore < eps`` the action ``floor(u_action m)`` (uniform on
    ``0..m-1``), otherwise ``greedy_action``.  ``u_explore`` and ``u_action`` are uniform on
    [0, 1)."""
    if u_explore < eps:
        return min(int(u_action * m), m - 1)
    return greedy_action


def epsilon(t, beta: float):
    """Exploration probability ``epsilon_t = exp(-beta t)`` at period ``t`` (``t = 0, 1, ...``)."""
    return np.exp(-beta * np.asarray(t, dtype=float))


@njit(cache=True, inline="always")
def encode(actions, m):
    """State index ``s = sum_j a_j m**(n-1-j)`` of a joint action."""
    s = 0
    for j in range(actions.shape[0]):
        s = s * m + actions[j]
    return s


def state_index(actions, m: int) -> np.ndarray:
    """State indices ``s = sum_j a_j m**(n-1-j)`` of joint actions ``actions`` (..., n), the
    firms on the last axis; the vectorised form of :func:`encode`."""
    actions = np.asarray(actions, dtype=np.int64)
    n = actions.shape[-1]
    return actions @ (np.int64(m) ** np.arange(n - 1, -1, -1, dtype=np.int64))


@njit(cache=True)
def decode(s, n, m):
    """Joint action (length ``n``) of state index ``s``; inverse of :func:`encode`."""
    out = np.empty(n, dtype=np.int64)
    for j in range(n - 1, -1, -1):
        out[j] = s % m
        s //= m
    return out


# --------------------------------------------------------------------------------------------
# The game
# --------------------------------------------------------------------------------------------

def price_grid(p_nash: float, p_monopoly: float, m: int, xi: float) -> np.ndarray:
    """``m`` evenly spaced prices on ``[pN - xi (pM - pN), pM + xi (pM - pN)]``."""
    span = p_monopoly - p_nash
    return np.linspace(p_nash - xi * span, p_monopoly + xi * span, m)


@dataclasses.dataclass(frozen=True)
class Game:
    """A repeated pricing game on a price grid.

    ``profits[i, s]`` is firm ``i``'s per-period profit at joint action ``s`` (see
    :func:`encode`); ``prices`` is the grid (USD, one row per firm); ``nash_profit`` and
    ``monopoly_profit`` (per firm) are the benchmarks of the profit gain
    ``Delta = (pi - piN) / (piM - piN)``, earned at ``nash_price`` and ``monopoly_price``.
    """

    prices: np.ndarray          # (n, m)
    profits: np.ndarray         # (n, m**n)
    nash_profit: np.ndarray     # (n,)
    monopoly_profit: np.ndarray  # (n,)
    nash_price: np.ndarray      # (n,)
    monopoly_price: np.ndarray  # (n,)

    @property
    def n(self) -> int:
        return self.prices.shape[0]

    @property
    def m(self) -> int:
        return self.prices.shape[1]

    @property
    def states(self) -> int:
        return self.m ** self.n

    def joint_prices(self, s: int) -> np.ndarray:
        """Each firm's price at state ``s``."""
        return self.prices[np.arange(self.n), decode(s, self.n, self.m)]


def joint_profit_table(prices: np.ndarray, profit_fn) -> np.ndarray:
    """``profits[i, s]`` from ``profit_fn(joint prices (k, n)) -> profits (k, n)``, evaluated
    once for every joint action on the grid ``prices`` (n, m)."""
    n, m = prices.shape
    idx = np.indices((m,) * n).reshape(n, -1)  # row j = firm j's action; column = state
    joint = prices[np.arange(n)[:, None], idx].T
    return np.ascontiguousarray(np.asarray(profit_fn(joint), dtype=float).T)


def logit_game(n: int = 2, m: int = 15, xi: float = 0.1, a: float = 2.0, c: float = 1.0,
               a0: float = 0.0, mu: float = 0.25) -> Game:
    """Calvano et al.'s symmetric logit game: ``q_i = exp((a - p_i)/mu) / (sum_j exp((a -
    p_j)/mu) + exp(a0/mu))``, profit ``(p_i - c) q_i``, on the grid :func:`price_grid` around the
    static Nash and joint-monopoly prices."""
    av, cv = np.full(n, a), np.full(n, c)
    p_n = economics.logit_nash_prices(av, cv, a0, mu)
    p_m = economics.logit_monopoly_prices(av, cv, a0, mu)
    grid = np.tile(price_grid(float(p_n[0]), float(p_m[0]), m, xi), (n, 1))
    table = joint_profit_table(grid, lambda p: economics.logit_profits(p, av, cv, a0, mu))
    return Game(prices=grid, profits=table,
                nash_profit=economics.logit_profits(p_n, av, cv, a0, mu),
                monopoly_profit=economics.logit_profits(p_m, av, cv, a0, mu),
                nash_price=p_n, monopoly_price=p_m)


def initial_q(profits: np.ndarray, m: int, delta: float) -> np.ndarray:
    """``Q0[i, s, a] = mean over rivals' joint actions of profits[i, (a, a_-i)] / (1 - delta)``,
    the same for every state ``s``.  Returns an array (n, m**n, m)."""
    n = profits.shape[0]
    q = np.empty((n, m ** n, m))
    for i in range(n):
        by_own = np.moveaxis(profits[i].reshape((m,) * n), i, 0).reshape(m, -1)
        q[i, :, :] = by_own.mean(axis=1) / (1.0 - delta)
    return q


def greedy_actions(q: np.ndarray) -> np.ndarray:
    """First argmax over the last axis: ``g[..., s] = argmax_a Q[..., s, a]``."""
    return np.argmax(q, axis=-1).astype(np.int64)


def static_best_response(game: Game, i: int, s: int) -> int:
    """Firm ``i``'s grid action maximising this period's profit when the others play as in
    state ``s``."""
    acts = decode(s, game.n, game.m)
    cand = np.repeat(acts[None, :], game.m, axis=0)
    cand[:, i] = np.arange(game.m)
    states = state_index(cand, game.m)
    return int(np.argmax(game.profits[i, states]))


# --------------------------------------------------------------------------------------------
# The engine
# --------------------------------------------------------------------------------------------

@njit(cache=True, nogil=True)
def run_session(profits, q, greedy, alpha, beta, delta, window, max_periods, seed):
    """Play one session until every firm's greedy table is unchanged for ``window`` periods or
    ``max_periods`` have passed.

    ``q`` (n, S, m) and ``greedy`` (n, S) are updated in place.  The first state is drawn
    uniformly at random.  ``epsilon_t = exp(-beta t)`` is kept by the recursion
    ``epsilon_{t+1} = epsilon_t exp(-beta)``.

    Returns ``(periods played, converged, final state)``.
    """
    n, n_states, m = q.shape
    state = np.uint64(seed)
    actions = np.empty(n, dtype=np.int64)
    state, bits = _splitmix_next(state)
    s = min(int(_unit(bits) * n_states), n_states - 1)
    eps = 1.0
    decay = np.exp(-beta)
    stable = 0
    t = 0
    while t < max_periods:
        for i in range(n):
            state, b1 = _splitmix_next(state)
            u_explore = _unit(b1)
            u_action = 0.0
            if u_explore < eps:
                state, b2 = _splitmix_next(state)
                u_action = _unit(b2)
            actions[i] = choose_action(greedy[i, s], eps, u_explore, u_action, m)
        s_next = encode(actions, m)
        changed = False
        for i in range(n):
            if q_update(q[i], greedy[i], s, actions[i], profits[i, s_next], s_next, alpha, delta):
                changed = True
        stable = 0 if changed else stable + 1
        s = s_next
        eps *= decay
        t += 1
        if stable >= window:
            return t, True, s
    return t, False, s


@njit(cache=True)
def _greedy_step(greedy, s, m):
    """The state greedy play leads to from ``s``: the joint action ``(g_1(s), ..., g_n(s))``."""
    return encode(greedy[:, s], m)


def greedy_cycle(greedy: np.ndarray, s0: int, m: int) -> np.ndarray:
    """The states of the cycle reached by greedy play from ``s0``: play ``s <- (g_1(s), ...,
    g_n(s))`` until a state repeats; return the states of the loop, in order of play, starting
    with the first state that repeats."""
    seen: dict[int, int] = {}
    path: list[int] = []
    s = int(s0)
    while s not in seen:
        seen[s] = len(path)
        path.append(s)
        s = int(_greedy_step(greedy, s, m))
    return np.array(path[seen[s]:], dtype=np.int64)


@dataclasses.dataclass
class Sessions:
    """Results of :func:`run_sessions`, one entry per session.

    ``periods`` played; ``converged`` flags; ``cycle_profit`` (sessions, n): each firm's mean
    profit over the greedy cycle reached from the final state; ``cycle_length``; ``cycle_start``:
    the first state of that cycle; ``delta``: the profit gain averaged over firms;
    ``greedy`` (sessions, n, S): the final greedy tables; ``seconds``: wall time.
    """

    game: Game
    alpha: float
    beta: float
    delta_discount: float
    window: int
    max_periods: int
    periods: np.ndarray
    converged: np.ndarray
    cycle_profit: np.ndarray
    cycle_length: np.ndarray
    cycle_start: np.ndarray
    greedy: np.ndarray
    seconds: float

    @property
    def delta(self) -> np.ndarray:
        """Profit gain per session, ``mean_i (pi_i - piN_i) / (piM_i - piN_i)``."""
        g = self.game
        return economics.profit_gain(self.cycle_profit, g.nash_profit,
                                     g.monopoly_profit).mean(axis=1)

    @property
    def session_periods_per_second(self) -> float:
        return float(self.periods.sum()) / max(self.seconds, 1e-12)


def session_seeds(seed: int | SeedTree, sessions: int) -> np.ndarray:
    """The 64-bit seeds of sessions ``0 .. sessions-1``: ``tree.integers("sessions", sessions)``
    with ``tree = seed`` (a :class:`~sim.core.rng.SeedTree` node) or ``SeedTree(seed)``.  Session
    ``k``'s seed does not depend on how many sessions are run."""
    tree = seed if isinstance(seed, SeedTree) else SeedTree(int(seed))
    return tree.integers("sessions", sessions)


def run_sessions(game: Game, *, alpha: float = 0.15, beta: float = 4e-6, delta: float = 0.95,
                 sessions: int = 1000, seed: int | SeedTree = 0, window: int = 100_000,
                 max_periods: int = 1_000_000_000, workers: int | None = None,
                 progress: bool = False) -> Sessions:
    """Run ``sessions`` independent learning sessions of ``game``, each to convergence.

    Sessions run on ``workers`` threads (default: all cores), each session a compiled loop
    that releases the GIL; session ``k`` always uses the stream :func:`session_seeds` gives it
    (``seed`` an integer or a :class:`~sim.core.rng.SeedTree` node), so results are identical
    for any number of workers.  With ``progress`` a tqdm bar counts finished sessions.
    """
    n, m = game.n, game.m
    q0 = initial_q(game.profits, m, delta)
    g0 = greedy_actions(q0)
    seeds = session_seeds(seed, sessions)
    periods = np.zeros(sessions, dtype=np.int64)
    converged = np.zeros(sessions, dtype=bool)
    final = np.zeros(sessions, dtype=np.int64)
    greedy = np.empty((sessions, n, game.states), dtype=np.int64)

    def one(k: int) -> int:
        q, g = q0.copy(), g0.copy()
        t, ok, s = run_session(game.profits, q, g, alpha, beta, delta, window, max_periods,
                               seeds[k])
        periods[k], converged[k], final[k] = t, ok, s
        greedy[k] = g
        return k

    workers = workers or os.cpu_count() or 1
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=sessions, unit="session", desc=f"alpha={alpha:g} beta={beta:g}")
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for _ in pool.map(one, range(sessions)):
            if bar is not None:
                bar.update(1)
    seconds = time.perf_counter() - start
    if bar is not None:
        bar.close()

    cycle_profit = np.empty((sessions, n))
    cycle_length = np.empty(sessions, dtype=np.int64)
    cycle_start = np.empty(sessions, dtype=np.int64)
    for k in range(sessions):
        cyc = greedy_cycle(greedy[k], final[k], m)
        cycle_profit[k] = game.profits[:, cyc].mean(axis=1)
        cycle_length[k], cycle_start[k] = cyc.size, cyc[0]
    return Sessions(game=game, alpha=alpha, beta=beta, delta_discount=delta, window=window,
                    max_periods=max_periods, periods=periods, converged=converged,
                    cycle_profit=cycle_profit, cycle_length=cycle_length, cycle_start=cycle_start,
                    greedy=greedy, seconds=seconds)


def impulse_response(game: Game, greedy: np.ndarray, start: np.ndarray, *,
                     deviator: int | None = 0, horizon: int = 25) -> np.ndarray:
    """Prices after a one-period deviation, per session (Calvano et al. 2020, Section V.B).

    From state ``start[k]`` (period 0, e.g. the first state of the converged cycle) firm
    ``deviator`` plays its static best response (:func:`static_best_response`) to what the
    others play in period 1 (their greedy actions in ``start[k]``); from period 2 on every firm
    plays greedily.  With ``deviator=None`` nobody deviates: the counterfactual path.  Returns
    prices of shape (sessions, horizon + 2, n): period 0, the deviation period 1, and
    ``horizon`` periods after it.
    """
    sessions = greedy.shape[0]
    n, m = game.n, game.m
    out = np.empty((sessions, horizon + 2, n))
    for k in range(sessions):
        g = greedy[k]
        s = int(start[k])
        out[k, 0] = game.joint_prices(s)
        acts = g[:, s].copy()
        others = int(state_index(acts, m))
        if deviator is not None:
            acts[deviator] = static_best_response(game, deviator, others)
        s = int(state_index(acts, m))
        out[k, 1] = game.joint_prices(s)
        for t in range(2, horizon + 2):
            s = int(_greedy_step(g, s, m))
            out[k, t] = game.joint_prices(s)
    return out
