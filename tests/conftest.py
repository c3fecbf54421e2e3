"""Shared fixtures: runs are cached per session because the default suite reuses them."""

from __future__ import annotations

import functools
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import settings

import sim

# CI runs the same examples every time; HYPOTHESIS_PROFILE=explore searches far wider.
settings.register_profile("ci", max_examples=300, deadline=None, derandomize=True)
settings.register_profile("explore", max_examples=20_000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

ROOT = Path(__file__).resolve().parent.parent


@functools.cache
def _cached_run(overrides: tuple[str, ...]) -> sim.Result:
    return sim.run(list(overrides))


@pytest.fixture(scope="session")
def run_cached():
    """``run_cached(*overrides)`` -> Result, shared across tests (treat it as read-only)."""
    return lambda *overrides: _cached_run(tuple(overrides))


def run_cli(args: list[str], cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run ``python -m sim ARGS`` in ``cwd`` and capture its output."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HYDRA_FULL_ERROR": "0"}
    return subprocess.run([sys.executable, "-m", "sim", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)
