"""Exogenous paths: the outside seller's offer and the shared technology."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from sim.config.schema import TechnologyConfig

__all__ = ["Path", "Technology"]


class Path:
    """``[[day or date, value], ...]``, linearly interpolated and held constant beyond its ends."""

    def __init__(self, points: list[Any], day_of: Callable[[Any], float]):
        self.days = np.array([day_of(p[0]) for p in points], dtype=float)
        self.values = np.array([float(p[1]) for p in points])

    def __call__(self, day: float) -> float:
        return float(np.interp(day, self.days, self.values))


class Technology:
    """Serving throughput, algorithmic progress and the scaling law of model quality.

    Algorithmic progress multiplies effective compute by
    ``algorithmic_progress_per_year^(t/365)``; a model trained with effective compute ``C``
    (H100-hours times training efficiency times progress) has quality
    ``quality_anchor + points_per_decade * log10(C / anchor_gpu_hours)``.
    """

    def __init__(self, cfg: TechnologyConfig):
        self.cfg = cfg

    def progress(self, now: float) -> float:
        return self.cfg.algorithmic_progress_per_year ** (now / 365.0)

    def compute_for(self, quality: float) -> float:
        """Effective compute of a model of ``quality`` by the same law, inverted:
        ``anchor_gpu_hours * 10^((quality - quality_anchor) / points_per_decade)`` (0 when the
        law is flat, ``points_per_decade = 0``)."""
        t = self.cfg
        if t.points_per_decade <= 0:
            return 0.0
        return t.anchor_gpu_hours * 10.0 ** ((quality - t.quality_anchor) / t.points_per_decade)

    def trained_quality(self, effective_gpu_hours: float) -> float:
        t = self.cfg
        if effective_gpu_hours <= 0:
            return -np.inf
        return t.quality_anchor + t.points_per_decade * np.log10(
            effective_gpu_hours / t.anchor_gpu_hours)
