"""The threat rule, the cut scorer and the china_2024 hold-out (docs/model.md §8)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from sim.analysis.cuts import (
    cut_errors,
    leader,
    mean_errors,
    naive_forecasts,
    observed_cuts,
    validation_block,
)
from sim.api import simulate
from sim.core.errors import ConfigError
from sim.strategies import make
from sim.validation import validate
from sim.views import FirmView, MarketView, RuleContext

W = math.log(10.0) / 400.0  # the rule's default quality weight


# ----------------------------------------------------------------------------- the scorer
OBS = {"a": (20.0, 97.0), "b": (20.0, 100.0), "c": (21.0, 87.5)}


def test_leader_is_the_earliest_cut_ties_to_the_first_listed():
    assert leader(OBS) == "a"
    assert leader({"b": (20.0, 100.0), "a": (20.0, 97.0)}) == "b"
    assert leader({**OBS, "c": (3.0, 10.0)}) == "c"


def test_cut_errors_by_hand():
    assert cut_errors((25, 90.0), (20.0, 97.0), 365) == (5, 7.0)
    assert cut_errors((18, 99.5), (20.0, 97.0), 365) == (2, 2.5)
    # No cut: depth 0 on the first day after the run.
    assert cut_errors((None, 0.0), (20.0, 97.0), 365) == (345, 97.0)
    assert cut_errors((None, 0.0), (20.0, 97.0), 60) == (40, 97.0)


def test_naive_forecasts_and_their_mean_errors_by_hand():
    naive = naive_forecasts(OBS)
    assert naive["no_change"] == {n: (None, 0.0) for n in OBS}
    assert naive["follow_leader"] == {n: (20.0, 97.0) for n in OBS}
    # follow the leader: a (0, 0), b (0, 3), c (1, 9.5)
    assert mean_errors(naive["follow_leader"], OBS, ["b", "c"], 365) == \
        {"mean_abs_days": 0.5, "mean_abs_pp": 6.25}
    assert mean_errors(naive["no_change"], OBS, ["a", "b", "c"], 100) == \
        {"mean_abs_days": (80 + 80 + 79) / 3, "mean_abs_pp": (97 + 100 + 87.5) / 3}
    assert mean_errors(naive["no_change"], OBS, [], 100) == \
        {"mean_abs_days": None, "mean_abs_pp": None}


def test_validation_block_by_hand():
    targets = {"price_cuts": {"a": {"date": "2024-05-21", "cut_pct": 97},
                              "c": {"date": "2024-05-22", "cut_pct": 87.5}},
               "fitted_on": ["a"]}
    start = pd.Timestamp("2024-05-01")

    def day_of(d):
        return float((pd.Timestamp(d) - start).days)

    def date_of(d):
        return str(start + pd.Timedelta(days=d))[:10]

    assert observed_cuts(targets, day_of) == {"a": (20.0, 97.0), "c": (21.0, 87.5)}
    block = validation_block(targets, {"a": (22, 90.0), "c": (None, 0.0)}, day_of, date_of, 60)
    assert block["leader"] == "a" and block["fitted_on"] == ["a"] and block["held_out"] == ["c"]
    a, c = block["firms"]["a"], block["firms"]["c"]
    assert (a["role"], a["model_date"], a["model"]) == \
        ("fitted", "2024-05-23", {"abs_days": 2, "abs_pp": 7.0})
    assert (c["role"], c["model_date"], c["model_cut_pct"]) == ("held_out", None, None)
    assert c["model"] == {"abs_days": 39, "abs_pp": 87.5}
    assert c["follow_leader"] == {"abs_days": 1, "abs_pp": 9.5}
    assert block["scores"]["held_out"]["follow_leader"] == {"mean_abs_days": 1,
                                                           "mean_abs_pp": 9.5}
    assert block["scores"]["fitted"]["no_change"] == {"mean_abs_days": 40, "mean_abs_pp": 97}
    assert validation_block({}, {}, day_of, date_of, 60) is None


# ----------------------------------------------------------------------------- the threat rule
def _market(prices, qualities, me=0, cost=0.1):
    n = len(prices)
    return MarketView(me=me, names=tuple("abcdefgh"[:n]), prices=np.array(prices, float),
                      qualities=np.array(qualities, float), costs=np.full(n, cost),
                      capacities=np.full(n, 1e9), sizes=np.ones(1), alpha=np.ones(1),
                      theta=np.full(1, 0.01), frontier_price=100.0, frontier_quality=1000.0,
                      capacity_limits=False)


def _me(price, cost=0.1):
    return FirmView(name="a", kind="tech_giant", price=price, quality=0.0, marginal_cost=cost,
                    cost_per_gpu_hour_usd=0.35, tokens_per_gpu_hour=3.5, cash=0.0,
                    gpus_serving=0.0, gpus_training=0.0, gpus_on_order=0.0, gpu_price_usd=0.0,
                    gpu_lead_days=0.0, choice_share=0.0, served_m_tokens=0.0, history={})


CTX = RuleContext("a", lambda: 0.0, np.random.default_rng(0), {}, pd.Timestamp("2024-01-01"))


def test_threat_is_the_quality_adjusted_log_undercut():
    rule = make("pricing", {"rule": "threat"})
    m = _market([2.778, 0.1389, 0.0, 5.0], [1180, 1220, 1000, 1180])
    tau = rule.threats(m)
    assert tau[0] == -np.inf  # not a threat to itself
    assert tau[1] == pytest.approx(math.log(2.778 / 0.1389) + W * 40)
    assert tau[2] == np.inf  # a free rival
    assert tau[3] == pytest.approx(math.log(2.778 / 5.0))
    free = rule.threats(_market([0.0, 0.0, 1.0], [1000, 1000, 1500]))
    assert (free == -np.inf).all()  # a free firm cannot be undercut


@pytest.mark.parametrize("kappa", [0.0, 0.5, 2.0])
def test_reaction_lag_shrinks_with_the_threat_and_skips_small_ones(kappa):
    rule = make("pricing", {"rule": "threat", "threshold": 1.0, "lag_sensitivity": kappa})
    m = _market([4.0, 0.5, 3.0], [1200, 1200, 1200])
    tau = math.log(4.0 / 0.5)
    assert rule.reaction_lag(m, _me(4.0), CTX, 1, 15.0) == \
        pytest.approx(15.0 / (1.0 + kappa * (tau - 1.0)))
    assert rule.reaction_lag(m, _me(4.0), CTX, 2, 15.0) == math.inf  # ln(4/3) < 1
    assert rule.reaction_lag(_market([4.0, 0.0], [1200, 1200]), _me(4.0), CTX, 1, 15.0) == \
        (0.0 if kappa > 0 else 15.0)


def test_threat_price_is_set_against_the_biggest_threat():
    rule = make("pricing", {"rule": "threat", "threshold": 1.0, "match": 0.5, "floor": 0.5})
    # b: tau = ln(4/0.5) = 2.08; c: ln(4/0.3) - 100 W = 2.01: b is the bigger threat
    m = _market([4.0, 0.5, 0.3], [1200, 1200, 1100])
    assert rule.price(m, _me(4.0), CTX) == pytest.approx(0.5 * 0.5)
    # a better rival's no-threat price is lower: p_k exp(W (q_i - q_k))
    m = _market([4.0, 0.5], [1200, 1300])
    assert rule.price(m, _me(4.0), CTX) == pytest.approx(0.5 * 0.5 * math.exp(-100 * W))
    # the floor, and holding when no threat passes the threshold (or nobody is there)
    assert rule.price(_market([4.0, 0.01], [1200, 1200]), _me(4.0), CTX) == 0.5 * 0.1
    assert rule.price(_market([4.0, 3.0], [1200, 1200]), _me(4.0), CTX) == 4.0
    assert rule.price(_market([4.0], [1200]), _me(4.0), CTX) == 4.0
    # never a rise: match far above 1
    high = make("pricing", {"rule": "threat", "threshold": 0.1, "match": 100.0})
    assert high.price(_market([4.0, 1.0], [1200, 1200]), _me(4.0), CTX) == 4.0


@pytest.mark.parametrize("override,key", [
    ({"threshold": -1}, "threshold"), ({"match": -0.1}, "match"),
    ({"lag_sensitivity": -1}, "lag_sensitivity"), ({"quality_weight": 2}, "quality_weight")])
def test_threat_rule_refuses_bad_parameters(override, key):
    with pytest.raises(ConfigError, match=f"pricing.{key}"):
        make("pricing", {"rule": "threat", **override})


def _three_firms(kappa=1.0, threshold=0.5, lag=10.0):
    return validate({
        "name": "t", "horizon_days": 30, "start_date": "2024-05-01",
        "firms": {
            "giant": {"kind": "tech_giant", "price_usd_per_m": 4.0, "quality": 1200,
                      "review_days": 1000, "first_review_day": 1000, "reaction_lag_days": lag,
                      "pricing": {"rule": "threat", "threshold": threshold,
                                  "lag_sensitivity": kappa, "match": 1.0},
                      "research": {"rule": "none"}, "capacity": {"rule": "none"}},
            "a": {"kind": "tech_giant", "price_usd_per_m": 4.0, "quality": 1200,
                  "reaction_lag_days": None, "pricing": {"rule": "scripted", "path": [[2, 2.0]]},
                  "research": {"rule": "none"}, "capacity": {"rule": "none"}},
            "b": {"kind": "lean_lab", "price_usd_per_m": 0.1, "quality": 1200,
                  "reaction_lag_days": None, "review_days": 1000, "first_review_day": 1000,
                  "pricing": {"rule": "cost_plus", "markup": 0.1 / 0.021875 - 1},
                  "research": {"rule": "none"}, "capacity": {"rule": "none"}}},
        "shocks": [{"at": 4, "kind": "entry", "firm": "b"}]})


def _first_move(result, firm="giant"):
    e = result.events
    return e[(e["kind"] == "price_change") & (e["firm"] == firm)].iloc[0]


def test_a_bigger_later_threat_brings_the_reaction_forward():
    """a halves its price on day 2 (tau = ln 2), b enters at 0.1 on day 4 (tau = ln 40): the
    giant reacts at min(2 + 10 / (1 + (ln 2 - 0.5)), 4 + 10 / (1 + (ln 40 - 0.5))), b's."""
    move = _first_move(simulate(_three_firms()))
    due_a = 2 + 10 / (1 + (math.log(2) - 0.5))
    due_b = 4 + 10 / (1 + (math.log(40) - 0.5))
    assert due_b < due_a
    assert move["time"] == pytest.approx(due_b)
    assert move["value"] == pytest.approx(0.1)  # matched against b, the bigger threat
    assert "reaction to a's price_change and 1 later move" in move["detail"]


