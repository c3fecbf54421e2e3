"""Layer 8: a run's files (:mod:`sim.output.io`) and its figures (:mod:`sim.output.plots`,
drawn on matplotlib ``Figure`` objects, never through the global backend)."""
