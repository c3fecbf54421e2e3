"""Layer 8: a run's Result (data only) and its summaries."""
