"""The miner_pivot scenario: miners convert sites to AI halls after the April 2024 halving,
and not without it; the hosts' books, contracts and the shutdown rule."""

from __future__ import annotations

import numpy as np
import pytest

import sim

RUN = ("scenario=miner_pivot", "output.figures=false")


@pytest.fixture(scope="module")
def pivot():
    return sim.run(list(RUN))


@pytest.fixture(scope="module")
def no_halving():
    return sim.run([*RUN, "bitcoin.halvings=false"])


def _events(r, kind, firm=None):
    ev = r.events[r.events["kind"] == kind]
    return ev if firm is None else ev[ev["firm"] == firm]


def test_conversions_follow_the_halving_and_none_without_it(pivot, no_halving):
    halving = _events(pivot, "halving")
    assert len(halving) == 1
    starts = _events(pivot, "conversion_start")
    assert len(starts) > 0
    assert (starts["time"] > halving["time"].iloc[0]).all()
    assert len(_events(no_halving, "halving")) == 0
    assert len(_events(no_halving, "conversion_start")) == 0
    # Same seed: the two runs are the same until the halving.
    day = int(halving["day"].iloc[0])
    a = pivot.market[pivot.market["day"] < day].reset_index(drop=True)
    b = no_halving.market[no_halving.market["day"] < day].reset_index(drop=True)
    assert a.equals(b)


def test_each_conversion_passes_the_payback_test_on_its_day(pivot):
    """Recomputed from the tables: on every day a conversion starts, the hosting margin of a MW
    at the contract price beats the mining margin by enough to repay the hall and its GPUs
    within the payback horizon (docs/model.md §7.16)."""
    cfg = pivot.config.firms["miner"]
    m = pivot.market.set_index("day")
    years = cfg.hosting["preset"]["payback"]["payback_years"]
    capex = cfg.hall_capex_usd_per_mw + cfg.gpus_per_mw * cfg.gpu_price_usd
    for day in _events(pivot, "conversion_start", "miner")["day"]:
        # the decision is taken in the morning at the day's BTC price and fees (the network's
        # morning step), the hashprice the day's clearing records (no retarget in between)
        h = m.loc[day, "hashprice_usd_per_ph_day"]
        mine = max(h - cfg.efficiency_j_per_th * cfg.power_usd_per_mwh * 0.024, 0.0) \
            * 1000.0 / cfg.efficiency_j_per_th
        host = (cfg.contract_price_usd_per_gpu_hour - cfg.power_usd_per_mwh / cfg.gpus_per_mw) \
            * cfg.gpus_per_mw * 24.0
        assert (host - mine) * (365.0 * years - cfg.conversion_days) >= capex


def test_contract_payments_are_price_times_volume_and_the_lab_pays_what_the_host_earns(pivot):
    pay = _events(pivot, "contract_payment", "miner")
    assert len(pay) > 0
    # value = price x GPU-hours, both in the detail: "<lab>: <amount> USD for <h> GPU-hours at <p>"
    for detail, value in zip(pay["detail"], pay["value"], strict=True):
        hours = float(detail.split(" for ")[1].split(" GPU-hours")[0].replace(",", ""))
        price = float(detail.rsplit(" at ", 1)[1])
        assert value == pytest.approx(hours * price, rel=1e-3)  # the detail rounds the hours
    f = pivot.firms
    host = f[f["firm"] == "miner"].set_index("day")
    lab = f[f["firm"] == "lab"].set_index("day")
    # Every GPU-hour the host sells under contract is one the lab rents and pays for.
    np.testing.assert_allclose(host["hosting_revenue_usd"].sum(), lab["compute_rent_usd"].sum(),
                               rtol=1e-9)
    assert pay["value"].sum() <= host["hosting_revenue_usd"].sum() * (1 + 1e-9)


def test_the_older_fleet_switches_off_below_its_hashcost(pivot):
    cfg = pivot.config.firms["old_miner"]
    cost = cfg.efficiency_j_per_th * cfg.power_usd_per_mwh * 0.024
    f = pivot.firms[pivot.firms["firm"] == "old_miner"].set_index("day")
    h = pivot.market.set_index("day")["hashprice_usd_per_ph_day"].loc[f.index]
    assert len(_events(pivot, "asics_off", "old_miner")) > 0
    np.testing.assert_array_equal(f["mw_mining"] > 0, h >= cost)
    assert (f.loc[h < cost, "mining_revenue_usd"] == 0).all()


def test_hosts_sell_no_tokens_and_keep_their_books(pivot):
    from invariants import ALL

    for check in ALL:
        check(pivot)
    hosts = pivot.firms[pivot.firms["kind"] == "miner_host"]
    assert hosts["price_usd_per_m"].isna().all()
    assert set(pivot.summary["firms"]["miner"]) >= {"revenue_usd", "final_cash_usd"}
    assert "final_price_usd_per_m" not in pivot.summary["firms"]["miner"]


def test_the_run_figures_draw_the_token_sellers_and_every_firms_cash(pivot, tmp_path):
    from sim.output.plots import plot_prices, standard_figures

    paths = standard_figures(pivot, tmp_path)
    assert sorted(p.name for p in paths) == ["cash.png", "hhi.png", "prices.png", "shares.png"]
    assert all(p.stat().st_size > 0 for p in paths)
    labels = plot_prices(pivot).axes[0].get_legend_handles_labels()[1]
    assert "lab" in labels and "miner" not in labels and "old_miner" not in labels


def test_the_cli_runs_the_scenario_and_reports_the_token_sellers(tmp_path):
    import subprocess
    import sys

    run = tmp_path / "run"
    out = subprocess.run([sys.executable, "-m", "sim", "scenario=miner_pivot", "horizon_days=40",
                          f"hydra.run.dir={run}"], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "final prices (USD/M): lab " in out.stdout and "miner" not in out.stdout.split(
        "final prices")[1].split("\n")[0]
    assert (run / "summary.json").exists() and (run / "figures" / "prices.png").exists()
