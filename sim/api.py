"""The one job function and its parts: compose -> validate -> simulate -> write.

``run(overrides)`` composes ``sim/conf/config.yaml`` with Hydra overrides, validates it, simulates
it and (if asked) writes its files; the command line (:mod:`sim.cli`) and the sweep jobs run the
same steps.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from sim.analysis.result import Result, json_ready, summarize
from sim.config.compose import compose_config
from sim.config.schema import Config
from sim.validation import validate

__all__ = ["compose", "simulate", "run", "write"]


def _overrides(overrides: list[str] | None, kw: dict[str, Any]) -> list[str]:
    out = list(overrides or [])
    for key, value in kw.items():
        if isinstance(value, bool):
            value = str(value).lower()
        out.append(f"{key}={value}")
    return out


def compose(overrides: list[str] | None = None, **kw: Any) -> DictConfig:
    """Compose ``sim/conf/config.yaml`` with Hydra overrides (``["scenario=china_2024", "seed=3"]``,
    or keyword arguments ``seed=3``).

    Raises
    ------
    ConfigError
        For an unknown scenario, key or option, a value of the wrong type, bad syntax, a missing
        value, a broken interpolation, or content that could run code
        (:mod:`sim.config.compose`).
    """
    return compose_config(_overrides(overrides, kw))


def simulate(cfg: Config, progress: bool = False) -> Result:
    """Run a validated config to its horizon and return the Result (no files)."""
    from sim.world.model import PriceWarModel

    model = PriceWarModel(cfg)
    model.run(progress=progress)
    firms, market, events = model.tables()
    summary = summarize(cfg, firms, market, events, model.exits)
    summary["demand"] = json_ready(model.demand_report())
    for key, shared in model.shared.items():  # state rules share reports itself (Q arena)
        summary[key] = json_ready(shared.summary(firms, market))
    return Result(firms, market, events, summary, cfg)


def write(result: Result, out_dir: str | Path, figures: bool | None = None) -> Path:
    """Write a result's tables, config, figures and (last) summary into ``out_dir``."""
    from sim.output import io

    return io.write(result, out_dir, figures=figures)


def run(overrides: list[str] | None = None, *, out_dir: str | Path | None = None,
        progress: bool = False, **kw: Any) -> Result:
    """Compose, validate and run one scenario.

    Parameters
    ----------
    overrides : Hydra overrides, as on the command line.
    out_dir : if given, write the run's files there (as ``python -m sim`` does).
    progress : show a progress bar.
    **kw : more overrides as ``key=value`` (``seed=3``, ``horizon_days=365``).

    Returns
    -------
    Result
    """
    cfg = validate(compose(overrides, **kw))
    result = simulate(cfg, progress=progress)
    if out_dir is not None:
        write(result, out_dir)
    return result
