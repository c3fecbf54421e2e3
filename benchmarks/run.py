"""pricewars performance harness: one JSON line per benchmark on stdout.

    python benchmarks/run.py                  # full run (a few minutes on 2 cores)
    python benchmarks/run.py --quick          # smoke run: small sizes, one or two repeats
    python benchmarks/run.py --only clearing  # one group (or any benchmark name it prints)

Groups and the benchmark lines they print (see benchmarks/README.md):

* ``default``: ``default_days_per_second``, ``default_run_seconds``, ``default_tables_seconds``
  (the default scenario, lean_lab_vs_giant over its 1095 days; no I/O).
* ``scale``: ``scale_firm_days_per_second`` (100 firms, 5,000 segments, 365 days, the firm
  presets' rules) and ``scale_firm_days_per_second_cost_plus_labs`` (the same with the labs'
  best_response pricing replaced by cost_plus).  A variant that would run past
  ``--scale-budget`` seconds is stopped there and its 365-day time projected (``truncated``).
* ``clearing``: ``clearing_vs_numpy_ratio``: ``sim.markets.tokens.clear`` against a bare numpy
  logit of the same shape, one line per shape and capacity variant.
* ``exponents``: ``cost_exponents``: least-squares slope of log(wall time) on log(size), one line
  per dimension (days, firms, segments) with the raw points.
* ``qlearning``: ``qlearning_session_periods_per_second``: the Calvano et al. (2020) baseline
  (``sim.learning.qlearning.run_sessions`` on ``logit_game()``, alpha 0.15, beta 4e-6,
  delta 0.95, window 100,000), one line for 1 worker thread and one for 2;
  ``qlearning_thread_scaling``: the 2-worker throughput over the 1-worker throughput.
* ``qlearning_batched``: ``qlearning_batched_numpy_session_periods_per_second``: the same learning
  step batched over 1,000 sessions as numpy arrays (the design the engine did not take);
  ``qlearning_compiled_vs_batched_ratio``: the compiled engine's one-thread throughput over it.
* ``figures``: ``figures_standard_seconds``: ``sim.output.plots.standard_figures`` (the four run
  PNGs) on the default scenario's result; ``process_seconds``: the whole ``python -m sim`` process,
  once with ``output.figures=true`` and once ``false``; ``figures_share_of_process``: the
  difference over the time with figures.
* ``hosts``: ``hosts_and_compute_vs_without``: the default scenario (a miner turned host
  contracted to the lab, the Bitcoin network and the compute market) over the same run without
  them (``~firms.host bitcoin.enabled=false compute.enabled=false``; in process, medians).
* ``benchmarks``: ``benchmarks_on_vs_off``: the whole ``python -m sim output.figures=false``
  process with ``output.benchmarks=true`` over the same with ``false`` (medians, wall; CPU time
  and the in-process ``PriceWarModel(cfg).run()`` ratio beside it), and the benchmarks' solve
  counts.

Timings use ``time.perf_counter``; each line gives the median and the minimum over its repeats.
Only JSON goes to stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import dataclasses
import functools
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

import sim
from sim.analysis.result import json_ready
from sim.learning import qlearning
from sim.markets import tokens
from sim.world.model import PriceWarModel

SCALE_FIRMS = 100
SCALE_SEGMENTS = 5000
SCALE_DAYS = 365


# ----------------------------------------------------------------------------- output helpers
_OUT = sys.stdout  # the real stdout; everything else printed while benchmarking goes to stderr


#: Fields added to every line (set in main): quick mode, environment knobs that are set.
META: dict[str, Any] = {}


def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def _clean(x: Any) -> Any:
    return json_ready(x, digits=6)


def emit(benchmark: str, value: Any, unit: str, **extra: Any) -> None:
    line = {"benchmark": benchmark, "value": value, "unit": unit, **extra, **META}
    _OUT.write(json.dumps(_clean(line)) + "\n")
    _OUT.flush()


def stats(times: list[float]) -> dict[str, Any]:
    return {"repeats": len(times), "median_s": statistics.median(times), "min_s": min(times)}


# ----------------------------------------------------------------------------- configs
def default_config() -> sim.Config:
    """The default scenario (lean_lab_vs_giant), composed and validated once."""
    return sim.validate(sim.compose())


def many_firms_config(base: sim.Config, n_firms: int, segments: int | None = None,
                      days: int | None = None, lab_pricing: str | None = None) -> sim.Config:
    """``n_firms`` firms copied from the default's ``lab`` and ``giant`` (alternating: lab0,
    giant0, lab1, ...), with staggered first reviews and slightly varied quality and price.

    ``lab_pricing`` replaces the labs' pricing rule (their preset is best_response); giants keep
    their preset (undercut).  Scripted shocks are dropped (the default has none), and so are the
    default's host, Bitcoin network and compute market: the token market alone, at scale."""
    lab, giant = base.firms["lab"], base.firms["giant"]
    firms: dict[str, sim.config.FirmConfig] = {}
    for i in range(n_firms):
        src, tag = (lab, "lab") if i % 2 == 0 else (giant, "giant")
        k = i // 2
        f = dataclasses.replace(
            copy.deepcopy(src),
            label=f"{src.label or tag} {k}",
            first_review_day=src.first_review_day + k % max(int(src.review_days), 1),
            quality=src.quality + 4.0 * (k % 11 - 5),
            price_usd_per_m=src.price_usd_per_m * (1.0 + 0.02 * (k % 7 - 3)),
        )
        if tag == "lab" and lab_pricing is not None:
            f.pricing = type(f.pricing)(rule=lab_pricing)
        firms[f"{tag}{k}"] = f
    cfg = dataclasses.replace(
        base, firms=firms, shocks=[],
        bitcoin=dataclasses.replace(base.bitcoin, enabled=False),
        compute=dataclasses.replace(base.compute, enabled=False),
        segments=dataclasses.replace(base.segments,
                                     count=base.segments.count if segments is None else segments),
        horizon_days=base.horizon_days if days is None else days,
    )
    return sim.validate(cfg)


