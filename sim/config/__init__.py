"""Layer 5: the configuration schema (:mod:`sim.config.schema`) and its Hydra registration.

Checking a composed config lives one layer up, in :func:`sim.validation.validate`, because each
firm's section is checked by its kind (:mod:`sim.firms`)."""

from sim.config.schema import (
    MAX_HORIZON_DAYS,
    MAX_SEGMENTS,
    SHOCK_KINDS,
    BitcoinConfig,
    ComputeConfig,
    Config,
    DistConfig,
    MarketConfig,
    OutputConfig,
    OutsideConfig,
    SegmentsConfig,
    ShockConfig,
    TechnologyConfig,
    hydra_schema,
    register_configs,
)

__all__ = ["Config", "DistConfig", "SegmentsConfig", "OutsideConfig", "TechnologyConfig",
           "MarketConfig", "BitcoinConfig", "ShockConfig", "OutputConfig", "SHOCK_KINDS",
           "MAX_SEGMENTS", "MAX_HORIZON_DAYS", "hydra_schema", "register_configs", "ComputeConfig"]

