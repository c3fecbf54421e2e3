"""Hold-out test of one behavioural rule for the giants of the May 2024 Chinese price war.

``china_2024_holdout`` gives every giant (Alibaba, ByteDance, Baidu, Tencent) the same ``threat``
pricing rule and the same base reaction lag.  This script fits those shared values by a grid
search on the observed first cuts of the training firms only (default: ``targets.fitted_on`` of
the scenario, Alibaba and Baidu), minimising

    loss = sum over training firms of ( |days off| + |percentage points off| / pp_per_day ),

then predicts the held-out firms' first cuts (date and depth) with the fitted values and scores
them, and the training firms, against two naive forecasts: "no change" (nobody cuts) and "follow
the leader" (everyone cuts on the day and by the depth of the first observed cut)
(:mod:`sim.analysis.cuts`).  Finally it re-runs the fitted model with DeepSeek entering at
``--deepseek-yuan`` prices to show what DeepSeek's price does to the giants' cuts.

Every run is deterministic (seed ``--seed``); ties in the loss go to the first candidate in grid
order.  Runs are ``--horizon-days`` long (a cut later than that counts as "no cut", scored at
that day); the first ``--horizon-days`` of a run do not depend on the horizon.  Prints one JSON
object; ``--out FILE`` also writes it.

Usage::

    python experiments/china_holdout.py                    # the fit in docs/model.md §8
    python experiments/china_holdout.py --train alibaba,tencent --jobs 1
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from sim.analysis.result import json_ready
from sim.api import compose, simulate
from sim.config.schema import Config
from sim.core.errors import ConfigError, Raw
from sim.core.fs import atomic_write
from sim.core.params import check_field, param, plain
from sim.validation import validate

#: The grid searched: every combination of these shared values.
GRID: dict[str, tuple[float, ...]] = {
    "reaction_lag_days": (5.0, 7.5, 10.0, 12.5, 15.0, 17.5, 20.0, 25.0, 30.0),
    "lag_sensitivity": (0.0, 0.25, 0.5, 1.0, 2.0),
    "threshold": (0.5, 1.0, 1.5, 2.0, 2.5),
    "match": (0.5, 0.625, 0.75, 1.0),
    "floor": (0.0, 0.5),
}
#: CNY per USD, as in the scenario's prices.
CNY_PER_USD = 7.2


@dataclasses.dataclass
class Flags:
    """The script's flags (``--horizon-days`` for ``horizon_days``), checked by
    :func:`sim.core.params.check_field` like every config of the simulator."""

    scenario: str = param("china_2024_holdout", doc="scenario whose giants share one rule")
    train: str = param("", doc="comma-separated firms to fit on (empty: targets.fitted_on)")
    seed: int = param(0, 0, 2**63 - 1, doc="the runs' seed")
    horizon_days: int = param(60, 25, 36_500, doc="days simulated per candidate")
    pp_per_day: float = param(10.0, 0.0, 1e6, lo_open=True,
                              doc="percentage points of depth error that cost as much as a day")
    deepseek_yuan: str = param("0.5,1,2,5", doc="DeepSeek entry prices to show, yuan/M input")
    jobs: int = param(0, 0, 1024, doc="worker processes (0: one per core)")


DEFAULTS = {**dataclasses.asdict(Flags()), "out": None}


class _UsageError(Exception):
    """A malformed command line."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line and exit status 2, like every other bad input
        raise _UsageError(message)