def with_days(base: sim.Config, days: int) -> sim.Config:
    return sim.validate(dataclasses.replace(base, horizon_days=days))


def with_segments(base: sim.Config, segments: int, days: int) -> sim.Config:
    return sim.validate(dataclasses.replace(
        base, horizon_days=days, segments=dataclasses.replace(base.segments, count=segments)))


# ----------------------------------------------------------------------------- timing helpers
class Usage:
    """System CPU seconds and minor page faults of this process over a ``with`` block."""

    def __enter__(self) -> Usage:
        self._r0 = resource.getrusage(resource.RUSAGE_SELF)
        return self

    def __exit__(self, *exc) -> None:
        r1 = resource.getrusage(resource.RUSAGE_SELF)
        self.sys_s = r1.ru_stime - self._r0.ru_stime
        self.minor_faults = r1.ru_minflt - self._r0.ru_minflt


def time_run(cfg: sim.Config) -> tuple[float, PriceWarModel, Usage]:
    """Wall time of ``PriceWarModel(cfg).run()`` (construction included)."""
    with Usage() as usage:
        t0 = time.perf_counter()
        model = PriceWarModel(cfg)
        model.run()
        wall = time.perf_counter() - t0
    return wall, model, usage


def time_steps(cfg: sim.Config, budget_s: float | None) -> dict[str, Any]:
    """Step ``PriceWarModel(cfg)`` day by day until its horizon or until ``budget_s`` has passed.

    Returns wall time, days simulated and firm-days (active firms summed over simulated days)."""
    with Usage() as usage:
        t0 = time.perf_counter()
        model = PriceWarModel(cfg)
        days = firm_days = 0
        next_note = t0 + 15.0
        while model.running:
            n_active = len(model.active)
            model.step()
            days += 1
            firm_days += n_active
            now = time.perf_counter()
            if now >= next_note:
                log(f"  ... day {days}/{cfg.horizon_days}, {now - t0:.0f} s")
                next_note = now + 15.0
            if budget_s is not None and now - t0 > budget_s:
                break
        wall = time.perf_counter() - t0
    return {"wall_s": wall, "days": days, "firm_days": firm_days, "exits": len(model.exits),
            "truncated": model.running, "sys_s": usage.sys_s,
            "minor_page_faults": usage.minor_faults}


