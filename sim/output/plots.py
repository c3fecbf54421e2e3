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

import matplotlib.dates
import matplotlib.ticker
import numpy as np
import pandas as pd
import PIL.Image
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from sim.analysis.result import Result
from sim.core.fs import atomic_write

__all__ = ["standard_figures", "plot_prices", "plot_shares", "plot_hhi", "plot_cash", "plot_sweep"]

# Figures are plain ``Figure`` objects on their own Agg canvas: no pyplot, no global backend, so a
# notebook that writes a run keeps its own backend.  Margins are fixed (in inches) instead of
# ``bbox_inches="tight"``, which draws every figure twice.
_DPI = 110
_PNG = {"dpi": _DPI, "metadata": {"Software": None}}
_MARGINS_IN = {"left": 0.8, "right": 0.15, "bottom": 0.4, "top": 0.35}


def _figure(width: float, height: float) -> tuple[Figure, object]:
    """A ``Figure`` of ``width`` x ``height`` inches with fixed margins, and its one Axes."""
    fig = Figure(figsize=(width, height), dpi=_DPI)
    FigureCanvasAgg(fig)
    m = _MARGINS_IN
    fig.subplots_adjust(left=m["left"] / width, right=1 - m["right"] / width,
                        bottom=m["bottom"] / height, top=1 - m["top"] / height)
    return fig, fig.subplots()


def _title(ax, text: str) -> None:
    """The Axes title, placed just above the Axes.  Giving its height turns off matplotlib's
    automatic placement, which lays out the whole y axis again at every draw to check whether an
    offset label (``1e9``) is in the way; the run figures have none and no ticks on top."""
    ax.set_title(text, y=1.0)


#: Spacings of the date ticks, in months: the first that gives at most nine ticks.
_MONTH_STEPS = (1, 2, 3, 4, 6, 12, 24, 60, 120)


def _dates(ax) -> None:
    """Unrotated date ticks on month starts: the year at each January (and with the month at the
    first tick), the month's name between.  The ticks are computed once here (a fixed locator):
    a date locator reruns its calendar rules every time matplotlib asks for ticks.  Spans under
    three months keep matplotlib's automatic date ticks."""
    lo, hi = (pd.Timestamp(matplotlib.dates.num2date(x)).tz_localize(None) for x in ax.get_xlim())
    months = (hi.year - lo.year) * 12 + hi.month - lo.month
    if months < 3:
        locator = matplotlib.dates.AutoDateLocator(minticks=4, maxticks=10)
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(matplotlib.dates.ConciseDateFormatter(locator))
        return
    step = next(s for s in _MONTH_STEPS if months / s <= 9)
    first = pd.Timestamp(year=lo.year, month=1, day=1)
    ticks = pd.date_range(first, hi, freq=f"{step}MS")
    ticks = ticks[(ticks >= lo) & (ticks <= hi)]
    labels = [f"{t.year}" if t.month == 1 else f"{t:%b %Y}" if i == 0 else f"{t:%b}"
              for i, t in enumerate(ticks)]
    ax.xaxis.set_major_locator(matplotlib.ticker.FixedLocator(matplotlib.dates.date2num(ticks)))
    ax.xaxis.set_major_formatter(matplotlib.ticker.FixedFormatter(labels))


def _log_minor_ticks(ax) -> None:
    """Minor ticks at 2..9 times each power of ten, as matplotlib's log locator places them, but
    only those inside the view (that locator also builds a tick object, label and all, for every
    minor tick a decade beyond each end).  Call once the y limits are final."""
    lo, hi = ax.get_ylim()
    decades = np.arange(np.floor(np.log10(lo)), np.ceil(np.log10(hi)) + 1)
    if decades.size > 11:  # as matplotlib's locator does beyond ten decades: no minor ticks
        ax.yaxis.set_minor_locator(matplotlib.ticker.NullLocator())
        return
    ticks = (np.arange(2, 10)[None, :] * 10.0 ** decades[:, None]).ravel()
    ax.yaxis.set_minor_locator(matplotlib.ticker.FixedLocator(ticks[(ticks >= lo) & (ticks <= hi)]))


