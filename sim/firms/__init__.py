"""Firm agents.  ``FIRM_CLASSES`` maps a config's ``kind`` to its class."""

from sim.firms.base import Firm, Flows, Outcome
from sim.firms.lab import FIRM_CLASSES, LeanLab, TechGiant

__all__ = ["Firm", "Flows", "Outcome", "LeanLab", "TechGiant", "FIRM_CLASSES"]
