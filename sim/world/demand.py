"""Customer segments as arrays (not agents), drawn once from the seed tree."""

from __future__ import annotations

import numpy as np

from sim.config.schema import DistConfig, SegmentsConfig

__all__ = ["Segments", "draw"]


def draw(d: DistConfig, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` draws from a segment distribution (see :class:`sim.config.DistConfig`)."""
    if d.dist == "constant":
        return np.full(n, float(d.mean))
    if d.dist == "lognormal":
        return d.mean * np.exp(d.sigma * rng.standard_normal(n) - 0.5 * d.sigma**2)
    if d.dist == "uniform":
        return rng.uniform(d.low, d.high, n)
    raise ValueError(f"unknown distribution {d.dist!r}")  # validate() rejects this earlier


class Segments:
    """Customer segments as arrays.

    Base sizes are lognormal weights ``w_j = exp(size_sigma * Z_j)`` scaled to sum to
    ``total_m_tokens_per_day``; on day ``t`` segment ``j`` wants
    ``M_j(t) = M_j(0) * growth_per_year^(t/365) * J(t)`` million tokens, where ``J`` is the
    product of demand-jump shocks so far.
    """

    def __init__(self, cfg: SegmentsConfig, rng: np.random.Generator):
        w = np.exp(cfg.size_sigma * rng.standard_normal(cfg.count))
        self.base_sizes = cfg.total_m_tokens_per_day * w / w.sum()
        self.alpha = draw(cfg.price_sensitivity, cfg.count, rng)
        self.theta = draw(cfg.quality_taste, cfg.count, rng)
        self.alpha.flags.writeable = False
        self.theta.flags.writeable = False
        self.growth = cfg.growth_per_year
        self.jump = 1.0

    def sizes_at(self, day: float) -> np.ndarray:
        return self.base_sizes * (self.jump * self.growth ** (day / 365.0))