def _png(fig: Figure, path: Path) -> None:
    """Draw ``fig`` once and write its pixels as an RGB PNG.  The background is opaque, so the
    alpha channel matplotlib's own writer keeps carries nothing; without it, and at zlib level 3,
    encoding takes about a third less time for files of the same size.  No text chunks are
    written (no Software, no dates), so the same figure gives the same bytes."""
    canvas = fig.canvas
    canvas.draw()
    rgba = PIL.Image.frombuffer("RGBA", canvas.get_width_height(physical=True),
                                canvas.buffer_rgba(), "raw", "RGBA", 0, 1)
    rgba.convert("RGB").save(path, format="png", compress_level=3, dpi=(fig.dpi, fig.dpi))


def _save(fig: Figure, path: Path, tight: bool = False) -> Path:
    """Write ``fig`` as a PNG, atomically.  ``tight`` crops to the drawn content (a second draw:
    kept for sweep figures, whose titles and labels are column names of any length)."""
    if tight:
        atomic_write(path, lambda p: fig.savefig(p, format="png", bbox_inches="tight", **_PNG))
    else:
        atomic_write(path, lambda p: _png(fig, p))
    return path


def _wide(firms: pd.DataFrame, column: str) -> pd.DataFrame:
    """``column`` as one column per firm (in order of first appearance), indexed by date."""
    wide = firms.pivot(index="date", columns="firm", values=column)
    return wide[list(firms["firm"].unique())].rename_axis(columns="firm")


def _token_firms(firms: pd.DataFrame) -> pd.DataFrame:
    """The rows of the firms that post token prices (a miner turned host posts none)."""
    return firms[firms.groupby("firm")["price_usd_per_m"].transform("count") > 0]


def plot_prices(result: Result):
    """Posted prices per firm and the outside option, with first cuts annotated."""
    fig, ax = _figure(9, 4.8)
    prices = _wide(_token_firms(result.firms), "price_usd_per_m")
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
    if ax.get_yscale() == "log":
        _log_minor_ticks(ax)
    ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda y, _: f"{y:g}"))
    ax.set_ylabel("price, USD per million tokens")
    _title(ax, f"{result.config.name}: posted prices (dotted: observed cut dates)"
                 if result.summary.get("price_cuts_vs_observed") else
                 f"{result.config.name}: posted prices")
    ax.legend(fontsize=8, ncol=2)
    ax.grid(alpha=0.3)
    _dates(ax)
    return fig


def plot_shares(result: Result):
    """Stacked shares of all tokens: each firm, the outside option, unserved."""
    fig, ax = _figure(9, 4.8)
    shares = _wide(_token_firms(result.firms), "token_share").fillna(0.0)
    m = result.market.set_index("date")
    total = m["total_demand_m_tokens"]
    layers = [shares[c].reindex(m.index, fill_value=0.0) for c in shares.columns]
    labels = list(shares.columns)
    layers += [m["outside_m_tokens"] / total, m["unserved_m_tokens"] / total]
    labels += ["outside option", "unserved"]
    ax.stackplot(m.index.to_numpy(), *(np.asarray(v) for v in layers), labels=labels,
                 alpha=0.85)
    ax.set_ylim(0, 1)
    ax.set_ylabel("share of tokens")
    _title(ax, f"{result.config.name}: who serves the market")
    ax.legend(fontsize=8, loc="upper left", ncol=2)
    _dates(ax)
    return fig


def plot_hhi(result: Result):
    """HHI of the firms' token shares over time."""
    fig, ax = _figure(9, 3.6)
    ax.plot(result.market["date"], result.market["hhi"], lw=1.6)
    for level, text in ((1500, "unconcentrated"), (2500, "highly concentrated")):
        ax.axhline(level, color="0.6", lw=0.8, ls=":")
        ax.text(result.market["date"].iloc[0], level, f" {text}", fontsize=7, va="bottom")
    ax.set_ylim(0, 10_500)
    ax.set_ylabel("HHI (0-10,000)")
    _title(ax, f"{result.config.name}: concentration among firms")
    _dates(ax)
    return fig


def plot_cash(result: Result):
    """Each firm's cash in USD millions."""
    fig, ax = _figure(9, 3.6)
    cash = _wide(result.firms, "cash_usd") / 1e6
    for name in cash.columns:
        ax.plot(cash.index, cash[name], lw=1.6, label=name)
    ax.set_yscale("symlog", linthresh=1.0)
    ax.set_ylabel("cash, USD millions")
    _title(ax, f"{result.config.name}: cash")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    _dates(ax)
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

    fig, ax = _figure(7, 4.2)
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
        _save(fig, Path(path), tight=True)
    return fig