def test_with_a_fixed_lag_the_first_move_decides_the_reaction():
    move = _first_move(simulate(_three_firms(kappa=0.0)))
    assert move["time"] == pytest.approx(2 + 10)


def test_a_threat_below_the_threshold_is_ignored():
    """threshold ln 3: a's halving is ignored, b's entry is answered 10 days later."""
    move = _first_move(simulate(_three_firms(kappa=0.0, threshold=math.log(3))))
    assert move["time"] == pytest.approx(4 + 10)
    assert move["detail"].endswith("(-97.5%, reaction to b's entry)")


# ----------------------------------------------------------------------------- the hold-out
@pytest.fixture(scope="module")
def holdout(run_cached):
    return run_cached("scenario=china_2024_holdout")


def _yuan(y):
    """Overrides for DeepSeek entering at ``y`` yuan/M input and keeping it (cost 0.021875)."""
    usd = y / 7.2
    return (f"firms.deepseek.price_usd_per_m={usd}",
            f"firms.deepseek.pricing.preset.cost_plus.markup={usd / 0.021875 - 1}")


GIANTS = ("alibaba", "baidu", "tencent", "bytedance")


def _cuts(result):
    return {g: (result.summary["firms"][g]["price_cut"]["first_cut_day"],
                result.summary["firms"][g]["price_cut"]["first_cut_pct"]) for g in GIANTS}