def per_call(fn: Callable[[], Any], min_time: float = 0.05) -> tuple[float, int]:
    """Seconds per call of ``fn``, calling it in a loop long enough to time (>= ``min_time``)."""
    fn()  # warm up
    t0 = time.perf_counter()
    fn()
    one = max(time.perf_counter() - t0, 1e-7)
    loops = max(1, int(min_time / one))
    t0 = time.perf_counter()
    for _ in range(loops):
        fn()
    return (time.perf_counter() - t0) / loops, loops


def minor_faults_per_call(fn: Callable[[], Any], loops: int) -> float:
    """Minor page faults per call of ``fn`` (fresh memory from the OS for big temporaries)."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(loops):
        fn()
    return (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / loops


def slope(xs: list[float], ys: list[float]) -> float:
    """Least-squares slope of log(ys) on log(xs)."""
    lx, ly = np.log(np.asarray(xs, float)), np.log(np.asarray(ys, float))
    return float(np.polyfit(lx, ly, 1)[0])


# ----------------------------------------------------------------------------- benchmarks
def bench_default(args) -> None:
    repeats = 2 if args.quick else 5
    cfg = default_config()
    days = cfg.horizon_days
    log(f"default: {cfg.name}, {days} days, {len(cfg.firms)} firms, "
        f"{cfg.segments.count} segments, {repeats} repeats")
    time_run(cfg)  # warm-up: imports, first-call caches
    runs, tabs, usages = [], [], []
    for r in range(repeats):
        wall, model, usage = time_run(cfg)
        usages.append(usage)
        t0 = time.perf_counter()
        model.tables()
        tabs.append(time.perf_counter() - t0)
        runs.append(wall)
        log(f"  repeat {r + 1}: run {wall:.3f} s, tables {tabs[-1]:.3f} s")
    s = stats(runs)
    common = {"scenario": cfg.name, "days": days, "firms": len(cfg.firms),
              "segments": cfg.segments.count,
              "sys_s": statistics.median(u.sys_s for u in usages),
              "minor_page_faults": statistics.median(u.minor_faults for u in usages)}
    emit("default_days_per_second", days / s["median_s"], "days/s", **common, **s,
         best_days_per_second=days / s["min_s"])
    emit("default_run_seconds", s["median_s"], "s", **common, **s, target_s=1.0,
         within_target=s["median_s"] < 1.0)
    emit("default_tables_seconds", statistics.median(tabs), "s", **common, **stats(tabs))


def bench_scale(args) -> None:
    days = 30 if args.quick else SCALE_DAYS
    budget = args.scale_budget if args.scale_budget > 0 else None
    base = default_config()
    variants = [
        ("scale_firm_days_per_second", None, "presets: best_response labs, undercut giants"),
        ("scale_firm_days_per_second_cost_plus_labs", "cost_plus",
         "labs on cost_plus, giants on their preset undercut"),
    ]
    for name, lab_pricing, rules in variants:
        if args.only and "scale" not in args.only and name not in args.only:
            continue
        cfg = many_firms_config(base, SCALE_FIRMS, SCALE_SEGMENTS, days, lab_pricing)
        log(f"{name}: {SCALE_FIRMS} firms, {SCALE_SEGMENTS} segments, {days} days ({rules}); "
            f"budget {budget} s")
        first = time_steps(cfg, budget)
        log(f"  run 1: {first['wall_s']:.2f} s for {first['days']} days")
        runs = [first]
        # Repeat only what is cheap: a variant that took more than 20 s is measured once.
        more = (1 if args.quick else 2) if first["wall_s"] < 20.0 and not first["truncated"] else 0
        for r in range(more):
            runs.append(time_steps(cfg, budget))
            log(f"  run {r + 2}: {runs[-1]['wall_s']:.2f} s")
        walls = [r["wall_s"] for r in runs]
        s = stats(walls)
        firm_days, sim_days = first["firm_days"], first["days"]
        projected = s["median_s"] * days / sim_days if sim_days else None
        emit(name, firm_days / s["median_s"], "firm-days/s", firms=SCALE_FIRMS,
             segments=SCALE_SEGMENTS, horizon_days=days, days_simulated=sim_days,
             firm_days=firm_days, truncated=first["truncated"], budget_s=budget,
             projected_run_seconds=projected, rules=rules, exits=first["exits"], **s,
             sys_s=first["sys_s"], minor_page_faults=first["minor_page_faults"],
             over_60s=bool(projected is not None and projected > 60.0))


def _clearing_inputs(S: int, n: int, seed: int = 1):
    """Arrays shaped like the default scenario's segments and offers."""
    rng = np.random.default_rng(seed)
    w = np.exp(rng.standard_normal(S))
    sizes = 3.0e6 * w / w.sum()
    alpha = 3.0 * np.exp(0.7 * rng.standard_normal(S) - 0.5 * 0.7**2)
    theta = 0.01 * np.exp(1.0 * rng.standard_normal(S) - 0.5)
    prices = rng.uniform(0.3, 3.0, n)
    qualities = rng.uniform(1260.0, 1320.0, n)
    return prices, qualities, sizes, alpha, theta, 4.375, 1300.0


