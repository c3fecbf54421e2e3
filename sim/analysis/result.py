"""A run's result: three tables and a summary dict (``docs/outputs.md`` lists every field)."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import pandas as pd

from sim.analysis.cuts import validation_block
from sim.config.schema import Config
from sim.economics import hhi

__all__ = ["Result", "summarize", "json_ready", "CUT_THRESHOLD", "recorded_releases",
           "releases_vs_recorded"]

#: A firm "cuts" when its posted price first falls at least this fraction below its entry price.
CUT_THRESHOLD = 0.05


@dataclasses.dataclass
class Result:
    """Everything a run produced (data only: :func:`sim.write` writes it).

    Attributes
    ----------
    firms : one row per active firm per day.
    market : one row per day.
    events : one row per event (entry, price_change, release, exit, ...).
    summary : JSON-ready dict of headline outcomes.
    config : the validated configuration that produced it.
    """

    firms: pd.DataFrame
    market: pd.DataFrame
    events: pd.DataFrame
    summary: dict[str, Any]
    config: Config



def _price_cut(entry: float, prices: pd.Series, days: pd.Series, start) -> dict[str, Any]:
    """First cut of at least CUT_THRESHOLD below the configured entry price, and the deepest."""
    low = float(prices.min())
    out: dict[str, Any] = {
        "entry_price_usd_per_m": entry,
        "min_price_usd_per_m": low,
        "max_cut_pct": 100.0 * (1.0 - low / entry) if entry > 0 else 0.0,
        "first_cut_day": None,
        "first_cut_date": None,
        "first_cut_pct": None,
    }
    if entry > 0:
        below = np.flatnonzero(prices.to_numpy() <= entry * (1.0 - CUT_THRESHOLD))
        if below.size:
            k = int(below[0])
            day = int(days.iloc[k])
            out.update(first_cut_day=day, first_cut_date=str(start + pd.Timedelta(days=day))[:10],
                       first_cut_pct=100.0 * (1.0 - float(prices.iloc[k]) / entry))
    return out


def _over(prices: pd.Series, nash: pd.Series) -> float | None:
    """Mean over days of ``price / Nash price`` (None without benchmarks): 1 at the static
    Nash price, below 1 in a price war deeper than the static equilibrium, above 1 when prices
    sit above it (tacit collusion, or capacity the benchmark does not see)."""
    ok = nash.notna() & (nash > 0)
    return float((prices[ok] / nash[ok]).mean()) if ok.any() else None


def json_ready(x: Any, digits: int | None = None) -> Any:
    """Nested dicts and lists made JSON-ready: numpy scalars to Python numbers, non-finite floats
    to None, floats rounded to ``digits`` significant digits if given."""
    if isinstance(x, dict):
        return {str(k): json_ready(v, digits) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [json_ready(v, digits) for v in x]
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, (float, np.floating)):
        x = float(x)
        if not math.isfinite(x):
            return None
        return x if digits is None else float(f"{x:.{digits}g}")
    return x


def summarize(cfg: Config, firms: pd.DataFrame, market: pd.DataFrame,
              events: pd.DataFrame, exits: dict[str, int]) -> dict[str, Any]:
    """Headline outcomes of a run.

    Final-day shares, HHI and prices; totals of consumer surplus and spend; per firm its entry and
    exit days, cumulative money, final cash, and price cuts (first cut of at least
    ``CUT_THRESHOLD`` below the entry price, and the deepest); and, where the scenario lists
    observed ``targets.price_cuts``, the model's cuts beside them and, in
    ``validation.price_cuts``, scored against the naive forecasts
    (:func:`sim.analysis.cuts.validation_block`); where it lists recorded ``targets.releases``,
    the simulated release dates beside them (``validation.releases``,
    :func:`releases_vs_recorded`).
    """
    start = pd.Timestamp(cfg.start)
    last = int(market["day"].max()) if len(market) else 0
    final_market = market[market["day"] == last]
    final = firms[firms["day"] == last].set_index("firm")
    per_firm: dict[str, Any] = {}
    for name, rows in firms.groupby("firm", sort=False):
        rows = rows.sort_values("day")
        entry_price = getattr(cfg.firms[name], "price_usd_per_m", None)
        per_firm[name] = {
            "kind": cfg.firms[name].kind,
            "label": cfg.firms[name].label or name,
            "entry_day": int(rows["day"].iloc[0]),
            "exit_day": exits.get(name),
            "survived": name not in exits,
            "final_cash_usd": float(rows["cash_usd"].iloc[-1]),
            "revenue_usd": float(rows["revenue_usd"].sum()),
            "operating_profit_usd": float(rows["operating_profit_usd"].sum()),
            "capex_usd": float(rows["capex_usd"].sum()),
            "funding_usd": float(rows["funding_usd"].sum()),
            "subsidy_usd": float(rows["subsidy_usd"].sum()),
        }
        if entry_price is None:  # not a token seller (a miner turned host)
            continue
        per_firm[name] |= {
            "final_price_usd_per_m": float(rows["price_usd_per_m"].iloc[-1]),
            "final_quality": float(rows["quality"].iloc[-1]),
            "final_firm_share": float(final["firm_share"].get(name, 0.0)),
            "final_token_share": float(final["token_share"].get(name, 0.0)),
            "served_m_tokens": float(rows["served_m_tokens"].sum()),
            "mean_price_over_nash": _over(rows["price_usd_per_m"], rows["nash_price_usd_per_m"]),
            "price_cut": _price_cut(entry_price, rows["price_usd_per_m"], rows["day"], start),
        }
    summary: dict[str, Any] = {
        "scenario": cfg.name,
        "seed": cfg.seed,
        "horizon_days": cfg.horizon_days,
        "start_date": cfg.start_date,
        "final_day": last,
        "final": {
            "n_firms": int(final_market["n_firms"].iloc[0]) if len(final_market) else 0,
            "hhi": hhi(final["firm_share"].dropna().to_numpy()) if len(final) else 0.0,
            # The final day's market row (these defaults when no day was recorded).
            **{col: float(final_market[col].iloc[0]) if len(final_market) else default
               for col, default in (("hhi_with_outside", 10_000.0),
                                    ("mean_price_usd_per_m", 0.0),
                                    ("min_price_usd_per_m", 0.0),
                                    ("outside_choice_share", 1.0))},
            "firm_shares": {k: float(v) for k, v in final["firm_share"].dropna().items()},
        },
        **{f"mean_{col}": float(market[col].mean()) if len(market) else 0.0
           for col in ("hhi", "hhi_with_outside")},
        # Totals over the run of the market's daily flows.
        **{col: float(market[col].sum())
           for col in ("consumer_surplus_usd", "producer_surplus_usd", "subsidy_paid_usd",
                       "total_surplus_usd", "customer_spend_usd", "served_m_tokens",
                       "unserved_m_tokens", "no_purchase_m_tokens", "rationing_loss_usd",
                       "efficient_surplus_usd", "deadweight_loss_usd")},
        "survivors": [n for n in cfg.firms if n in per_firm and n not in exits],
        "exit_days": dict(exits),
        "firms": per_firm,
        "events": {k: int(v) for k, v in events["kind"].value_counts().sort_index().items()},
    }
    observed = (cfg.targets or {}).get("price_cuts") or {}
    if observed:
        rows = {}
        for name, obs in observed.items():
            model = per_firm.get(name, {}).get("price_cut", {})
            obs_day = cfg.day_of(obs["date"]) if obs.get("date") is not None else None
            rows[name] = {
                "observed_date": obs.get("date"),
                "observed_cut_pct": obs.get("cut_pct"),
                "model_date": model.get("first_cut_date"),
                "model_cut_pct": model.get("first_cut_pct"),
                "model_max_cut_pct": model.get("max_cut_pct"),
                "days_off": int(model["first_cut_day"] - obs_day)
                if model.get("first_cut_day") is not None and obs_day is not None else None,
            }
        summary["price_cuts_vs_observed"] = rows
    recorded = (cfg.targets or {}).get("releases") or {}
    if recorded:
        summary.setdefault("validation", {})["releases"] = releases_vs_recorded(cfg, events)
    block = validation_block(
        cfg.targets or {},
        {n: (f["price_cut"]["first_cut_day"], f["price_cut"]["first_cut_pct"] or 0.0)
         for n, f in per_firm.items() if "price_cut" in f},
        cfg.day_of, lambda day: str(start + pd.Timedelta(days=day))[:10], cfg.horizon_days)
    if block is not None:
        summary.setdefault("validation", {})["price_cuts"] = block
    return json_ready(summary)


def recorded_releases(cfg: Config) -> dict[str, list[tuple[str, str]]]:
    """``targets.releases`` as ``{firm: [(ISO date, model name), ...]}``: each entry a date or
    a mapping ``{date, model}`` (the model's name optional)."""
    out = {}
    for firm, items in ((cfg.targets or {}).get("releases") or {}).items():
        out[firm] = [(str(it["date"]), str(it.get("model") or "")) if isinstance(it, dict)
                     else (str(it), "") for it in items]
    return out


def releases_vs_recorded(cfg: Config, events: pd.DataFrame) -> dict[str, Any]:
    """Simulated release dates beside the recorded ones (``targets.releases``).

    A firm's ``k``-th recorded release is matched with its ``k``-th ``release`` event; its gap
    is ``simulated day - recorded day`` (positive: the model releases later; null when the run
    has no ``k``-th release).  ``mean_abs_gap_days`` and ``max_abs_gap_days`` are over the
    matched releases, ``unmatched`` counts recorded releases without one."""
    rel = events[events["kind"] == "release"]
    start = pd.Timestamp(cfg.start)
    firms: dict[str, Any] = {}
    gaps: list[int] = []
    unmatched = 0
    for firm, items in recorded_releases(cfg).items():
        sim_days = [int(d) for d in rel.loc[rel["firm"] == firm, "day"]]
        rows = []
        for k, (date, model) in enumerate(items):
            day = int(cfg.day_of(date))
            got = sim_days[k] if k < len(sim_days) else None
            gap = None if got is None else got - day
            if gap is None:
                unmatched += 1
            else:
                gaps.append(gap)
            rows.append({
                "model": model,
                "recorded_date": date,
                "recorded_day": day,
                "simulated_date": None if got is None
                else str(start + pd.Timedelta(days=got))[:10],
                "simulated_day": got,
                "gap_days": gap,
            })
        firms[firm] = {"releases": rows, "simulated_releases": len(sim_days)}
    return {
        "firms": firms,
        "matched": len(gaps),
        "unmatched": unmatched,
        "mean_abs_gap_days": float(np.mean(np.abs(gaps))) if gaps else None,
        "max_abs_gap_days": int(np.max(np.abs(gaps))) if gaps else None,
    }
