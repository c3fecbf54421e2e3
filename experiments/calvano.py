"""Replicate the baseline of Calvano, Calzolari, Denicolò & Pastorello (2020, AER 110(10)).

Two Q-learning firms set prices on a 15-point grid in the symmetric logit market (a = 2, c = 1,
a0 = 0, mu = 0.25), learning with alpha = 0.15, beta = 4e-6, delta = 0.95, memory one.  Each
session runs until every greedy action is unchanged for 100,000 periods (cap 1e9 by default).

Reports, into ``--out`` (default ``outputs/experiments/calvano/``):

* ``sessions.parquet``: one row per session (periods, converged, cycle, profits, Delta);
* ``impulse.parquet``: prices after a one-period deviation to the static best response;
* ``heatmap.parquet``: mean Delta over an alpha x beta grid (``--grid`` by ``--grid``);
* ``figures/``: ``delta.png``, ``impulse_response.png``, ``heatmap.png``;
* ``report.md``: the findings next to the paper's; ``summary.json`` last (it marks a finished run).

Usage::

    python experiments/calvano.py                       # 1,000 sessions + a 5 x 5 heatmap
    python experiments/calvano.py --sessions 100 --grid 3 --grid-sessions 20
    python experiments/calvano.py --grid 0              # no heatmap
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as _dt
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from sim.core.errors import ConfigError, Raw
from sim.core.fs import atomic_write
from sim.core.params import check_field, param
from sim.core.rng import SeedTree
from sim.learning import qlearning

PAPER_DELTA = 0.85  # Calvano et al. (2020), baseline, about 0.85
#: The flags that define the paper's baseline game and learning (its 0.85 applies only there).
BASELINE_KEYS = ("alpha", "beta", "delta", "m", "xi", "firms")


def is_baseline(params) -> bool:
    """Whether the game and learning parameters are the paper's baseline."""
    get = params.get if isinstance(params, dict) else lambda k: getattr(params, k)
    return all(get(k) == DEFAULTS[k] for k in BASELINE_KEYS)

@dataclasses.dataclass
class Flags:
    """The experiment's command-line flags (``--max-periods`` for ``max_periods``), each with its
    default, allowed range and doc: checked by :func:`sim.core.params.check_field`, the checker
    every config of the simulator uses."""

    sessions: int = param(1000, 1, 1_000_000, doc="learning sessions at the baseline")
    seed: int = param(0, 0, 2**63 - 1,
                      doc="root seed of the seed tree (baseline session k: child "
                          "baseline/sessions/k)")
    alpha: float = param(0.15, 0.0, 1.0, lo_open=True, doc="learning rate")
    beta: float = param(4e-6, 0.0, 1.0, lo_open=True,
                        doc="exploration decay: epsilon_t = exp(-beta t)")
    delta: float = param(0.95, 0.0, 0.999999, doc="discount factor")
    m: int = param(15, 2, 100, doc="prices on the grid")
    xi: float = param(0.1, 0.0, 10.0, doc="grid extension beyond the Nash and monopoly prices")
    firms: int = param(2, 2, 5, doc="number of firms")
    window: int = param(100_000, 1, 10**10,
                        doc="periods of unchanged greedy actions that mean converged")
    max_periods: int = param(1_000_000_000, 1, 10**12, doc="cap on periods per session")
    horizon: int = param(25, 1, 10_000, doc="periods after the deviation in the impulse response")
    grid: int = param(5, 0, 50, doc="heatmap size (grid x grid cells); 0 skips the heatmap")
    grid_sessions: int = param(50, 1, 1_000_000, doc="sessions per heatmap cell")
    alpha_max: float = param(0.25, 0.0, 1.0, lo_open=True,
                             doc="heatmap alpha axis: alpha_max/grid .. alpha_max")
    beta_max: float = param(2e-5, 0.0, 1.0, lo_open=True,
                            doc="heatmap beta axis: beta_max/grid .. beta_max")
    workers: int = param(0, 0, 1024, doc="threads (0 = one per core)")


