"""Layer 7: the simulated world: :class:`PriceWarModel` (the SimPy clock, the Mesa agents and
the seed tree), the ordered daily schedule, demand, the offer book and the exogenous paths."""

from sim.world.model import PriceWarModel
from sim.world.schedule import DAILY_STEPS, DailySchedule

__all__ = ["PriceWarModel", "DailySchedule", "DAILY_STEPS"]
