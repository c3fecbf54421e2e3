"""The house: views, components and kinds, the daily schedule, exits, the lazy namespace."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT
from invariants import WITHOUT_HOSTS

import sim
from sim.firms import (
    KINDS,
    GpuFleet,
    Host,
    Ledger,
    Miner,
    Renter,
    TokenSeller,
    Trainer,
    VentureFunding,
)
from sim.world.model import PriceWarModel
from sim.world.schedule import DAILY_STEPS


def _model(*overrides):
    return PriceWarModel(sim.validate(sim.compose(list(overrides))))


def test_firms_present_at_day_zero_are_created_not_announced():
    """Nobody reviews 'in reaction to' a rival's entry when both are there from the start."""
    r = sim.run(["horizon_days=40"])
    changes = r.events[r.events["kind"] == "price_change"]
    assert not changes["detail"].str.contains("entry").any()
    entries = r.events[r.events["kind"] == "entry"]
    assert list(entries["firm"]) == ["lab", "giant", "host"] and (entries["time"] == 0).all()


def test_an_entry_shock_is_announced_to_rivals():
    r = sim.run(["scenario=china_2024", "horizon_days=30"])
    reactions = r.events[r.events["detail"].str.contains("reaction to deepseek's entry")]
    assert len(reactions) >= 1


def test_an_exit_interrupts_every_process_of_the_firm():
    model = _model("horizon_days=40", "firms.lab.cash_usd=0", "firms.lab.funding.enabled=false",
                   "firms.lab.fixed_cost_usd_per_day=1e8")
    lab = model.firms["lab"]
    processes = list(lab._processes)
    assert len(processes) >= 3 and all(p.is_alive for p in processes)
    model.step()  # day 0: the lab cannot pay its fixed cost and exits
    assert model.exits == {"lab": 0}
    model.step()
    assert not any(p.is_alive for p in processes)
    # Nothing of the lab's is left on the event queue: its processes woke no more.
    queued = [ev for _, _, _, ev in model.env._queue]
    assert not any(getattr(ev, "_generator", None) in {p._generator for p in processes}
                   for ev in queued)


def test_daily_schedule_order_is_stated_once():
    model = _model(*WITHOUT_HOSTS, "horizon_days=3")
    assert model.schedule.order == ["shocks", "token_market", "booking", "depreciation",
                                    "record", "financing"]
    assert _model("horizon_days=3").schedule.order == [name for name, _ in DAILY_STEPS]
    assert [name for name, _ in DAILY_STEPS] == ["shocks", "network", "compute_market",
                                                 "token_market", "booking", "depreciation",
                                                 "record", "financing"]
    with_network = _model(*WITHOUT_HOSTS, "horizon_days=3", "bitcoin.enabled=true")
    assert with_network.schedule.order == ["shocks", "network", "token_market", "booking",
                                           "depreciation", "record", "financing"]
    model_md = (ROOT / "docs" / "model.md").read_text()
    for name, _ in DAILY_STEPS:
        assert f"`{name}`" in model_md


def test_a_price_posted_at_midday_is_in_force_for_that_days_market():
    r = sim.run(["scenario=logit_duopoly", "horizon_days=6", "firms.a.first_review_day=2.5",
                 "firms.a.review_days=1000", "firms.b.first_review_day=1000",
                 "firms.a.pricing.rule=cost_plus", "firms.a.pricing.markup=0.2"])
    a = r.firms[r.firms["firm"] == "a"].set_index("day")["price_usd_per_m"]
    assert a.loc[1] == 1.0 and a.loc[2] == pytest.approx(1.2)


def test_views_are_frozen_copies():
    model = _model("horizon_days=5")
    model.step()
    lab = model.firms["lab"]
    view, me = model.view(lab), lab.view()
    with pytest.raises(dataclasses.FrozenInstanceError):
        view.me = 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        me.cash = 0.0
    view.prices[:] = 0.0  # a copy: the firms' prices do not move
    assert lab.seller.price > 0 and model.view(lab).prices.min() > 0
    with pytest.raises(ValueError):
        me.history["revenue_usd"][:] = 0.0  # read-only
    with pytest.raises(ValueError):
        view.alpha[0] = 0.0


def test_each_kind_is_its_components_and_its_config_is_theirs():
    assert KINDS.names() == ["lean_lab", "miner_host", "tech_giant"]
    host = KINDS["miner_host"]
    assert host.components == (Ledger, Miner, Host)
    assert {f.name for f in dataclasses.fields(host.Config)} == \
        {f.name for c in host.components for f in dataclasses.fields(c.Config)} | {"kind", "label"}
    lab = KINDS["lean_lab"]
    assert lab.components == (Ledger, GpuFleet, TokenSeller, Trainer, Renter, VentureFunding)
    own = {f.name for f in dataclasses.fields(lab.Config)}
    parts = {f.name for c in lab.components for f in dataclasses.fields(c.Config)}
    assert own == parts | {"kind", "label"}
    assert "subsidy_usd_per_day" not in own and "funding" in own
    assert "subsidy_usd_per_day" in {f.name for f in dataclasses.fields(KINDS["tech_giant"].Config)}


def test_a_firm_kind_from_existing_components_needs_no_other_change():
    """A kind that only resells tokens from its GPUs: four lines, nothing else touched."""
    from sim.firms import Firm

    @KINDS.register("reseller")
    class Reseller(Firm):
        kind = "reseller"
        components = (Ledger, GpuFleet, TokenSeller)

    try:
        from sim.validation import firm_section

        cfg = sim.validate(sim.compose(["horizon_days=20"]))
        cfg.firms["shop"] = firm_section("firms.shop", {"kind": "reseller",
                                                        "pricing": {"rule": "cost_plus"}})
        r = sim.simulate(sim.validate(cfg))
        shop = r.firms[r.firms["firm"] == "shop"]
        assert len(shop) == 20 and (shop["kind"] == "reseller").all()
        assert (shop["training_cost_usd"] == 0).all()
    finally:
        KINDS._items.pop("reseller")


def test_rules_draw_from_their_own_streams():
    model = _model("horizon_days=2")
    lab = model.firms["lab"]
    a = lab.context("pricing").rng.random()
    b = lab.financing.rng.random()
    c = model.firms["giant"].context("pricing").rng.random()
    assert len({a, b, c}) == 3


def test_in_range_values_do_not_crash_the_model():
    for overrides in (["firms.lab.gpus=0"], ["firms.giant.gpus=0"],
                      ["firms.lab.gpus=0", "firms.giant.gpus=0"]):
        r = sim.run([*overrides, "horizon_days=120"])
        assert len(r.market) == 120
        assert np.isfinite(r.firms.loc[r.firms["firm"] != "host", "price_usd_per_m"]).all()


def test_lower_layers_do_not_load_hydra_pandas_or_numba():
    code = ("import sys, sim.markets.tokens, sim.economics, sim.views; "
            "print(sorted(m for m in ('hydra', 'pandas', 'numba', 'omegaconf', 'mesa') "
            "if m in sys.modules))")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         check=True)
    assert out.stdout.strip() == "[]"
