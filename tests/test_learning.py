"""The q_learning pricing rule in the token market (sim.strategies.learning)."""

from __future__ import annotations

import numpy as np
import pytest

import sim
from sim import economics
from sim.core.errors import ConfigError
from sim.learning import qlearning
from sim.strategies.learning import Arena, _nearest
from sim.world.model import PriceWarModel

SCENARIO = "scenario=algorithmic_pricing"
ALONE = [SCENARIO, "shocks=[]", "~firms.lab"]


def _model(*overrides: str, days: int = 1) -> PriceWarModel:
    model = PriceWarModel(sim.validate(sim.compose([*overrides])))
    for _ in range(days + 1):
        model.step()
    return model


@pytest.fixture(scope="module")
def arena() -> Arena:
    return _model(*ALONE, "firms.algo_a.pricing.pretrain_max_periods=0",
                  "firms.algo_b.pricing.pretrain_max_periods=0").shared["q_learning"]


def test_benchmarks_are_the_logit_nash_and_monopoly_prices(arena):
    """The scenario maps the token market onto Calvano's logit duopoly, so the arena's numeric
    Nash and joint-monopoly prices are the closed-form ones (1.47293, 1.92498)."""
    a, c = np.full(2, 2.0), np.full(2, 1.0)
    pn = economics.logit_nash_prices(a, c, 0.0, 0.25)
    pm = economics.logit_monopoly_prices(a, c, 0.0, 0.25)
    b = arena.benchmarks
    np.testing.assert_allclose(b.nash_price, pn, atol=1e-7)
    np.testing.assert_allclose(b.monopoly_price, pm, atol=1e-5)
    np.testing.assert_allclose(b.nash_profit, economics.logit_profits(pn, a, c, 0.0, 0.25),
                               atol=1e-9)
    assert b.nash_price[0] == pytest.approx(1.47293, abs=1e-5)
    assert b.monopoly_price[0] == pytest.approx(1.92498, abs=1e-5)


def test_token_market_profit_table_is_the_calvano_game(arena):
    """The pretraining game built by clearing the token market equals the engine's closed-form
    logit game: one game, two routes to it."""
    game = qlearning.logit_game()
    np.testing.assert_allclose(arena.grids, game.prices, atol=1e-5)
    np.testing.assert_allclose(arena.profits, game.profits, rtol=1e-4)


def test_without_pretraining_q_starts_at_random_play_values(arena):
    """No pretraining: Q is the paper's Q0 (lifted onto the learners' states) and t = periods."""
    q0 = qlearning.initial_q(arena.profits, arena.p.m, arena.p.delta)
    assert arena.pretrain_periods == 0
    assert arena.q.shape == (2, 15 ** 2, 15)
    # Every period after the first updated one state of each learner's table.
    changed = (arena.q != q0).any(axis=2).sum(axis=1)
    assert arena.t >= 1 and (changed <= arena.t - 1).all()


def test_nearest_grid_point():
    grid = np.array([1.0, 2.0, 3.0])
    assert [_nearest(grid, p) for p in (-5.0, 1.0, 1.5, 1.51, 2.9, 3.0, 9.0)] == \
        [0, 0, 0, 1, 2, 2, 2]


def test_learners_move_together_on_the_grid():
    r = sim.run([*ALONE, "horizon_days=30"])
    grid = qlearning.logit_game().prices[0]
    prices = r.firms.pivot_table(index="day", columns="firm", values="price_usd_per_m")
    later = prices.loc[1:].to_numpy()
    dist = np.abs(later[..., None] - grid).min(axis=-1)
    assert dist.max() < 1e-5  # every posted price is a grid point


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pretrained_learners_price_above_nash(seed):
    """Calvano et al.'s finding inside the token market: learners that pretrained to convergence
    keep prices above the static Nash price and earn a clearly positive profit gain."""
    r = sim.run([*ALONE, f"seed={seed}", "horizon_days=60"])
    q = r.summary["q_learning"]
    assert q["pretraining_converged"]
    phase = q["phases"]["1"]
    assert phase["share_of_days_above_nash"] > 0.8
    assert phase["learners_mean_price_usd_per_m"] > q["nash_price_usd_per_m"][0]
    assert phase["learners_profit_gain"] > 0.3