FLAGS = [f.name for f in dataclasses.fields(Flags)]
DEFAULTS = {**dataclasses.asdict(Flags()), "out": "outputs/experiments/calvano"}


def _literal(text: str):
    """The number written on the command line, or the text itself (checked later)."""
    for conv in (int, float):
        try:
            return conv(text)
        except ValueError:
            pass
    return Raw(text)


class _UsageError(Exception):
    """A malformed command line (unknown flag, missing value)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line and exit status 2, like every other bad input
        raise _UsageError(message)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse and validate; a bad value raises :class:`ConfigError` naming the flag and range."""
    ap = _Parser(description=__doc__.split("\n\n")[0],
                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    for f in dataclasses.fields(Flags):
        ap.add_argument("--" + f.name.replace("_", "-"), dest=f.name, type=_literal,
                        default=DEFAULTS[f.name], help=f.metadata["doc"])
    ap.add_argument("--out", default=DEFAULTS["out"], help="output folder")
    ap.add_argument("--no-progress", dest="progress", action="store_false",
                    help="hide the progress bars")
    args = ap.parse_args(argv)
    for f in dataclasses.fields(Flags):
        flag, value = "--" + f.name.replace("_", "-"), getattr(args, f.name)
        if f.type in ("int", int) and isinstance(value, float) and value.is_integer():
            value = int(value)  # 1e9 is an integer too
        setattr(args, f.name, check_field(Flags, f.name, value, flag))
    if args.m ** (args.firms + 1) > qlearning.MAX_Q_ENTRIES:
        raise ConfigError("--m", args.m, f"m**(firms + 1) <= {qlearning.MAX_Q_ENTRIES:,} Q "
                          f"entries (here firms={args.firms})", "Q table too large")
    if args.window > args.max_periods:
        raise ConfigError("--window", args.window,
                          f"an integer <= --max-periods ({args.max_periods})")
    return args


def baseline_seeds(seed: int) -> SeedTree:
    """The seed-tree node of the baseline sessions: ``SeedTree(seed).child("baseline")``."""
    return SeedTree(seed).child("baseline")


def cell_seeds(seed: int, a_i: int, b_i: int) -> SeedTree:
    """The seed-tree node of heatmap cell ``(a_i, b_i)``:
    ``SeedTree(seed).child("heatmap").child("a_i,b_i")``; no two cells, and no cell and the
    baseline, of any root seeds share a stream."""
    return SeedTree(seed).child("heatmap").child(f"{a_i},{b_i}")


def _game(args) -> qlearning.Game:
    return qlearning.logit_game(n=args.firms, m=args.m, xi=args.xi)


def _sessions(game, args, alpha, beta, sessions, seed, progress):
    return qlearning.run_sessions(
        game, alpha=alpha, beta=beta, delta=args.delta, sessions=sessions, seed=seed,
        window=args.window, max_periods=args.max_periods, workers=args.workers or None,
        progress=progress)


def session_table(res: qlearning.Sessions) -> pd.DataFrame:
    """One row per session."""
    n = res.game.n
    table = pd.DataFrame({
        "session": np.arange(res.periods.size),
        "periods": res.periods,
        "converged": res.converged,
        "cycle_length": res.cycle_length,
    })
    for i in range(n):
        table[f"cycle_price_{i}"] = [res.game.joint_prices(int(s))[i] for s in res.cycle_start]
    for i in range(n):
        table[f"profit_{i}"] = res.cycle_profit[:, i]
    table["delta"] = res.delta
    return table


def impulse_table(prices: np.ndarray, sessions: np.ndarray) -> pd.DataFrame:
    """Long table: session (its number in ``sessions.parquet``), period (0 = before,
    1 = deviation), firm (0 deviates), price."""
    k, periods, n = prices.shape
    idx = np.indices((k, periods, n)).reshape(3, -1)
    return pd.DataFrame({"session": np.asarray(sessions, dtype=np.int64)[idx[0]],
                         "period": idx[1], "firm": idx[2], "price": prices.reshape(-1)})


def heatmap(game, args, bar=None) -> pd.DataFrame:
    """Mean Delta (and convergence) per cell of the alpha x beta grid."""
    alphas = args.alpha_max * np.arange(1, args.grid + 1) / args.grid
    betas = args.beta_max * np.arange(1, args.grid + 1) / args.grid
    rows = []
    for a_i, alpha in enumerate(alphas):
        for b_i, beta in enumerate(betas):
            res = _sessions(game, args, float(alpha), float(beta), args.grid_sessions,
                            cell_seeds(args.seed, a_i, b_i), progress=False)
            rows.append({"alpha": alpha, "beta": beta, "sessions": args.grid_sessions,
                         "mean_delta": float(res.delta.mean()),
                         "converged_share": float(res.converged.mean()),
                         "mean_periods": float(res.periods.mean()), "seconds": res.seconds})
            if bar is not None:
                bar.update(1)
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------------ figures

def _subplots(*args, figsize):
    """A ``Figure`` on its own Agg canvas and its axes (no pyplot, no global backend)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize)
    FigureCanvasAgg(fig)
    return fig, fig.subplots(*args)


def _save(fig, path: Path) -> None:
    atomic_write(path, lambda p: fig.savefig(p, format="png", dpi=110, bbox_inches="tight",
                                             metadata={"Software": None}))


def figure_delta(table: pd.DataFrame, path: Path, baseline: bool = True) -> None:
    fig, (ax, bx) = _subplots(1, 2, figsize=(10, 3.8))
    d = table["delta"]
    ax.hist(d, bins=np.linspace(min(-0.1, d.min()), max(1.1, d.max()), 45), color="#4c72b0")
    ax.axvline(d.mean(), color="k", lw=1.5, label=f"mean {d.mean():.3f}")
    if baseline:
        ax.axvline(PAPER_DELTA, color="#c44e52", ls="--", lw=1.2, label=f"paper {PAPER_DELTA}")
    ax.set_xlabel("profit gain Delta (0 = Nash, 1 = monopoly)")
    ax.set_ylabel("sessions")
    ax.legend(fontsize=8)
    ax.set_title(f"Delta over {len(d):,} sessions")
    conv = table.loc[table["converged"], "periods"] / 1e6
    bx.hist(conv, bins=40, color="#55a868")
    bx.set_xlabel("periods to convergence (millions)")
    bx.set_ylabel("sessions")
    bx.set_title(f"{len(conv):,} converged sessions")
    _save(fig, path)


def figure_impulse(prices: np.ndarray, nash: float, monopoly: float, path: Path) -> None:
    fig, ax = _subplots(figsize=(7.5, 4.2))
    mean = prices.mean(axis=0)
    periods = np.arange(prices.shape[1])
    ax.plot(periods, mean[:, 0], marker="o", ms=3, label="deviating firm")
    for i in range(1, prices.shape[2]):
        ax.plot(periods, mean[:, i], marker="s", ms=3, label=f"rival {i}")
    ax.axhline(nash, color="grey", ls=":", label=f"static Nash {nash:.3f}")
    ax.axhline(monopoly, color="grey", ls="--", label=f"monopoly {monopoly:.3f}")
    ax.axvline(1, color="#c44e52", lw=0.8, alpha=0.6)
    ax.set_xlabel("period (0 = converged state, 1 = deviation to the static best response)")
    ax.set_ylabel("price (mean over sessions)")
    ax.set_title(f"Impulse response, {prices.shape[0]:,} converged sessions")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    _save(fig, path)


def figure_heatmap(cells: pd.DataFrame, path: Path) -> None:
    grid = cells.pivot(index="alpha", columns="beta", values="mean_delta").sort_index()
    fig, ax = _subplots(figsize=(6.4, 5))
    im = ax.imshow(grid.to_numpy(), origin="lower", cmap="viridis", vmin=0, vmax=1,
                   aspect="auto")
    ax.set_xticks(range(grid.shape[1]), [f"{b * 1e5:.2g}" for b in grid.columns])
    ax.set_yticks(range(grid.shape[0]), [f"{a:.3g}" for a in grid.index])
    for (r, c), v in np.ndenumerate(grid.to_numpy()):
        ax.text(c, r, f"{v:.2f}", ha="center", va="center", fontsize=8,
                color="white" if v < 0.6 else "black")
    ax.set_xlabel("beta (x 1e-5)")
    ax.set_ylabel("alpha")
    ax.set_title(f"Mean profit gain Delta ({int(cells['sessions'].iloc[0])} sessions a cell)")
    fig.colorbar(im, ax=ax, label="Delta")
    _save(fig, path)


# ------------------------------------------------------------------------------------ report

def summarize(args, game, res: qlearning.Sessions, impulse: np.ndarray | None,
              cells: pd.DataFrame | None, wall: float,
              undisturbed: np.ndarray | None = None) -> dict:
    """The headline numbers; ``undisturbed`` is the impulse response's path without the
    deviation (same shape), against which punishment and return are judged."""
    d = res.delta
    conv = res.converged
    out = {
        "finished": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "parameters": {k: getattr(args, k) for k in FLAGS},
        "nash_price": float(game.nash_price[0]),
        "monopoly_price": float(game.monopoly_price[0]),
        "nash_profit": float(game.nash_profit[0]),
        "monopoly_profit": float(game.monopoly_profit[0]),
        "grid": [float(p) for p in game.prices[0]],
        "sessions": int(d.size),
        "mean_delta": float(d.mean()),
        "median_delta": float(np.median(d)),
        "sd_delta": float(d.std(ddof=1)) if d.size > 1 else 0.0,
        "delta_quantiles": {q: float(np.quantile(d, float(q))) for q in
                            ("0.05", "0.25", "0.5", "0.75", "0.95")},
        "mean_delta_converged": float(d[conv].mean()) if conv.any() else None,
        "converged_share": float(conv.mean()),
        "mean_periods_to_convergence": float(res.periods[conv].mean()) if conv.any() else None,
        "median_periods_to_convergence": float(np.median(res.periods[conv])) if conv.any()
        else None,
        "max_periods_played": int(res.periods.max()),
        "cycle_length_counts": {int(k): int(v) for k, v in
                                zip(*np.unique(res.cycle_length, return_counts=True),
                                    strict=True)},
        "session_periods": int(res.periods.sum()),
        "engine_seconds": res.seconds,
        "session_periods_per_second": res.session_periods_per_second,
        "workers": args.workers or os.cpu_count(),
        "wall_seconds": wall,
    }
    if impulse is not None and impulse.shape[0]:
        mean = impulse.mean(axis=0)
        out["impulse"] = {
            "sessions": int(impulse.shape[0]),
            "mean_price_before": [float(x) for x in mean[0]],
            "mean_price_deviation": [float(x) for x in mean[1]],
            "mean_price_after_1": [float(x) for x in mean[2]],
            "mean_price_end": [float(x) for x in mean[-1]],
            # Punishment: a rival's price the period after the deviation below what it would
            # have charged on the undisturbed path (not below period 0: cycles move anyway).
            "share_rival_cuts_after": float(np.mean(impulse[:, 2, 1:]
                                                    < undisturbed[:, 2, 1:] - 1e-12)),
            # Return: the last period's prices are one of the undisturbed path's price vectors
            # (back on the converged cycle, in or out of step).
            "share_back_on_cycle": float(np.mean([
                (np.abs(undisturbed[k] - impulse[k, -1]).max(axis=1) < 1e-12).any()
                for k in range(impulse.shape[0])])),
            "share_fixed_points": float(np.mean(np.abs(undisturbed - undisturbed[:, :1]).max(
                axis=(1, 2)) < 1e-12)),
        }
    if cells is not None:
        out["heatmap"] = {"cells": int(len(cells)), "sessions_per_cell": args.grid_sessions,
                          "min_mean_delta": float(cells["mean_delta"].min()),
                          "max_mean_delta": float(cells["mean_delta"].max()),
                          "min_converged_share": float(cells["converged_share"].min())}
    return out


def report(summary: dict, cells: pd.DataFrame | None) -> str:
    s, p = summary, summary["parameters"]
    lines = [
        "# Calvano et al. (2020) " + ("baseline" if is_baseline(p) else "variant")
        + f": Q-learning firms in a logit {'duopoly' if p['firms'] == 2 else 'oligopoly'}",
        "",
        f"{p['firms']} firms, m = {p['m']} prices on [{s['grid'][0]:.4f}, {s['grid'][-1]:.4f}] "
        f"(xi = {p['xi']}), alpha = {p['alpha']}, beta = {p['beta']:g}, "
        f"delta = {p['delta']}; converged = greedy actions unchanged for {p['window']:,} "
        f"periods (cap {p['max_periods']:,}); seed {p['seed']}.",
        f"Static Nash price {s['nash_price']:.5f} (profit {s['nash_profit']:.5f}); joint-monopoly "
        f"price {s['monopoly_price']:.5f} (profit {s['monopoly_profit']:.5f}).",
        "",
        "## Profit gain",
        "",
        "| measure | this run | paper |",
        "|---|---|---|",
        f"| sessions | {s['sessions']:,} | 1,000 |",
        f"| mean Delta | {s['mean_delta']:.3f} | "
        + (f"about {PAPER_DELTA} |" if is_baseline(p) else "(reported for the baseline only) |"),
        f"| median Delta (IQR) | {s['median_delta']:.3f} ({s['delta_quantiles']['0.25']:.3f}"
        f" to {s['delta_quantiles']['0.75']:.3f}) | |",
        f"| share converged | {s['converged_share']:.1%} | all |",
        "| mean periods to convergence | "
        + (f"{s['mean_periods_to_convergence']:,.0f}" if s["mean_periods_to_convergence"]
           else "none converged") + " | |",
        f"| cycles of length 1 / 2 / longer | {s['cycle_length_counts'].get(1, 0)} / "
        f"{s['cycle_length_counts'].get(2, 0)} / "
        f"{sum(v for k, v in s['cycle_length_counts'].items() if k > 2)} | |",
        "",
        "Delta per session is each firm's mean profit over the cycle that greedy play reaches "
        "from the final state, as (profit - Nash profit) / (monopoly profit - Nash profit), "
        "averaged over firms.",
        "",
        "![Delta](figures/delta.png)",
        "",
    ]
    if "impulse" in s:
        imp = s["impulse"]
        fmt = ", ".join
        lines += [
            "## Deviation and punishment",
            "",
            f"Firm 0 deviates to its static best response for one period ({imp['sessions']:,} "
            "converged sessions; mean prices, deviator first):",
            "",
            f"- before: {fmt(f'{x:.3f}' for x in imp['mean_price_before'])}",
            f"- deviation period: {fmt(f'{x:.3f}' for x in imp['mean_price_deviation'])}",
            f"- the period after: {fmt(f'{x:.3f}' for x in imp['mean_price_after_1'])} "
            f"(the rival prices below its undisturbed path in "
            f"{imp['share_rival_cuts_after']:.0%} of sessions)",
            f"- {p['horizon']} periods after: {fmt(f'{x:.3f}' for x in imp['mean_price_end'])} "
            f"({imp['share_back_on_cycle']:.0%} of sessions back on their converged cycle; "
            f"{imp['share_fixed_points']:.0%} of the sessions converged to a fixed point)",
            "",
            "The paper finds a punishment (the rival cuts its price the period after) followed "
            "by a gradual return to the pre-deviation prices.",
            "",
            "![Impulse response](figures/impulse_response.png)",
            "",
        ]
    if cells is not None:
        lines += [
            "## Learning rate and exploration",
            "",
            f"Mean Delta over a {int(np.sqrt(len(cells)))} x {int(np.sqrt(len(cells)))} grid of "
            f"alpha and beta, {s['parameters']['grid_sessions']} sessions a cell "
            "(the paper's Figure 1 spans alpha 0.025-0.25 and beta up to 2e-5).",
            "",
            "![Heatmap](figures/heatmap.png)",
            "",
            "| alpha | beta | mean Delta | converged | mean periods |",
            "|---|---|---|---|---|",
        ]
        lines += [f"| {r.alpha:.3g} | {r.beta:.3g} | {r.mean_delta:.3f} | "
                  f"{r.converged_share:.0%} | {r.mean_periods:,.0f} |"
                  for r in cells.itertuples()]
        lines.append("")
    lines += [
        "## Cost",
        "",
        f"{s['session_periods']:,} session-periods in {s['engine_seconds']:.1f} s on "
        f"{s['workers']} threads ({s['session_periods_per_second'] / 1e6:.1f} M "
        f"session-periods/s); whole experiment {s['wall_seconds']:.1f} s.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    try:
        args = parse_args(argv)
    except (ConfigError, _UsageError) as err:
        print(f"calvano: {err}", file=sys.stderr)
        return 2
    start = time.perf_counter()
    out = Path(args.out)
    game = _game(args)
    res = _sessions(game, args, args.alpha, args.beta, args.sessions, baseline_seeds(args.seed),
                    args.progress)
    table = session_table(res)
    conv = res.converged
    impulse = qlearning.impulse_response(game, res.greedy[conv], res.cycle_start[conv],
                                         horizon=args.horizon)
    cells = None
    if args.grid:
        bar = None
        if args.progress:
            from tqdm import tqdm
            bar = tqdm(total=args.grid ** 2, unit="cell", desc="alpha x beta heatmap")
        cells = heatmap(game, args, bar)
        if bar is not None:
            bar.close()
    undisturbed = qlearning.impulse_response(game, res.greedy[conv], res.cycle_start[conv],
                                             deviator=None, horizon=args.horizon)
    summary = summarize(args, game, res, impulse, cells, time.perf_counter() - start,
                        undisturbed)

    pq = {"index": False}
    atomic_write(out / "sessions.parquet", lambda p: table.to_parquet(p, **pq))
    atomic_write(out / "impulse.parquet",
                 lambda p: impulse_table(impulse, np.flatnonzero(conv)).to_parquet(p, **pq))
    figure_delta(table, out / "figures" / "delta.png", is_baseline(args))
    if impulse.shape[0]:
        figure_impulse(impulse, summary["nash_price"], summary["monopoly_price"],
                       out / "figures" / "impulse_response.png")
    if cells is not None:
        atomic_write(out / "heatmap.parquet", lambda p: cells.to_parquet(p, **pq))
        figure_heatmap(cells, out / "figures" / "heatmap.png")
    atomic_write(out / "report.md", lambda p: p.write_text(report(summary, cells)))
    atomic_write(out / "summary.json",
                 lambda p: p.write_text(json.dumps(summary, indent=2) + "\n"))
    print(f"mean Delta {summary['mean_delta']:.3f} over {summary['sessions']:,} sessions, "
          f"{summary['converged_share']:.1%} converged, "
          f"{summary['session_periods_per_second'] / 1e6:.1f} M session-periods/s, "
          f"{summary['wall_seconds']:.1f} s; report: {out / 'report.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
