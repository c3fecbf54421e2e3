"""Every config file composes and validates; every bad value is one clear ConfigError."""

from __future__ import annotations

from pathlib import Path

import pytest

import sim
from sim.config import Config
from sim.core.errors import ConfigError

CONF = Path(sim.CONF_DIR)
SCENARIOS = sorted(p.stem for p in (CONF / "scenario").glob("*.yaml"))
FIRMS = sorted(p.stem for p in (CONF / "firm").glob("*.yaml"))
EXPERIMENTS = sorted(p.stem for p in (CONF / "experiment").glob("*.yaml"))


def test_primary_config_composes_and_validates():
    cfg = sim.validate(sim.compose())
    assert isinstance(cfg, Config) and cfg.name == "lean_lab_vs_giant"


@pytest.mark.parametrize("name", SCENARIOS)
def test_scenario_composes_and_validates(name):
    cfg = sim.validate(sim.compose([f"scenario={name}"]))
    assert cfg.name == name and cfg.firms


@pytest.mark.parametrize("name", [f for f in FIRMS if f != "miner_host"])
def test_firm_preset_composes_and_validates(name):
    cfg = sim.validate(sim.compose([f"firm@firms.lab={name}"]))
    assert cfg.firms["lab"].kind == name


def test_a_miner_host_needs_the_bitcoin_network():
    with pytest.raises(ConfigError, match=r"firms\.host\.kind.*bitcoin\.enabled is false"):
        sim.validate(sim.compose(["bitcoin.enabled=false"]))  # the default's host


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_experiment_composes_and_validates(name):
    sim.validate(sim.compose([f"+experiment={name}"]))


def test_every_conf_file_is_covered():
    files = {p.relative_to(CONF).as_posix() for p in CONF.rglob("*.yaml")}
    covered = {"config.yaml"} | {f"scenario/{n}.yaml" for n in SCENARIOS} \
        | {f"firm/{n}.yaml" for n in FIRMS} | {f"experiment/{n}.yaml" for n in EXPERIMENTS}
    assert files == covered


BAD = [
    # (overrides, key named in the message)
    (["horizon_days=0"], "horizon_days"),
    (["horizon_days=-5"], "horizon_days"),
    (["horizon_days=1.5"], "horizon_days"),
    (["seed=abc"], "seed"),
    (["seed=-1"], "seed"),
    (["scenario=nope"], "scenario"),
    (["firms.lab.pricing.rule=bogus"], "firms.lab.pricing.rule"),
    (["firms.lab.pricing.rule=penetration", "firms.lab.pricing.target_share=1.5"],
     "firms.lab.pricing.target_share"),
    (["firms.giant.research.rule=fixed_share", "firms.giant.research.gpu_share=-0.1"],
     "firms.giant.research.gpu_share"),
    (["segments.count=0"], "segments.count"),
    (["segments.price_sensitivity.dist=pareto"], "segments.price_sensitivity.dist"),
    (["firms.lab.foo=1"], "firms.lab.foo"),
    (["firms.nobody.quality=1"], "firms.nobody.quality"),
    (["firms.lab.kind=miner"], "firms.lab.kind"),
    (["firms.lab.subsidy_usd_per_day=5"], "firms.lab.subsidy_usd_per_day"),
    (["firms.giant.funding.enabled=true"], "firms.giant.funding.enabled"),
    (["firms.lab.reaction_lag_days=0"], "firms.lab.reaction_lag_days"),
    (["firms.lab.reacts_to=[martians]"], "firms.lab.reacts_to[0]"),
    (["firms.lab.gpu_depreciation_per_year=1.5"], "firms.lab.gpu_depreciation_per_year"),
    (["start_date=2024-13-01"], "start_date"),
    (["outside.price=[[0, 1], [0, 2]]"], "outside.price"),
    (["shocks=[{at: 3, kind: boom}]"], "shocks[0].kind"),
    (["shocks=[{at: 5000, kind: demand_jump, factor: 2}]"], "shocks[0].at"),
    (["shocks=[{at: 3, kind: price_cut, firm: nobody, fraction: 0.5}]"], "shocks[0].firm"),
    (["shocks=[{at: 3, kind: price_cut, firm: lab, fraction: 1.5}]"], "shocks[0].fraction"),
    (["firms.lab.pricing.rule=scripted"], "firms.lab.pricing.path"),
    (["firms.lab.pricing.rule=scripted", "firms.lab.pricing.path=[[0, -1]]"],
     "firms.lab.pricing.path[0][1]"),
]


@pytest.mark.parametrize("overrides,key", BAD, ids=[" ".join(o) for o, _ in BAD])
def test_bad_value_is_one_line_naming_the_key(overrides, key):
    with pytest.raises(ConfigError) as info:
        sim.validate(sim.compose(overrides))
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{key}="), message
    assert "allowed:" in message


def test_switching_rules_leaves_the_presets_tuning_of_the_old_rule_aside():
    cfg = sim.validate(sim.compose(["firms.giant.pricing.rule=best_response"]))
    # The preset's undercut tuning is kept under `preset`, for when undercut is chosen again.
    assert cfg.firms["giant"].pricing["preset"]["undercut"]["step"] == 0.1
    from sim.strategies import make

    rule = make("pricing", cfg.firms["giant"].pricing)
    assert rule.name == "best_response" and not hasattr(rule.params, "step")
    # The preset's tuning applies under the rule it names, below a value set at the top level.
    giant = sim.validate(sim.compose(["firms.giant.pricing.step=0.2"])).firms["giant"]
    rule = make("pricing", giant.pricing)
    assert (rule.params.step, rule.params.floor, rule.params.quality_gap) == (0.2, 1.0, 50)


def test_a_parameter_of_another_rule_is_refused_with_the_rules_parameters():
    with pytest.raises(ConfigError) as info:
        sim.validate(sim.compose(["firms.lab.pricing.rule=undercut",
                                  "firms.lab.pricing.markup=0.3"]))
    assert str(info.value) == ("firms.lab.pricing.markup=0.3: unknown parameter; allowed: "
                               "parameters of pricing rule 'undercut': step, floor, quality_gap, "
                               "relent_markup, alone")


def test_unknown_parameter_in_a_python_spec_is_rejected():
    from sim.strategies import make

    with pytest.raises(ConfigError, match="pricing.stepp=0.1: unknown parameter"):
        make("pricing", {"rule": "undercut", "stepp": 0.1})


def test_config_error_fields():
    err = ConfigError("a.b", 3, "an integer in [0, 2]")
    assert (err.key, err.value, err.allowed) == ("a.b", 3, "an integer in [0, 2]")
    assert str(err) == "a.b=3: out of range; allowed: an integer in [0, 2]"
