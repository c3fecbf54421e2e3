"""Firms: Mesa agents built from components (:mod:`sim.firms.components`), one registered kind
each (:mod:`sim.firms.kinds`); ``KINDS`` maps a config's ``kind`` to its class."""

from sim.firms.base import KINDS, Component, Firm, FirmConfig, kind_config
from sim.firms.components import (
    Flows,
    FundingConfig,
    GpuFleet,
    Ledger,
    Outcome,
    ParentSubsidy,
    TokenSeller,
    Trainer,
    VentureFunding,
)
from sim.firms.hosting import Host, Miner
from sim.firms.kinds import LeanLab, MinerHost, TechGiant
from sim.firms.renting import Contract, Renter

__all__ = ["Firm", "FirmConfig", "Component", "KINDS", "kind_config", "Flows", "Outcome",
           "Ledger", "GpuFleet", "TokenSeller", "Trainer", "FundingConfig", "VentureFunding",
           "ParentSubsidy", "LeanLab", "TechGiant", "Miner", "Host", "MinerHost", "Renter",
           "Contract"]