def bare_logit(prices, qualities, sizes, alpha, theta, p0, q0):
    """The reference: logit shares and demand, nothing else."""
    dq = qualities - q0
    dp = prices - p0
    v = alpha[:, None] * (theta[:, None] * dq - dp)
    e = np.exp(v)
    shares = e / (1.0 + e.sum(1, keepdims=True))
    return sizes @ shares


def bench_clearing(args) -> None:
    shapes = [(200, 2), (5000, 100), (5000, 10)]
    repeats = 3 if args.quick else 7
    min_time = 0.02 if args.quick else 0.1
    for S, n in shapes:
        prices, qualities, sizes, alpha, theta, p0, q0 = _clearing_inputs(S, n)
        ref = bare_logit(prices, qualities, sizes, alpha, theta, p0, q0)
        # Capacity-binding: every other firm can serve only half its unconstrained demand.
        binding = np.where(np.arange(n) % 2 == 0, 0.5 * ref, 10.0 * ref + 1.0)
        for label, caps in (("none", None), ("binding", binding)):
            res = tokens.clear(prices, qualities, caps, sizes, alpha, theta, p0, q0, 1)
            err = float(np.max(np.abs(res.demand - ref) / np.maximum(np.abs(ref), 1e-300)))
            rationed = float(res.rationed.sum())

            clear_call = functools.partial(tokens.clear, prices, qualities, caps, sizes, alpha,
                                           theta, p0, q0, 1)
            bare_call = functools.partial(bare_logit, prices, qualities, sizes, alpha, theta, p0,
                                          q0)

            tc, tb = [], []
            loops = {}
            for _ in range(repeats):  # interleaved, so drift hits both alike
                t, loops["clear"] = per_call(clear_call, min_time)
                tc.append(t)
                t, loops["bare"] = per_call(bare_call, min_time)
                tb.append(t)
            ratio = statistics.median(tc) / statistics.median(tb)
            faults = {"clear": minor_faults_per_call(clear_call, loops["clear"]),
                      "bare": minor_faults_per_call(bare_call, loops["bare"])}
            log(f"clearing S={S} n={n} capacities={label}: clear {statistics.median(tc)*1e6:.0f} us"
                f", bare {statistics.median(tb)*1e6:.0f} us, ratio {ratio:.2f}")
            emit("clearing_vs_numpy_ratio", ratio, "x", S=S, n=n, capacities=label,
                 clear_median_s=statistics.median(tc), clear_min_s=min(tc),
                 bare_median_s=statistics.median(tb), bare_min_s=min(tb),
                 ratio_of_mins=min(tc) / min(tb), repeats=repeats, loops=loops,
                 minor_page_faults_per_call=faults,
                 rationed_m_tokens=rationed, demand_max_rel_diff=err, target=2.0,
                 within_target=ratio <= 2.0)


