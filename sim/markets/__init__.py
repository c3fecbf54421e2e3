"""Markets as pure functions of numpy arrays (no simulation state)."""
