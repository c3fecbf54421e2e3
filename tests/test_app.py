"""The Solara dashboard drives the same model, one day per step."""

from __future__ import annotations

import pytest

solara = pytest.importorskip("solara")

import sim.app as app  # noqa: E402


def test_dashboard_model_steps_days_and_reseeds():
    model = app.DashboardModel(scenario_name="china_2024", seed=2)
    for _ in range(7):
        model.step()
    assert model.env.now == model.time == 7
    prices = app.firm_series(model, "price_usd_per_m")
    assert list(prices.index) == list(range(7))
    assert {"alibaba", "baidu", "tencent", "deepseek"} == set(prices.columns)  # deepseek: day 5
    same = app.DashboardModel(scenario_name="china_2024", rng=2)
    assert same.cfg.seed == 2


def test_every_scenario_is_offered_and_the_defaults_build():
    assert set(app.SCENARIOS) == {"algorithmic_pricing", "china_2024", "china_2024_holdout",
                                  "export_controls", "lean_lab_vs_giant", "logit_duopoly",
                                  "miner_pivot", "predation", "release_race_2025"}
    choice = app.model_params["scenario_name"]
    assert choice["value"] in choice["values"]
    app.DashboardModel(**{k: v["value"] for k, v in app.model_params.items()})


@pytest.mark.parametrize("component", [app.FirmPrices, app.FirmShares])
def test_firm_figures_render(component):
    model = app.DashboardModel()
    model.step()
    model.step()
    box, _ = solara.render(component(model), handle_error=False)
    assert box is not None


def test_page_renders():
    box, _ = solara.render(app.page, handle_error=False)
    assert box is not None