def bench_exponents(args) -> None:
    repeats = 1 if args.quick else 3
    base = default_config()
    if args.quick:
        dims = {"days": [90, 180, 365], "firms": [4, 8, 16], "segments": [500, 1000, 2000]}
        fixed_days = 90
    else:
        dims = {"days": [180, 365, 730, 1460], "firms": [5, 10, 20, 40],
                "segments": [500, 1000, 2000, 4000, 8000]}
        fixed_days = 365
    makers = {
        "days": lambda x: with_days(base, x),
        "firms": lambda x: many_firms_config(base, x, days=fixed_days),
        "segments": lambda x: with_segments(base, x, fixed_days),
    }
    held = {
        "days": f"default scenario ({len(base.firms)} firms, {base.segments.count} segments)",
        "firms": f"{base.segments.count} segments, {fixed_days} days, preset rules",
        "segments": f"default's {len(base.firms)} firms, {fixed_days} days",
    }
    for dim, sizes in dims.items():
        if args.only_dim and dim not in args.only_dim:
            continue
        points = []
        for x in sizes:
            cfg = makers[dim](x)
            walls, sys_s = [], []
            for _ in range(repeats):
                wall, _model, usage = time_run(cfg)
                walls.append(wall)
                sys_s.append(usage.sys_s)
            s = stats(walls)
            points.append({"size": x, **s, "sys_s": statistics.median(sys_s)})
            log(f"exponents {dim}={x}: {s['median_s']:.3f} s")
        # Fitted on each point's minimum: load from other processes only ever adds time.
        xs = [p["size"] for p in points]
        mins = [p["min_s"] for p in points]
        medians = [p["median_s"] for p in points]
        emit("cost_exponents", slope(xs, mins), "exponent", dimension=dim,
             held_fixed=held[dim], fit_on="min_s", exponent_of_medians=slope(xs, medians),
             tail_exponent=slope(xs[-2:], mins[-2:]), target=1.0, points=points,
             repeats=repeats)


#: The Calvano et al. (2020) baseline learning parameters.
QLEARNING_BASELINE = {"alpha": 0.15, "beta": 4e-6, "delta": 0.95, "window": 100_000}


def bench_qlearning(args) -> None:
    sessions = 6 if args.quick else 40
    repeats = 2 if args.quick else 3
    game = qlearning.logit_game()
    log(f"qlearning: Calvano baseline {QLEARNING_BASELINE}, {sessions} sessions, "
        f"{repeats} repeats per worker count")
    # Warm-up: load (or compile) the numba kernels and start the threads once, untimed.
    qlearning.run_sessions(game, **{**QLEARNING_BASELINE, "beta": 1e-3, "window": 1_000},
                           sessions=2, seed=0, workers=2)
    # The same seed for every run: identical sessions (and periods) whatever the worker count,
    # so every run does exactly the same work.  Interleaved, so drift hits both counts alike.
    times: dict[int, list[float]] = {1: [], 2: []}
    results: dict[int, qlearning.Sessions] = {}
    for r in range(repeats):
        for workers in (1, 2):
            res = qlearning.run_sessions(game, **QLEARNING_BASELINE, sessions=sessions, seed=0,
                                         workers=workers)
            times[workers].append(res.seconds)
            results[workers] = res
            log(f"  repeat {r + 1}, workers={workers}: {res.periods.sum() / 1e6:.1f} M "
                f"session-periods in {res.seconds:.2f} s "
                f"({res.session_periods_per_second / 1e6:.1f} M/s)")
    work = int(results[1].periods.sum())
    rates = {}
    for workers in (1, 2):
        res, s = results[workers], stats(times[workers])
        rates[workers] = work / s["median_s"]
        emit("qlearning_session_periods_per_second", rates[workers], "session-periods/s",
             sessions=sessions, workers=workers, **QLEARNING_BASELINE,
             mean_periods=float(res.periods.mean()), session_periods=work,
             converged_share=float(res.converged.mean()), mean_delta=float(res.delta.mean()),
             seconds=s["median_s"], **s, best_per_second=work / s["min_s"],
             cpus=os.cpu_count())
    emit("qlearning_thread_scaling", rates[2] / rates[1], "x", sessions=sessions,
         workers=[1, 2], per_second={str(w): r for w, r in rates.items()},
         ratio_of_mins=min(times[1]) / min(times[2]), repeats=repeats, cpus=os.cpu_count(),
         ideal=2.0, same_sessions=bool(np.array_equal(results[1].periods, results[2].periods)
                                        and np.array_equal(results[1].greedy, results[2].greedy)))