def _literal(text: str):
    for conv in (int, float):
        try:
            return conv(text)
        except ValueError:
            pass
    return Raw(text)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse and check the flags; a bad value raises :class:`ConfigError`."""
    ap = _Parser(description=__doc__.split("\n\n")[0],
                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    for f in dataclasses.fields(Flags):
        ap.add_argument("--" + f.name.replace("_", "-"), dest=f.name, type=_literal,
                        default=DEFAULTS[f.name], help=f.metadata["doc"])
    ap.add_argument("--out", default=None, help="also write the JSON to this file")
    ap.add_argument("--no-progress", dest="progress", action="store_false",
                    help="hide the progress bar")
    args = ap.parse_args(argv)
    for f in dataclasses.fields(Flags):
        flag, value = "--" + f.name.replace("_", "-"), getattr(args, f.name)
        if f.type in ("str", str) and not isinstance(value, str):
            value = str(value)
        if f.type in ("int", int) and isinstance(value, float) and value.is_integer():
            value = int(value)
        setattr(args, f.name, check_field(Flags, f.name, value, flag))
    try:
        args.deepseek_yuan = [float(x) for x in args.deepseek_yuan.split(",") if x.strip()]
    except ValueError:
        raise ConfigError("--deepseek-yuan", args.deepseek_yuan,
                          "comma-separated positive numbers", "not numbers") from None
    if any(not 0 < x < 1e4 for x in args.deepseek_yuan):
        raise ConfigError("--deepseek-yuan", args.deepseek_yuan, "numbers in (0, 1e4)")
    return args


def giants(cfg: Config) -> list[str]:
    """The firms that share the rule: every firm whose pricing rule is ``threat``."""
    return [n for n, f in cfg.firms.items() if f.pricing.get("rule") == "threat"]


def with_values(base: Config, values: dict[str, float]) -> Config:
    """``base`` with every giant given the same ``values`` (``reaction_lag_days`` and the
    ``threat`` rule's parameters), re-validated."""
    raw = plain(base)
    rule = {k: v for k, v in values.items() if k != "reaction_lag_days"}
    for name in giants(base):
        raw["firms"][name]["reaction_lag_days"] = values["reaction_lag_days"]
        raw["firms"][name]["pricing"] = {"rule": "threat", "preset": {"threat": rule}}
    return validate(raw)


def with_deepseek_price(base: Config, yuan: float, firm: str = "deepseek") -> Config:
    """``base`` with DeepSeek entering at ``yuan`` per million input tokens and keeping that
    price: its entry price and its cost-plus markup over its marginal cost."""
    raw = plain(base)
    lab = base.firms[firm]
    price = yuan / CNY_PER_USD
    cost = lab.cost_per_gpu_hour_usd / (base.technology.tokens_per_gpu_hour_m
                                        * lab.inference_efficiency)
    raw["firms"][firm]["price_usd_per_m"] = price
    raw["firms"][firm]["pricing"] = {"rule": "cost_plus", "markup": price / cost - 1.0}
    return validate(raw)


def first_cuts(cfg: Config) -> dict[str, Any]:
    """Run ``cfg``; each firm's first cut ``(day, depth %)`` and the validation block."""
    summary = simulate(cfg).summary
    cuts = {n: (f["price_cut"]["first_cut_day"], f["price_cut"]["first_cut_pct"] or 0.0)
            for n, f in summary["firms"].items()}
    return {"cuts": cuts, "validation": summary["validation"]["price_cuts"]}


def loss(block: dict[str, Any], train: list[str], pp_per_day: float) -> float:
    """``sum_train (|days off| + |pp off| / pp_per_day)`` of the model in a validation block."""
    return sum(block["firms"][n]["model"]["abs_days"]
               + block["firms"][n]["model"]["abs_pp"] / pp_per_day for n in train)


def _evaluate(job: tuple[dict, dict[str, float], list[str], float]) -> tuple[float, dict]:
    raw, values, train, pp_per_day = job  # a plain config: typed ones do not pickle
    block = first_cuts(with_values(validate(raw), values))["validation"]
    return loss(block, train, pp_per_day), block


def candidates() -> list[dict[str, float]]:
    """Every point of :data:`GRID`, in grid order."""
    keys = list(GRID)
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*GRID.values())]


