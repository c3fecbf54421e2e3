"""pricewars: a discrete-event, agent-based simulator of AI price wars and compute markets.

Public API
----------
``compose(overrides)``  -> the composed Hydra config (an OmegaConf ``DictConfig``)
``validate(cfg)``       -> the typed :class:`Config`, or a one-line :class:`ConfigError`
``simulate(cfg)``       -> a :class:`Result` (tables and summary)
``run(overrides, **kw)`` -> compose, validate, simulate; no files unless ``out_dir``
``write(result, dir)``  -> the run's files
``Result``, ``Config``, ``ConfigError``, ``CONF_DIR``

The namespace is lazy (PEP 562): ``import sim.markets.tokens`` or ``import sim.economics`` loads
neither Hydra, pandas nor numba; each name above is imported on first use.

Examples
--------
>>> import sim
>>> res = sim.run(["scenario=logit_duopoly", "horizon_days=60"])      # doctest: +SKIP
>>> res.summary["final"]["mean_price_usd_per_m"]                      # doctest: +SKIP
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

__all__ = ["run", "compose", "simulate", "validate", "write", "Result", "Config", "ConfigError",
           "CONF_DIR", "__version__"]
__version__ = "0.1.0"

from sim.core.paths import CONF_DIR  # noqa: E402  (the Hydra config directory)

# Mesa logs every step at INFO under "MESA"; keep it quiet unless a user asks for it.
logging.getLogger("MESA").setLevel(logging.WARNING)

_EXPORTS = {
    "run": "sim.api",
    "compose": "sim.api",
    "simulate": "sim.api",
    "write": "sim.api",
    "validate": "sim.validation",
    "Result": "sim.analysis.result",
    "Config": "sim.config.schema",
    "ConfigError": "sim.core.errors",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'sim' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
