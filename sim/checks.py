"""Deprecated location of the range checks; they live in :mod:`sim.core.params`."""

from sim.core.params import MAX_HORIZON_DAYS, date, integer, interval_text, number, path, when

__all__ = ["number", "integer", "date", "when", "path", "interval_text", "MAX_HORIZON_DAYS"]
