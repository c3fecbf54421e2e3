"""The standard figures of a run, and sweep figures with uncertainty bands.

Run figures (``figures/`` in a run folder):

* ``prices.png``: each firm's posted price and the outside option's, log scale, with each firm's
  first price cut marked and labelled with its size (and, where the scenario lists observed cuts,
  the observed dates as ticks);
* ``shares.png``: share of all tokens served by each firm, the outside option, and unserved;
* ``hhi.png``: Herfindahl-Hirschman index of the firms' token shares (0-10,000);
* ``cash.png``: each firm's cash (USD millions, symmetric-log scale).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from sim.analysis.result import Result  # noqa: E402
from sim.io import atomic_write  # noqa: E402

__all__ = ["standard_figures", "plot_prices", "plot_shares", "plot_hhi", "plot_cash", "plot_sweep"]

_PNG = {"dpi": 110, "bbox_inches": "tight", "metadata": {"Software": None}}


def _save(fig, path: Path) -> Path:
    atomic_write(path, lambda p: fig.savefig(p, format="png", **_PNG))
    plt.close(fig)
    return path


def _wide(firms: pd.DataFrame, column: str) -> pd.DataFrame:
    return firms.pivot_table(index="date", columns="firm", values=column, sort=False)


def plot_prices(result: Result):
    """Posted prices per firm and the outside option, with first cuts annotated."""
    fig, ax = plt.subplots(figsize=(9, 4.8))
    prices = _wide(result.firms, "price_usd_per_m")
    for name in prices.columns:
        (line,) = ax.step(prices.index, prices[name], where="post", label=name, lw=1.6)
        cut = result.summary["firms"][name]["price_cut"]
        if cut["first_cut_day"] is not None:
            when = pd.Timestamp(cut["first_cut_date"])
            at = prices[name].get(when, np.nan)
            if np.isfinite(at):
                ax.plot([when], [at], "o", color=line.get_color(), ms=5)
                text = "free" if at == 0 else f"-{cut['first_cut_pct']:.0f}%"
                ax.annotate(f"{name} {text}", (when, at), textcoords="offset points",
                            xytext=(5, -11), fontsize=8, color=line.get_color())
    m = result.market
    ax.plot(m["date"], m["outside_price_usd_per_m"], "k--", lw=1, label="outside option")
    for obs in (result.summary.get("price_cuts_vs_observed") or {}).values():
        if obs.get("observed_date"):
            ax.axvline(pd.Timestamp(obs["observed_date"]), color="0.6", lw=0.8, ls=":")
    values = np.concatenate([prices.to_numpy().ravel(), m["outside_price_usd_per_m"].to_numpy()])
    positive = values[np.isfinite(values) & (values > 0)]
    if positive.size and (values[np.isfinite(values)] > 0).all():
        ax.set_yscale("log")
        ax.yaxis.set_minor_formatter(matplotlib.ticker.FuncFormatter(lambda y, _: f"{y:g}"))
    elif positive.size:  # free offers (price 0): linear near zero, logarithmic above
        ax.set_yscale("symlog", linthresh=float(positive.min()) / 2)
        ax.set_ylim(bottom=0)
    if positive.size:
        ax.set_ylim(top=float(positive.max()) * 1.6)  # room above the dearest line
    ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda y, _: f"{y:g}"))
    ax.set_ylabel("price, USD per million tokens")
    ax.set_title(f"{result.config.name}: posted prices (dotted: observed cut dates)"
                 if result.summary.get("price_cuts_vs_observed") else
                 f"{result.config.name}: posted prices")
    ax.legend(fontsize=8, ncol=2)
    ax.grid(alpha=0.3)
    fig.autofmt_xdate()
    return fig


def plot_shares(result: Result):
    """Stacked shares of all tokens: each firm, the outside option, unserved."""
    fig, ax = plt.subplots(figsize=(9, 4.8))
    shares = _wide(result.firms, "token_share").fillna(0.0)
    m = result.market.set_index("date")
    total = m["total_demand_m_tokens"]
    layers = [shares[c].reindex(m.index, fill_value=0.0) for c in shares.columns]
    labels = list(shares.columns)
    layers += [m["outside_m_tokens"] / total, m["unserved_m_tokens"] / total]
    labels += ["outside option", "unserved"]
    ax.stackplot(m.index, *layers, labels=labels, alpha=0.85)
    ax.set_ylim(0, 1)
    ax.set_ylabel("share of tokens")
    ax.set_title(f"{result.config.name}: who serves the market")
    ax.legend(fontsize=8, loc="upper left", ncol=2)
    fig.autofmt_xdate()
    return fig


def plot_hhi(result: Result):
    """HHI of the firms' token shares over time."""
    fig, ax = plt.subplots(figsize=(9, 3.6))
    ax.plot(result.market["date"], result.market["hhi"], lw=1.6)
    for level, text in ((1500, "unconcentrated"), (2500, "highly concentrated")):
        ax.axhline(level, color="0.6", lw=0.8, ls=":")
        ax.text(result.market["date"].iloc[0], level, f" {text}", fontsize=7, va="bottom")
    ax.set_ylim(0, 10_500)
    ax.set_ylabel("HHI (0-10,000)")
    ax.set_title(f"{result.config.name}: concentration among firms")
    fig.autofmt_xdate()
    return fig


