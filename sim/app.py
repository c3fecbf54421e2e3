"""The dashboard: step a scenario day by day in the browser and watch the price war unfold.

    make app                      # installs the viz extra and serves this page
    solara run sim/app.py         # the same, in an environment with `pricewars[viz]`

Mesa's SolaraViz drives the same :class:`~sim.world.model.PriceWarModel` the command line runs: each
"step" is one simulated day (the SimPy clock runs to the next day).  The controls pick a scenario
and a seed; the figures read the model's Mesa DataCollector.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import solara
from matplotlib.figure import Figure
from mesa.visualization import SolaraViz, make_plot_component
from mesa.visualization.utils import update_counter

import sim
from sim.world.model import PriceWarModel

__all__ = ["DashboardModel", "firm_series", "FirmPrices", "FirmShares", "SCENARIOS", "page"]

SCENARIOS = sorted(p.stem for p in (sim.CONF_DIR / "scenario").glob("*.yaml"))


class DashboardModel(PriceWarModel):
    """A :class:`PriceWarModel` built from keyword parameters, as SolaraViz re-creates models.

    Parameters
    ----------
    scenario_name : a scenario in ``sim/conf/scenario/``.
    seed : the run's seed.
    rng : accepted for Mesa's reseed control; an integer replaces ``seed``.
    """

    def __init__(self, scenario_name: str = "lean_lab_vs_giant", seed: int = 0, rng=None):
        if isinstance(rng, (int, np.integer)):
            seed = int(rng)
        cfg = sim.validate(sim.compose([f"scenario={scenario_name}", f"seed={int(seed)}"]))
        super().__init__(cfg)


def firm_series(model: PriceWarModel, column: str) -> pd.DataFrame:
    """One firm column of the DataCollector as a day x firm table (empty before the first day)."""
    if not model.datacollector._agent_records:
        return pd.DataFrame()
    df = model.datacollector.get_agent_vars_dataframe()
    return df.pivot_table(index="day", columns="firm", values=column, sort=False)


def _figure(model, column: str, ylabel: str, log: bool = False):
    update_counter.get()  # re-render when the model steps
    fig = Figure(figsize=(7, 3.6))
    ax = fig.subplots()
    table = firm_series(model, column)
    for name in table.columns:
        ax.step(table.index, table[name], where="post", label=name)
    if column == "price_usd_per_m" and len(table):
        days = table.index.to_numpy()
        ax.plot(days, [model.outside_price(d) for d in days], "k--", lw=1, label="outside option")
    if log and len(table) and (table.to_numpy() > 0).all():
        ax.set_yscale("log")
    ax.set_xlabel("day")
    ax.set_ylabel(ylabel)
    if len(table):
        ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    solara.FigureMatplotlib(fig)


@solara.component
def FirmPrices(model):
    """Posted prices per firm and the outside option's, log scale."""
    _figure(model, "price_usd_per_m", "USD per million tokens", log=True)


@solara.component
def FirmShares(model):
    """Each firm's share of the tokens served by firms."""
    _figure(model, "firm_share", "share of tokens served by firms")


model_params = {
    "scenario_name": {"type": "Select", "value": "lean_lab_vs_giant", "values": SCENARIOS,
                      "label": "scenario"},
    "seed": {"type": "SliderInt", "value": 0, "min": 0, "max": 99, "step": 1, "label": "seed"},
}

page = SolaraViz(
    DashboardModel(),
    components=[
        (FirmPrices, 0),
        (FirmShares, 0),
        make_plot_component("hhi"),
        make_plot_component(["customer_spend_usd", "consumer_surplus_usd"]),
    ],
    model_params=model_params,
    name="pricewars",
)
