"""The kinds of firm, each a list of components (:mod:`sim.firms.components`).

=============  =============================================================================
kind           components
=============  =============================================================================
lean_lab       Ledger, GpuFleet, TokenSeller, Trainer, Renter, VentureFunding: little cash,
               high efficiency, fast reviews; lives on venture rounds and exits when cash runs
               out; rents GPU-hours when the compute market is on
tech_giant     Ledger, GpuFleet, TokenSeller, Trainer, Renter, ParentSubsidy: deep cash, GPUs
               at cost from its own cloud (which may rent spare ones out), a parent whose
               profits cover the division's losses
miner_host     Ledger, Miner, Host: a bitcoin miner whose sites mine or, converted, host GPUs
               it sells as GPU-hours (to one lab under contract, or in the compute market);
               sells no tokens
=============  =============================================================================

What differs between kinds is which components they have; efficiency, review cadence and
reaction lag are configuration (``sim/conf/firm/*.yaml``).
"""

from __future__ import annotations

from sim.firms.base import KINDS, Firm
from sim.firms.components import (
    GpuFleet,
    Ledger,
    ParentSubsidy,
    TokenSeller,
    Trainer,
    VentureFunding,
)
from sim.firms.hosting import Host, Miner
from sim.firms.renting import Renter

__all__ = ["LeanLab", "TechGiant", "MinerHost"]


@KINDS.register("lean_lab")
class LeanLab(Firm):
    """A lean AI lab (DeepSeek-like): venture-funded, efficient, fast to review its prices."""

    kind = "lean_lab"
    components = (Ledger, GpuFleet, TokenSeller, Trainer, Renter, VentureFunding)


@KINDS.register("tech_giant")
class TechGiant(Firm):
    """A tech giant's AI division: deep cash, a parent that subsidises its losses, slower
    reviews with a reaction lag."""

    kind = "tech_giant"
    components = (Ledger, GpuFleet, TokenSeller, Trainer, Renter, ParentSubsidy)


@KINDS.register("miner_host")
class MinerHost(Firm):
    """A bitcoin miner turned AI host (HIVE, Core Scientific, IREN, TeraWulf): sites that mine
    or, converted at a cost and in months, host GPUs sold as GPU-hours."""

    kind = "miner_host"
    components = (Ledger, Miner, Host)