def batched_numpy_periods(game: qlearning.Game, sessions: int, periods: int, seed: int = 0,
                          alpha: float = 0.15, beta: float = 4e-6, delta: float = 0.95) -> float:
    """The other engine design the issue names: every session advanced one period at a time as
    numpy arrays over sessions (``Q`` of shape (sessions, n, S, m)).  Same learning step as
    :func:`sim.learning.qlearning.q_update` (greedy by ``argmax``, max over the next state's
    row), no convergence bookkeeping, so it does strictly less work per period.  Returns wall
    seconds."""
    rng = np.random.default_rng(seed)
    n, m, S = game.n, game.m, game.states
    q = np.broadcast_to(qlearning.initial_q(game.profits, m, delta),
                        (sessions, n, S, m)).copy()
    s = rng.integers(S, size=sessions)
    b = np.arange(sessions)[:, None]
    firms = np.arange(n)[None, :]
    start = time.perf_counter()
    for t in range(periods):
        eps = np.exp(-beta * t)
        rows = q[b, firms, s[:, None]]                      # (sessions, n, m)
        act = rows.argmax(axis=2)
        explore = rng.random((sessions, n)) < eps
        act = np.where(explore, rng.integers(m, size=(sessions, n)), act)
        s_next = qlearning.state_index(act, m)
        reward = game.profits[firms, s_next[:, None]]       # (sessions, n)
        best_next = q[b, firms, s_next[:, None]].max(axis=2)
        old = q[b, firms, s[:, None], act]
        q[b, firms, s[:, None], act] = (1 - alpha) * old + alpha * (reward + delta * best_next)
        s = s_next
    return time.perf_counter() - start


def bench_qlearning_batched(args) -> None:
    """The compiled per-session engine against the batched-numpy design, same game."""
    sessions = 200 if args.quick else 1000
    periods = 500 if args.quick else 3000
    game = qlearning.logit_game()
    batched_numpy_periods(game, sessions, 20)  # warm-up
    secs = min(batched_numpy_periods(game, sessions, periods, seed=r) for r in range(2))
    batched = sessions * periods / secs
    compiled = qlearning.run_sessions(game, **QLEARNING_BASELINE, sessions=4 if args.quick else 20,
                                      seed=0, workers=1)
    emit("qlearning_batched_numpy_session_periods_per_second", batched, "session-periods/s",
         sessions=sessions, periods=periods, seconds=secs, threads=1)
    emit("qlearning_compiled_vs_batched_ratio",
         compiled.session_periods_per_second / batched, "x",
         compiled_per_second=compiled.session_periods_per_second, batched_per_second=batched,
         threads=1, note="one thread each; the compiled engine also tracks convergence")