def test_the_giants_share_one_rule(holdout):
    firms = holdout.config.firms
    specs = {g: (firms[g].reaction_lag_days, firms[g].reacts_to, firms[g].pricing["rule"],
                 firms[g].pricing["preset"]["threat"]) for g in GIANTS}
    assert len({repr(s) for s in specs.values()}) == 1
    assert specs["alibaba"][2] == "threat" and specs["alibaba"][1] == ["all"]


def _sweep(run_cached, *extra):
    return [_cuts(run_cached("scenario=china_2024_holdout", "horizon_days=45", *_yuan(y), *extra))
            for y in (0.5, 1.0, 2.0, 5.0)]


def test_deepseeks_price_moves_the_giants_cuts_monotonically(run_cached):
    """At the fitted values a cheaper DeepSeek never makes a giant cut later or shallower, and
    below about 1.1 yuan (0.1111 exp(50 W) USD/M) it is a bigger threat than ByteDance, so
    every giant's cut deepens with it."""
    runs = _sweep(run_cached)
    for g in GIANTS:
        days = [r[g][0] for r in runs]
        depths = [r[g][1] for r in runs]
        assert all(d is not None for d in days) and days == sorted(days), (g, days)
        assert depths == sorted(depths, reverse=True), (g, depths)
        assert depths[0] > depths[1] > depths[2], (g, depths)


