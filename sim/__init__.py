"""pricewars: a discrete-event, agent-based simulator of AI price wars and compute markets.

Public API
----------
``compose(overrides)``  -> the composed Hydra config (an OmegaConf ``DictConfig``)
``run(overrides, **kw)`` -> a :class:`Result` (tables and summary), no files unless ``out_dir``
``Result``, ``Config``, ``ConfigError``, ``validate``

Examples
--------
>>> import sim
>>> res = sim.run(["scenario=logit_duopoly", "horizon_days=60"])      # doctest: +SKIP
>>> res.summary["final"]["mean_price_usd_per_m"]                      # doctest: +SKIP
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from sim.config import Config, ConfigError, validate
from sim.result import Result

__all__ = ["run", "compose", "simulate", "Result", "Config", "ConfigError", "validate", "CONF_DIR"]
__version__ = "0.1.0"

#: The Hydra config directory (``sim/conf/``, installed with the package as package data).
CONF_DIR = Path(__file__).resolve().parent / "conf"

# Mesa logs every step at INFO under "MESA"; keep it quiet unless a user asks for it.
logging.getLogger("MESA").setLevel(logging.WARNING)


def _overrides(overrides: list[str] | None, kw: dict[str, Any]) -> list[str]:
    out = list(overrides or [])
    for key, value in kw.items():
        if isinstance(value, bool):
            value = str(value).lower()
        out.append(f"{key}={value}")
    return out


def compose(overrides: list[str] | None = None, **kw: Any) -> DictConfig:
    """Compose ``conf/config.yaml`` with Hydra overrides (``["scenario=china_2024", "seed=3"]``,
    or keyword arguments ``seed=3``).

    Raises
    ------
    ConfigError
        For an unknown scenario, key or option, a value of the wrong type, or bad syntax.
    """
    from sim.cli import compose_config

    return compose_config(_overrides(overrides, kw))


def simulate(cfg: Config, progress: bool = False) -> Result:
    """Run a validated config to its horizon and return the Result (no files)."""
    from sim.model import PriceWarModel
    from sim.result import json_ready, summarize

    model = PriceWarModel(cfg)
    model.run(progress=progress)
    firms, market, events = model.tables()
    summary = summarize(cfg, firms, market, events, model.exits)
    for key, shared in model.shared.items():  # state rules share reports itself (Q arena)
        summary[key] = json_ready(shared.summary(firms, market))
    return Result(firms, market, events, summary, cfg)


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
        result.write(out_dir)
    return result