def _cli_seconds(extra: list[str], cwd: str) -> float:
    """Wall time of one ``python -m sim`` process (the default scenario) run in ``cwd``."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "sim", *extra], cwd=cwd, env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def bench_figures(args) -> None:
    """The four standard run figures in process, and the whole ``python -m sim`` process with and
    without them."""
    from sim.output import plots

    repeats = 3 if args.quick else 9
    res = sim.run()
    with tempfile.TemporaryDirectory() as tmp:
        plots.standard_figures(res, Path(tmp) / "warm")  # warm-up: fonts, first-draw caches
        times = []
        for r in range(repeats):
            t0 = time.perf_counter()
            plots.standard_figures(res, Path(tmp) / f"r{r}")
            times.append(time.perf_counter() - t0)
        sizes = {p.name: p.stat().st_size for p in (Path(tmp) / "r0").glob("*.png")}
    s = stats(times)
    log(f"figures: standard_figures median {s['median_s']:.3f} s, min {s['min_s']:.3f} s")
    emit("figures_standard_seconds", s["median_s"], "s", scenario=res.config.name,
         days=res.config.horizon_days, figures=sorted(sizes), png_bytes=sizes, **s)

    repeats = 2 if args.quick else 5
    walls: dict[bool, list[float]] = {True: [], False: []}
    with tempfile.TemporaryDirectory() as tmp:
        _cli_seconds(["output.figures=false"], tmp)  # warm-up: numba cache, page cache
        for _ in range(repeats):  # interleaved, so drift hits both alike
            for figures in (True, False):
                walls[figures].append(_cli_seconds([f"output.figures={str(figures).lower()}"],
                                                   tmp))
    med = {f: statistics.median(w) for f, w in walls.items()}
    for figures in (True, False):
        log(f"process figures={figures}: median {med[figures]:.3f} s")
        emit("process_seconds", med[figures], "s", command="python -m sim "
             f"output.figures={str(figures).lower()}", figures=figures, **stats(walls[figures]))
    emit("figures_share_of_process", (med[True] - med[False]) / med[True], "fraction",
         with_figures_s=med[True], without_figures_s=med[False],
         figures_in_process_s=s["median_s"],
         in_process_share=s["median_s"] / med[True], repeats=repeats)


def _cli_cpu_seconds(extra: list[str], cwd: str) -> tuple[float, float]:
    """``(wall, CPU)`` seconds of one ``python -m sim`` process; CPU is its user + system time
    (steadier than wall time when other work shares the machine)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = _cli_seconds(extra, cwd)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def bench_benchmarks(args) -> None:
    """The default run with its Nash and joint-monopoly benchmarks (``output.benchmarks``, on by
    default) against the same run without them: the whole ``python -m sim output.figures=false``
    process, and ``PriceWarModel(cfg).run()`` in process (no imports, no files)."""
    repeats = 3 if args.quick else 5
    base = default_config()
    cfgs = {on: sim.validate(dataclasses.replace(
        base, output=dataclasses.replace(base.output, benchmarks=on))) for on in (True, False)}
    runs: dict[bool, list[float]] = {True: [], False: []}
    for on in (True, False):
        time_run(cfgs[on])  # warm-up: imports, the compiled kernels
    for _ in range(repeats):  # interleaved, so drift hits both alike
        for on in (True, False):
            wall, model, _ = time_run(cfgs[on])
            runs[on].append(wall)
            if on:
                solves = dict(model.benchmarks.solves)
    walls: dict[bool, list[float]] = {True: [], False: []}
    cpus: dict[bool, list[float]] = {True: [], False: []}
    with tempfile.TemporaryDirectory() as tmp:
        _cli_seconds(["output.figures=false"], tmp)  # warm-up: numba cache, page cache
        for _ in range(repeats):
            for on in (True, False):
                wall, cpu = _cli_cpu_seconds(["output.figures=false",
                                              f"output.benchmarks={str(on).lower()}"], tmp)
                walls[on].append(wall)
                cpus[on].append(cpu)
    med = {on: statistics.median(w) for on, w in walls.items()}
    cpu = {on: statistics.median(c) for on, c in cpus.items()}
    run = {on: statistics.median(r) for on, r in runs.items()}
    log(f"benchmarks: process on {med[True]:.3f} s, off {med[False]:.3f} s; in process on "
        f"{run[True]:.3f} s, off {run[False]:.3f} s; solves {solves}")
    emit("benchmarks_on_vs_off", med[True] / med[False], "x",
         command="python -m sim output.figures=false output.benchmarks=true|false",
         on_s=med[True], off_s=med[False], on=stats(walls[True]), off=stats(walls[False]),
         cpu_on_s=cpu[True], cpu_off_s=cpu[False], cpu_ratio=cpu[True] / cpu[False],
         in_process_on_s=run[True], in_process_off_s=run[False],
         in_process_ratio=run[True] / run[False], solves=solves, days=base.horizon_days,
         scenario=base.name, repeats=repeats, target=1.25,
         within_target=med[True] / med[False] <= 1.25)


#: The default scenario without its miner turned host, the Bitcoin network and the compute market
#: (issue #9's benchmark: the default with them within 1.5x of the run without them).
WITHOUT_HOSTS = ["~firms.host", "bitcoin.enabled=false", "compute.enabled=false"]


def bench_hosts(args) -> None:
    """The default scenario (its host, the Bitcoin network and the compute market) against the
    same run without them, ``PriceWarModel(cfg).run()`` in process, interleaved."""
    repeats = 3 if args.quick else 5
    cfgs = {on: sim.validate(sim.compose([] if on else WITHOUT_HOSTS)) for on in (True, False)}
    runs: dict[bool, list[float]] = {True: [], False: []}
    for on in (True, False):
        time_run(cfgs[on])  # warm-up: imports, the compiled kernels
    for _ in range(repeats):
        for on in (True, False):
            wall, model, _ = time_run(cfgs[on])
            runs[on].append(wall)
            if on:
                events = model.tables()[2]["kind"].value_counts().to_dict()
    med = {on: statistics.median(r) for on, r in runs.items()}
    log(f"hosts: with {med[True]:.3f} s, without {med[False]:.3f} s")
    emit("hosts_and_compute_vs_without", med[True] / med[False], "x",
         without_overrides=" ".join(WITHOUT_HOSTS), with_s=med[True], without_s=med[False],
         with_=stats(runs[True]), without=stats(runs[False]), days=cfgs[True].horizon_days,
         scenario=cfgs[True].name, target=1.5, within_target=med[True] / med[False] <= 1.5,
         host_events={k: int(events.get(k, 0)) for k in
                      ("conversion_start", "contract", "retarget", "halving", "asics_off")})