def test_a_dear_deepseek_is_no_threat_at_a_higher_threshold(run_cached):
    """threshold 2 (as good a fit as 0.5): DeepSeek at 5 yuan poses Alibaba a threat of
    ln(2.778 / 0.694) + 40 W = 1.62 < 2, so Alibaba's war waits for ByteDance's entry (day 14,
    + 15 days); no giant cuts earlier for a dearer DeepSeek."""
    runs = _sweep(run_cached, "firms.alibaba.pricing.preset.threat.threshold=2.0")
    for g in GIANTS:
        days = [r[g][0] for r in runs]
        assert all(d is not None for d in days) and days == sorted(days), (g, days)
    assert runs[0]["alibaba"][0] == 20 and runs[-1]["alibaba"][0] == 14 + 15


def test_validation_block_matches_the_events_table(holdout):
    block = holdout.summary["validation"]["price_cuts"]
    targets = holdout.config.targets
    assert block["fitted_on"] == targets["fitted_on"] == ["alibaba", "baidu"]
    assert block["held_out"] == ["tencent"]
    events = holdout.events[holdout.events["kind"] == "price_change"]
    for name, row in block["firms"].items():
        obs = targets["price_cuts"][name]
        assert (row["observed_date"], row["observed_cut_pct"]) == (obs["date"], obs["cut_pct"])
        entry = holdout.config.firms[name].price_usd_per_m
        mine = events[(events["firm"] == name) & (events["value"] <= 0.95 * entry)]
        first = mine.iloc[0]
        assert row["model_date"] == str(pd.Timestamp(first["date"]).date())
        assert row["model_cut_pct"] == pytest.approx(100 * (1 - first["value"] / entry))
        assert row["model"]["abs_days"] == abs(row["model_day"] - row["observed_day"])
        assert row["model"]["abs_pp"] == pytest.approx(abs(row["model_cut_pct"]
                                                           - obs["cut_pct"]))
    tencent = block["firms"]["tencent"]
    assert block["scores"]["held_out"]["model"] == {
        "mean_abs_days": tencent["model"]["abs_days"],
        "mean_abs_pp": tencent["model"]["abs_pp"]}


def test_the_reconstruction_reports_the_same_block(run_cached):
    block = run_cached("scenario=china_2024").summary["validation"]["price_cuts"]
    assert block["held_out"] == [] and block["fitted_on"] == ["alibaba", "baidu", "tencent"]
    assert block["scores"]["held_out"]["model"]["mean_abs_days"] is None
    assert block["scores"]["fitted"]["model"]["mean_abs_days"] == 0


@pytest.mark.parametrize("override,key", [
    ("targets.price_cuts.tencent.cut_pct=120", "targets.price_cuts.tencent.cut_pct"),
    ("targets.price_cuts.tencent.date=2024-13-01", "targets.price_cuts.tencent.date"),
    ("targets.fitted_on=[alibaba,deepseek]", "targets.fitted_on[1]"),
    ("+targets.price_cuts.nobody={date:'2024-05-01',cut_pct:5}", "targets.price_cuts.nobody")])
def test_bad_targets_are_refused_by_key(override, key):
    from sim.api import compose

    with pytest.raises(ConfigError, match=key.replace("[", r"\[")):
        validate(compose(["scenario=china_2024_holdout", override]))
