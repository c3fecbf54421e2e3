"""The ``q_learning`` pricing rule: Calvano et al.'s (2020) Q-learning firms in the token market.

Every firm priced by ``q_learning`` in one model takes part in one :class:`Arena`, built at the
first learner's first review:

1. **Grid.**  The static Nash prices ``pN`` of the learners (best responses iterated to a fixed
   point on today's logit demand, every other firm's price held where it is) and their
   joint-monopoly prices ``pM`` (the learners' summed profit maximised); learner ``i`` prices on
   ``m`` points evenly spaced on ``[pN_i - xi (pM_i - pN_i), pM_i + xi (pM_i - pN_i)]``.  Both
   benchmarks use demand without capacity limits (:func:`sim.economics.nash_prices`,
   :func:`sim.economics.monopoly_prices`).
2. **Pretraining.**  With ``pretrain_max_periods > 0`` the learners first play the repeated game
   whose per-period profit table is the token market's daily operating margin
   ``(p_i - c_i) served_i`` at each joint grid price (cleared by
   :func:`sim.markets.tokens.clear`, capacities included when the market has limits), using
   the many-session engine's compiled loop (:func:`sim.learning.qlearning.run_session`) until greedy
   actions are unchanged for ``window`` periods or the cap is reached.  A firm's algorithm is
   trained in a sandbox, then deployed.
3. **Play.**  Each period (a price review of the learners, who share one review clock) every
   learner observes the state, the last prices of all active firms, each mapped to the nearest
   point of its own grid (so a firm pricing below the grid reads as its lowest point); updates
   ``Q`` for the previous period with :func:`sim.learning.qlearning.q_update` and reward = its last
   day's operating margin ``revenue - c * served`` (USD a day); and chooses its price
   epsilon-greedily with :func:`sim.learning.qlearning.choose_action`,
   ``epsilon_t = exp(-beta t)``, ``t`` counting pretraining periods too.

The state covers the firms active at the time; when a firm enters or leaves, every learner's
table is re-indexed so that a newcomer's price starts out irrelevant (each new state inherits
the values of the state without it) and a leaver's component is fixed at its last price.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from sim import economics
from sim.core.errors import ConfigError
from sim.learning import qlearning
from sim.strategies import param, parse, register
from sim.strategies.pricing import PricingRule
from sim.views import FirmView, MarketView, RuleContext

#: Parameters every learner in one market must share: they learn in one joint game.
SHARED = ("m", "xi", "alpha", "beta", "delta", "window", "pretrain_max_periods")


@register("pricing", "q_learning")
class QLearning(PricingRule):
    """Q-learning on a price grid around the static Nash and joint-monopoly prices.

    ``Q[s, a] <- (1 - alpha) Q[s, a] + alpha (pi + delta max_a' Q[s', a'])``, epsilon-greedy
    with ``epsilon_t = exp(-beta t)``, ``Q0`` the discounted payoff against uniformly random
    rivals, state = the last prices of all firms (memory one).  See :mod:`sim.strategies.learning`
    for how the learners of one market share a grid, pretraining and a period clock.
    """

    @dataclasses.dataclass
    class Params:
        m: int = param(15, 2, 100, doc="prices on the grid")
        xi: float = param(0.1, 0.0, 10.0, doc="grid extension beyond [pN, pM], share of pM - pN")
        alpha: float = param(0.15, 0.0, 1.0, lo_open=True, doc="learning rate")
        beta: float = param(4e-6, 0.0, 1.0, doc="exploration decay: epsilon_t = exp(-beta t)")
        delta: float = param(0.95, 0.0, 1.0, hi_open=True,
                             doc="discount factor per period (a period is the learners' "
                                 "review_days: per year delta^(365/review_days))")
        window: int = param(100_000, 1, 10**10,
                            doc="pretraining stops once greedy actions are this many periods "
                                "unchanged")
        pretrain_max_periods: int = param(50_000_000, 0, 10**11,
                                          doc="cap on pretraining periods (0: no pretraining)")

    @classmethod
    def check(cls, key, params, cfg):
        learners = []
        for name, f in cfg.firms.items():
            spec = f.pricing
            rule = spec.get("rule") if hasattr(spec, "get") else getattr(spec, "rule", None)
            if rule == cls.name:
                learners.append((name, f))
        n = len(cfg.firms)
        if params.m ** (n + 1) > qlearning.MAX_Q_ENTRIES:
            raise ConfigError(f"{key}.m", params.m,
                              f"m**(firms + 1) <= {qlearning.MAX_Q_ENTRIES:,} Q entries "
                              f"(here {n} firms)",
                              "Q table too large")
        first_name, first = learners[0]
        mine = key.split(".")[1] if key.startswith("firms.") else None
        f_cfg = cfg.firms.get(mine) if mine else None
        if len(learners) < 2:
            raise ConfigError(f"{key}.rule", cls.name, "q_learning for at least two firms (a "
                              "lone learner's Nash and monopoly prices coincide: no grid)",
                              "one learner")
        if f_cfg is not None:
            for i, shock in enumerate(cfg.shocks):
                if shock.kind == "entry" and shock.firm == mine:
                    raise ConfigError(f"shocks[{i}].firm", mine,
                                      "a firm not priced by q_learning (learners are in the "
                                      "market from the start and pretrain together)",
                                      "a learner cannot enter later")
            if f_cfg.reaction_lag_days is not None:
                raise ConfigError(f"firms.{mine}.reaction_lag_days", f_cfg.reaction_lag_days,
                                  "null for a q_learning firm (learners move on the period "
                                  "clock of their price reviews)", "reactions not allowed")
            for attr in ("review_days", "first_review_day"):
                if getattr(f_cfg, attr) != getattr(first, attr):
                    raise ConfigError(f"firms.{mine}.{attr}", getattr(f_cfg, attr),
                                      f"{getattr(first, attr)!r}, as for firms.{first_name} "
                                      "(q_learning firms share one period clock)",
                                      "learners out of step")
        _, ref = parse("pricing", first.pricing, f"firms.{first_name}.pricing")
        for attr in SHARED:
            if getattr(params, attr) != getattr(ref, attr):
                raise ConfigError(f"{key}.{attr}", getattr(params, attr),
                                  f"{getattr(ref, attr)!r}, as for firms.{first_name} "
                                  "(q_learning firms learn in one game)", "learners differ")

    def bind(self, ctx: RuleContext) -> None:
        arena = ctx.shared.get("q_learning")
        if arena is None:
            arena = ctx.shared["q_learning"] = Arena(self.params, ctx)
        arena.join(ctx.firm, ctx.rng)
        self.arena = arena

    def price(self, market: MarketView, me: FirmView, ctx: RuleContext) -> float:
        return self.arena.price_for(market, me, ctx)


# --------------------------------------------------------------------------------------------

def _nearest(grid: np.ndarray, price: float) -> int:
    """Index of the grid point nearest ``price`` (ties to the lower point)."""
    k = int(np.searchsorted(grid, price))
    if k <= 0:
        return 0
    if k >= grid.size:
        return grid.size - 1
    return k - 1 if price - grid[k - 1] <= grid[k] - price else k


@dataclasses.dataclass
class Benchmarks:
    """Static Nash and joint-monopoly prices (USD/M) and daily profits (USD) of some players."""

    nash_price: np.ndarray
    monopoly_price: np.ndarray
    nash_profit: np.ndarray
    monopoly_profit: np.ndarray


@dataclasses.dataclass(frozen=True)
class Snapshot:
    """The token market at one moment: its :class:`~sim.economics.SegmentMarket` (capacities
    only if the market has limits), the prices in force and the re-choice rounds."""

    market: economics.SegmentMarket
    prices: np.ndarray
    rechoice_rounds: int

    @classmethod
    def of(cls, view: MarketView) -> Snapshot:
        """The market a view shows."""
        return cls(view.segment_market(), view.all_prices(), view.rechoice_rounds)

    def margins(self, players: np.ndarray, joint, capacity: bool = True) -> np.ndarray:
        """Daily operating margin ``(p_i - c_i) served_i`` of the ``players`` at each row of
        ``joint`` (their prices), every other firm at its price
        (:func:`sim.economics.cleared_margins`; capacities only if ``capacity``)."""
        return economics.cleared_margins(self.market, self.prices, players, joint,
                                         self.rechoice_rounds, capacity=capacity)

    def benchmarks(self, players: np.ndarray) -> Benchmarks:
        """The players' static Nash prices (:func:`sim.economics.nash_prices`) and
        joint-monopoly prices (:func:`sim.economics.monopoly_prices`), every other firm at its
        price, without capacity limits, and their daily margins there."""
        players = np.asarray(players)
        nash = economics.nash_prices(self.market, self.prices, players)
        mono = economics.monopoly_prices(self.market, self.prices, players)
        return Benchmarks(nash, mono, self.margins(players, nash, capacity=False)[0],
                          self.margins(players, mono, capacity=False)[0])


class Arena:
    """The learners of one model: their grids, Q tables, state and period clock.

    Learners join when their firms are created (:meth:`join`); the grids, the profit table and
    pretraining are built at the first learner's first review, from the market it sees.  Each
    period's state is the members' prices as the period's first learner saw them, before any
    learner moved, so every learner observes the same state.
    """

    def __init__(self, params, ctx: RuleContext):
        self.p = params
        self.names: list[str] = []
        self.rngs: list[np.random.Generator] = []
        self.log = ctx.log
        self.built = False

    def join(self, name: str, rng: np.random.Generator) -> None:
        self.names.append(name)
        self.rngs.append(rng)

    def _build(self, view: MarketView, ctx: RuleContext) -> None:
        params = self.p
        self.learners = [n for n in view.names if n in self.names]
        self.rngs = [self.rngs[self.names.index(n)] for n in self.learners]
        market = Snapshot.of(view)
        players = np.array([view.names.index(n) for n in self.learners])
        self.benchmarks = b = market.benchmarks(players)
        self.grids = np.array([qlearning.price_grid(pn, pm, params.m, params.xi)
                               for pn, pm in zip(b.nash_price, b.monopoly_price, strict=True)])
        k, m = len(self.learners), params.m
        self.profits = qlearning.joint_profit_table(
            self.grids, lambda joint: market.margins(players, joint))
        q = qlearning.initial_q(self.profits, m, params.delta)
        greedy = qlearning.greedy_actions(q)
        self.t, self.pretrain_converged = 0, False
        if params.pretrain_max_periods > 0:
            seed = int(self.rngs[0].integers(2**63))
            t, ok, _ = qlearning.run_session(self.profits, q, greedy, params.alpha, params.beta,
                                             params.delta, params.window,
                                             params.pretrain_max_periods, seed)
            self.t, self.pretrain_converged = int(t), bool(ok)
        self.pretrain_periods = self.t
        ctx.log("q_pretrain",
                f"{k} learners, grid {self.grids[0, 0]:.4g}-{self.grids[0, -1]:.4g} USD/M, "
                f"Nash {b.nash_price[0]:.4g}, monopoly {b.monopoly_price[0]:.4g}; "
                f"{self.t:,} pretraining periods"
                + (", converged" if self.pretrain_converged else ""), float(self.t))
        # The demand side at the first review, for the phase benchmarks of the summary.
        self.sizes0, self.alpha, self.theta = view.sizes.copy(), view.alpha, view.theta
        self.rechoice_rounds = view.rechoice_rounds
        self.view0 = view  # the demand side (usage, no-purchase value, outside seller or none)
        # Tables over the learners' own actions; lift them onto all active firms' prices.
        self.members: list[str] = list(self.learners)
        self.last_price = dict(zip(view.names, view.prices.tolist(), strict=True))
        self.q, self.greedy = q, greedy
        self._reindex(list(view.names))
        self.time: float | None = None
        self.start_day = int(ctx.now)
        self.state = np.zeros(k, dtype=np.int64)
        self.actions = greedy[:, 0].copy()
        self.started = np.zeros(k, dtype=bool)
        self.period_prices: dict[str, float] = {}
        self.period_days: float | None = None  # measured between periods
        self.eps = 1.0
        self.built = True

    # ---------------------------------------------------------------- state space
    def _reindex(self, members: list[str]) -> None:
        """Re-index every learner's table from the current members to ``members``."""
        m = self.p.m
        old = self.members
        n_new = len(members)
        comps = np.indices((m,) * n_new).reshape(n_new, -1)  # new state -> each component
        q = np.empty((len(self.learners), m ** n_new, m))
        greedy = np.empty((len(self.learners), m ** n_new), dtype=np.int64)
        for i in range(len(self.learners)):
            old_comp = np.empty((len(old), comps.shape[1]), dtype=np.int64)
            for j, f in enumerate(old):
                if f in members:
                    old_comp[j] = comps[members.index(f)]
                else:  # a leaver: fixed at its last price
                    old_comp[j] = _nearest(self.grids[i], self.last_price[f])
            old_s = qlearning.state_index(old_comp.T, m)
            q[i] = self.q[i][old_s]
            greedy[i] = self.greedy[i][old_s]
        self.members, self.q, self.greedy = list(members), q, greedy

    def _observe(self, i: int) -> int:
        grid = self.grids[i]
        actions = [_nearest(grid, self.period_prices[f]) for f in self.members]
        return int(qlearning.state_index(np.asarray(actions, dtype=np.int64), self.p.m))

    # ---------------------------------------------------------------- play
    def price_for(self, view: MarketView, me: FirmView, ctx: RuleContext) -> float:
        """Learner ``me``'s price this period: learn from its last period, then choose."""
        if not self.built:
            self._build(view, ctx)
        if self.time != ctx.now:  # a new period: fix the state every learner observes
            if self.time is not None:
                self.period_days = ctx.now - self.time
            self.time = ctx.now
            self.period_prices = dict(zip(view.names, view.prices.tolist(), strict=True))
            self.last_price.update(self.period_prices)
            members = list(view.names)
            if members != self.members:
                self._reindex(members)
                self.started[:] = False  # the previous state's index has no meaning any more
            self.eps = float(qlearning.epsilon(self.t, self.p.beta))
            self.t += 1
        i = self.learners.index(me.name)
        p = self.p
        s_next = self._observe(i)
        if self.started[i]:
            reward = me.trailing("revenue_usd", 1) - me.marginal_cost * me.served_m_tokens
            qlearning.q_update(self.q[i], self.greedy[i], self.state[i], self.actions[i],
                               reward, s_next, p.alpha, p.delta)
        u = self.rngs[i].random(2)
        self.actions[i] = qlearning.choose_action(self.greedy[i, s_next], self.eps, u[0], u[1],
                                                  p.m)
        self.state[i] = s_next
        self.started[i] = True
        return float(self.grids[i, self.actions[i]])

    # ---------------------------------------------------------------- reporting
    def _market_on(self, day_rows, market_row) -> Benchmarks:
        """All firms' benchmarks on a recorded day: the firms' qualities and costs from their
        rows, segment sizes scaled to the day's total demand, the day's outside offer."""
        v0 = self.view0
        frontier = v0.frontier_price is not None
        view = dataclasses.replace(
            v0, me=0, names=tuple(day_rows["firm"]),
            prices=day_rows["price_usd_per_m"].to_numpy(float),
            qualities=day_rows["quality"].to_numpy(float),
            costs=day_rows["marginal_cost_usd_per_m"].to_numpy(float),
            capacities=day_rows["capacity_m_tokens"].to_numpy(float),
            sizes=self.sizes0 * (market_row["total_demand_m_tokens"] / self.sizes0.sum()),
            frontier_price=float(market_row["outside_price_usd_per_m"]) if frontier else None,
            frontier_quality=float(market_row["outside_quality"]) if frontier else None,
            book=None)
        snap = Snapshot(view.segment_market(capacity=False), view.all_prices(),
                        self.rechoice_rounds)
        return snap.benchmarks(np.arange(len(day_rows)))
    def summary(self, firms, market) -> dict:
        """The learners' benchmarks and pretraining, and their record by phase.

        A phase (``"1"``, ``"2"``, ...) is a span of days with one set of firms in the market,
        from the first review on.  Per phase: the learners' mean price and profit gain
        ``Delta = (pi - piN) / (piM - piN)``, with ``pi`` the mean daily operating margin
        ``revenue - c * served``, against two benchmarks: those of the market at the first
        review (``learners_profit_gain``), and the static Nash and joint-monopoly outcomes of
        the phase's own market on its first day with every firm in it as a player
        (``learners_profit_gain_vs_market``; :meth:`Snapshot.benchmarks`).
        """
        if not self.built:
            return {"learners": list(self.names), "periods": 0, "phases": {}}
        b = self.benchmarks
        names = list(self.learners)
        rows = firms[firms["day"] >= self.start_day]
        present = rows.groupby("day")["firm"].agg(lambda s: tuple(sorted(s)))
        phases = {}
        change = present.ne(present.shift()).cumsum()
        for _, days in present.groupby(change):
            d0, d1 = int(days.index.min()), int(days.index.max())
            span = rows[(rows["day"] >= d0) & (rows["day"] <= d1) & rows["firm"].isin(names)]
            margin = span["revenue_usd"] - span["marginal_cost_usd_per_m"] * span["served_m_tokens"]
            by_firm = margin.groupby(span["firm"]).mean().reindex(names)
            gain = economics.profit_gain(by_firm.to_numpy(), b.nash_profit, b.monopoly_profit)
            first = rows[rows["day"] == d0]
            bench = self._market_on(first, market[market["day"] == d0].iloc[0])
            learner = first["firm"].isin(names).to_numpy()
            pn, pm = bench.nash_profit[learner], bench.monopoly_profit[learner]
            mine = by_firm.reindex(first["firm"][learner]).to_numpy()
            phases[str(len(phases) + 1)] = {
                "first_day": d0, "last_day": d1, "firms": list(days.iloc[0]),
                "learners_mean_price_usd_per_m": float(span["price_usd_per_m"].mean()),
                "learners_profit_gain": float(np.nanmean(gain)),
                "share_of_days_above_nash": float(
                    (span["price_usd_per_m"].to_numpy() > b.nash_price.max() + 1e-9).mean()),
                "market_nash_price_usd_per_m": dict(zip(first["firm"],
                                                        bench.nash_price.tolist(), strict=True)),
                "market_monopoly_price_usd_per_m": dict(zip(
                    first["firm"], bench.monopoly_price.tolist(), strict=True)),
                "learners_profit_gain_vs_market": float(np.nanmean(
                    economics.profit_gain(mine, pn, pm))),
            }
        return {
            "learners": names,
            "nash_price_usd_per_m": b.nash_price.tolist(),
            "monopoly_price_usd_per_m": b.monopoly_price.tolist(),
            "nash_profit_usd_per_day": b.nash_profit.tolist(),
            "monopoly_profit_usd_per_day": b.monopoly_profit.tolist(),
            "grid_usd_per_m": [float(self.grids[0, 0]), float(self.grids[0, -1])],
            "pretraining_periods": self.pretrain_periods,
            # delta is per period; in calendar terms a year discounts by delta^(365/period).
            "period_days": self.period_days,
            "discount_factor_per_year": (self.p.delta ** (365.0 / self.period_days)
                                         if self.period_days else None),
            "pretraining_converged": self.pretrain_converged,
            "periods": self.t,
            "phases": phases,
        }