GROUPS: dict[str, tuple[Callable[[Any], None], list[str]]] = {
    "default": (bench_default,
                ["default_days_per_second", "default_run_seconds", "default_tables_seconds"]),
    "scale": (bench_scale,
              ["scale_firm_days_per_second", "scale_firm_days_per_second_cost_plus_labs"]),
    "clearing": (bench_clearing, ["clearing_vs_numpy_ratio"]),
    "exponents": (bench_exponents, ["cost_exponents"]),
    "qlearning": (bench_qlearning,
                  ["qlearning_session_periods_per_second", "qlearning_thread_scaling"]),
    "qlearning_batched": (bench_qlearning_batched,
                          ["qlearning_batched_numpy_session_periods_per_second",
                           "qlearning_compiled_vs_batched_ratio"]),
    "figures": (bench_figures,
                ["figures_standard_seconds", "process_seconds", "figures_share_of_process"]),
    "benchmarks": (bench_benchmarks, ["benchmarks_on_vs_off"]),
    "hosts": (bench_hosts, ["hosts_and_compute_vs_without"]),
}


#: Environment variables that change numpy's speed here; any that are set go into every line.
ENV_KNOBS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
             "MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_ARENA_MAX")


def _run_group_subprocess(group: str, args: argparse.Namespace) -> int:
    """Run one group in a fresh interpreter (same allocator history whatever ran before it) and
    forward its JSON lines to stdout."""
    cmd = [sys.executable, os.path.abspath(__file__), "--group", group,
           "--scale-budget", str(args.scale_budget)]
    if args.quick:
        cmd.append("--quick")
    for dim in args.only_dim or []:
        cmd += ["--dimension", dim]
    for name in args.only or []:
        cmd += ["--only", name]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        try:
            json.loads(line)
        except json.JSONDecodeError:
            sys.stderr.write(line)  # not ours: keep stdout pure JSON
            continue
        _OUT.write(line)
        _OUT.flush()
    return proc.wait()


def main(argv: list[str] | None = None) -> int:
    names = sorted({*GROUPS, *(n for _, ns in GROUPS.values() for n in ns)})
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes and few repeats (smoke run)")
    ap.add_argument("--only", action="append", metavar="NAME", choices=names,
                    help="run one group or benchmark (repeatable): " + ", ".join(names))
    ap.add_argument("--scale-budget", type=float, default=150.0, metavar="S",
                    help="stop a scale variant after S seconds and project its 365-day time "
                         "(0: no limit; default 150)")
    ap.add_argument("--dimension", dest="only_dim", action="append",
                    choices=["days", "firms", "segments"],
                    help="cost_exponents: fit only this dimension (repeatable)")
    ap.add_argument("--in-process", action="store_true",
                    help="run every group in this process (for cProfile); by default each "
                         "group runs in a fresh subprocess")
    ap.add_argument("--group", choices=list(GROUPS), help=argparse.SUPPRESS)  # internal
    args = ap.parse_args(argv)

    META["quick"] = args.quick
    knobs = {k: os.environ[k] for k in ENV_KNOBS if k in os.environ}
    if knobs:
        META["env"] = knobs
    if args.group:
        chosen = [args.group]
    else:
        chosen = [g for g, (_, ns) in GROUPS.items()
                  if not args.only or g in args.only or set(ns) & set(args.only)]
        log(f"python {platform.python_version()}, numpy {np.__version__}, "
            f"{os.cpu_count()} CPUs, quick={args.quick}, groups={chosen}")
    t0 = time.perf_counter()
    rc = 0
    if args.group or args.in_process:
        # Anything a library prints while we benchmark goes to stderr, not the JSON stream.
        with contextlib.redirect_stdout(sys.stderr):
            for g in chosen:
                GROUPS[g][0](args)
    else:
        for g in chosen:
            code = _run_group_subprocess(g, args)
            if code != 0:
                log(f"group {g} failed with exit status {code}")
                rc = 1
    if not args.group:
        log(f"done in {time.perf_counter() - t0:.1f} s")
    return rc


if __name__ == "__main__":
    sys.exit(main())
