"""Money, capacity and share invariants, checked every day of full scenario runs."""

from __future__ import annotations

import pytest
from invariants import ALL

SCENARIOS = [("scenario=lean_lab_vs_giant",), ("scenario=china_2024",),
             ("scenario=logit_duopoly",), ("scenario=predation", "output.benchmarks=true"),
             ("scenario=release_race_2025",),
             ("scenario=logit_duopoly", "bitcoin.enabled=true", "bitcoin.btc_model=gbm",
              "bitcoin.hashrate_model=response")]


@pytest.fixture(params=SCENARIOS, ids=lambda o: " ".join(x.split("=")[1] for x in o),
                scope="module")
def result(request, run_cached):
    return run_cached(*request.param)


@pytest.mark.parametrize("check", ALL, ids=lambda f: f.__name__.removeprefix("check_"))
def test_invariant(result, check):
    check(result)