def fit(base: Config, train: list[str], pp_per_day: float, jobs: int = 1,
        progress: bool = False) -> tuple[list[dict[str, Any]], int]:
    """Every candidate's loss, best first (ties: grid order), and the grid's size."""
    from tqdm.auto import tqdm

    grid = candidates()
    raw = plain(base)
    work = [(raw, values, train, pp_per_day) for values in grid]
    bar = tqdm(total=len(work), unit="run", desc="grid", disable=not progress or None,
               file=sys.stderr)
    if jobs == 1:
        results = []
        for job in work:
            results.append(_evaluate(job))
            bar.update(1)
    else:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            results = []
            for res in pool.map(_evaluate, work, chunksize=8):
                results.append(res)
                bar.update(1)
    bar.close()
    ranked = sorted(range(len(grid)), key=lambda k: (results[k][0], k))
    return [{"values": grid[k], "loss": results[k][0], "validation": results[k][1]}
            for k in ranked], len(grid)


def tied(ranked: list[dict[str, Any]], tol: float = 1e-9) -> dict[str, Any]:
    """How many candidates share the best loss (to ``tol``), and each value's range among them:
    what the training cuts do not pin down."""
    best = [r["values"] for r in ranked if r["loss"] <= ranked[0]["loss"] + tol]
    return {"candidates": len(best),
            "ranges": {k: [min(v[k] for v in best), max(v[k] for v in best)] for k in GRID}}


def main(argv: list[str] | None = None) -> int:
    try:
        args = parse_args(argv)
        base = validate(compose([f"scenario={args.scenario}", f"seed={args.seed}",
                                 f"horizon_days={args.horizon_days}", "output.figures=false"]))
        if not giants(base):
            raise ConfigError("--scenario", args.scenario, "a scenario whose giants use the "
                              "threat rule (china_2024_holdout)", "no threat rule")
        observed = list((base.targets or {}).get("price_cuts") or {})
        train = [t for t in args.train.split(",") if t] or list(
            base.targets.get("fitted_on") or [])
        for t in train:
            if t not in observed:
                raise ConfigError("--train", t, f"firms of targets.price_cuts: "
                                  f"{', '.join(observed)}", "no observed cut")
        if not train or set(train) == set(observed):
            raise ConfigError("--train", ",".join(train), "some, not all, of "
                              f"{', '.join(observed)}", "nothing held out")
    except (ConfigError, _UsageError) as err:
        print(f"china_holdout: {err}", file=sys.stderr)
        return 2
    start = time.perf_counter()
    base.targets = {**base.targets, "fitted_on": train}
    jobs = args.jobs or os.cpu_count() or 1
    ranked, size = fit(base, train, args.pp_per_day, jobs, args.progress)
    best = ranked[0]
    fitted = with_values(base, best["values"])
    sweep = {}
    for yuan in args.deepseek_yuan:
        run = first_cuts(with_deepseek_price(fitted, yuan))
        sweep[f"{yuan:g}"] = {n: {"first_cut_day": c[0], "first_cut_pct": c[1]}
                              for n, c in run["cuts"].items() if n in giants(fitted)}
    block = best["validation"]
    out = {
        "scenario": args.scenario,
        "seed": args.seed,
        "horizon_days": args.horizon_days,
        "train": train,
        "held_out": block["held_out"],
        "loss": "sum over train of |days off| + |pp off| / pp_per_day",
        "pp_per_day": args.pp_per_day,
        "grid": {k: list(v) for k, v in GRID.items()},
        "candidates": size,
        "fitted": best["values"],
        "fitted_loss": best["loss"],
        "tied": tied(ranked),
        "runner_up": [{"values": r["values"], "loss": r["loss"]} for r in ranked[1:6]],
        "overrides": [f"firms.alibaba.reaction_lag_days={best['values']['reaction_lag_days']}"]
        + [f"firms.alibaba.pricing.preset.threat.{k}={v}" for k, v in best["values"].items()
           if k != "reaction_lag_days"],
        "firms": block["firms"],
        "scores": block["scores"],
        "deepseek_price_sweep": sweep,
        "wall_seconds": time.perf_counter() - start,
    }
    text = json.dumps(json_ready(out, digits=6), indent=2)
    print(text)
    if args.out:
        atomic_write(Path(args.out), lambda p: p.write_text(text + "\n"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