def plot_cash(result: Result):
    """Each firm's cash in USD millions."""
    fig, ax = plt.subplots(figsize=(9, 3.6))
    cash = _wide(result.firms, "cash_usd") / 1e6
    for name in cash.columns:
        ax.plot(cash.index, cash[name], lw=1.6, label=name)
    ax.set_yscale("symlog", linthresh=1.0)
    ax.set_ylabel("cash, USD millions")
    ax.set_title(f"{result.config.name}: cash")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.autofmt_xdate()
    return fig


def standard_figures(result: Result, out_dir: str | Path) -> list[Path]:
    """Write prices.png, shares.png, hhi.png and cash.png into ``out_dir``."""
    out = Path(out_dir)
    if result.firms.empty:
        return []
    return [_save(fn(result), out / f"{name}.png") for name, fn in (
        ("prices", plot_prices), ("shares", plot_shares), ("hhi", plot_hhi), ("cash", plot_cash))]


def plot_sweep(table: pd.DataFrame, x: str, y: str, hue: str | None = None,
               path: str | Path | None = None):
    """Mean of ``y`` against ``x`` across seeds, with a 95% confidence band.

    The band is ``mean +/- t_{0.975, n-1} * sd / sqrt(n)`` over the runs at each ``x`` (and
    ``hue``); a single run gets no band.
    """
    from scipy import stats

    fig, ax = plt.subplots(figsize=(7, 4.2))
    groups = [(None, table)] if hue is None else list(table.groupby(hue, sort=True))
    for label, sub in groups:
        g = sub.groupby(x)[y].agg(["mean", "std", "count"]).sort_index()
        half = np.where(g["count"] > 1,
                        stats.t.ppf(0.975, np.maximum(g["count"] - 1, 1)) * g["std"].fillna(0)
                        / np.sqrt(g["count"]), 0.0)
        (line,) = ax.plot(g.index, g["mean"], marker="o", lw=1.6,
                          label=None if label is None else f"{hue}={label}")
        ax.fill_between(g.index, g["mean"] - half, g["mean"] + half, alpha=0.2,
                        color=line.get_color())
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    several = any(len(sub.groupby(x)) < len(sub) for _, sub in groups)
    ax.set_title(f"{y} vs {x}" + (" (mean, 95% CI over seeds)" if several else " (one run each)"))
    if hue is not None:
        ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    if path is not None:
        _save(fig, Path(path))
    return fig