def test_lab_entry_reindexes_tables_keeping_learned_values():
    """On the lab's entry every learner's table gains the lab's price as a state component; each
    new state inherits the value of the learners' part of it, except the few states updated
    since."""
    model = _model(SCENARIO, days=119)
    arena = model.shared["q_learning"]
    before = arena.q.copy()
    assert before.shape == (2, 15 ** 2, 15)
    model.step()
    model.step()  # the lab entered on day 120; the learners have played two periods since
    after = arena.q
    assert after.shape == (2, 15 ** 3, 15)
    lifted = np.repeat(before, 15, axis=1)  # the lab is the last component of the state
    differs = (after != lifted).any(axis=2).sum(axis=1)
    assert (differs <= 2).all()
    assert arena.members == ["algo_a", "algo_b", "lab"]


def test_same_seed_same_prices():
    a = sim.run([SCENARIO, "seed=4", "horizon_days=130"])
    b = sim.run([SCENARIO, "seed=4", "horizon_days=130"])
    assert a.firms.equals(b.firms) and a.events.equals(b.events)
    c = sim.run([SCENARIO, "seed=5", "horizon_days=130"])
    assert not a.firms["price_usd_per_m"].equals(c.firms["price_usd_per_m"])


@pytest.mark.parametrize(("override", "key"), [
    ("firms.algo_a.reaction_lag_days=2", "firms.algo_a.reaction_lag_days"),
    ("firms.algo_b.review_days=2", "firms.algo_b.review_days"),
    ("firms.algo_b.pricing.alpha=0.3", "firms.algo_b.pricing.alpha"),
    ("firms.algo_a.pricing.m=101", "firms.algo_a.pricing.m"),
    ("firms.algo_a.pricing.m=100", "firms.algo_a.pricing.m"),  # 100**4 Q entries: too many
    ("firms.algo_a.pricing.beta=-1", "firms.algo_a.pricing.beta"),
    ("firms.algo_a.pricing.delta=1", "firms.algo_a.pricing.delta"),
    ("firms.algo_b.pricing.rule=cost_plus", "firms.algo_a.pricing.rule"),  # a lone learner
    ("shocks.0.firm=algo_b", "shocks[0].firm"),  # a learner entering later
])
def test_bad_learner_configs_name_the_key(override, key):
    overrides = [SCENARIO, override]
    if override.startswith("firms.algo_a.pricing.") and "m=" not in override:
        overrides.append(override.replace("algo_a", "algo_b"))  # keep the learners equal
    with pytest.raises(ConfigError) as err:
        sim.validate(sim.compose(overrides))
    assert str(err.value).startswith(f"{key}=")
    assert "\n" not in str(err.value)


def test_phase_benchmarks_follow_the_market_the_learners_are_in():
    """After the lab enters, the phase's benchmarks are the three-firm logit Nash and
    joint-monopoly prices (closed forms), and the learners earn less than before, against both
    the duopoly benchmarks and the three-firm ones."""
    r = sim.run([SCENARIO, "horizon_days=150"])
    phases = r.summary["q_learning"]["phases"]
    assert list(phases) == ["1", "2"]
    assert phases["2"]["firms"] == ["algo_a", "algo_b", "lab"]
    a, c = np.full(3, 2.0), np.full(3, 1.0)
    pn3 = economics.logit_nash_prices(a, c, 0.0, 0.25)[0]
    pm3 = economics.logit_monopoly_prices(a, c, 0.0, 0.25)[0]
    assert pn3 < 1.47293 < pm3
    np.testing.assert_allclose(list(phases["2"]["market_nash_price_usd_per_m"].values()), pn3,
                               atol=1e-7)
    np.testing.assert_allclose(list(phases["2"]["market_monopoly_price_usd_per_m"].values()),
                               pm3, atol=1e-5)
    # phase 1's market is the first review's: both gains agree there
    assert phases["1"]["learners_profit_gain_vs_market"] == pytest.approx(
        phases["1"]["learners_profit_gain"], rel=1e-9)
    assert phases["2"]["learners_profit_gain"] < phases["1"]["learners_profit_gain"]
    assert phases["2"]["learners_profit_gain_vs_market"] < phases["1"]["learners_profit_gain"]
