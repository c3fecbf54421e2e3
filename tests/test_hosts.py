"""Miners turned AI hosts: the conversion rule, tested directly on its margin test."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sim.strategies import make
from sim.strategies.hosting import payback_test
from sim.views import HostView


def _site(hashprice=50.0, price=2.0, capex=20e6, days=180.0, convertible=60.0,
          efficiency=17.5, power=45.0, gpus_per_mw=700.0):
    return HostView(
        name="host", hashprice=hashprice, efficiency_j_per_th=efficiency, power_usd_per_mwh=power,
        gpus_per_mw=gpus_per_mw, capex_per_mw=capex, conversion_days=days, mw_mining=300.0,
        mw_hosting=0.0, mw_converting=0.0, mw_convertible=convertible, hosting_price=price,
        free_funds_usd=1e9)


def test_margins_by_hand():
    """17.5 J/TH: 57.14 PH/s a MW; at 45 USD/MWh the hashcost is 17.5 * 45 * 0.024 = 18.9 USD
    per PH/s a day; at a hashprice of 50 a MW mines (50 - 18.9) * 57.14 = 1,777 USD a day.
    700 GPUs a MW at 2 USD per GPU-hour, less 45 / 700 USD of power each, earn
    (2 - 0.0643) * 700 * 24 = 32,520 USD a MW-day."""
    site = _site()
    assert site.mining_margin_per_mw_day() == pytest.approx((50 - 18.9) * 1000 / 17.5)
    assert site.hosting_margin_per_mw_day() == pytest.approx((2 - 45 / 700) * 700 * 24)
    # Below the hashcost the ASICs are off: mining gives up nothing.
    assert _site(hashprice=10.0).mining_margin_per_mw_day() == 0.0


@given(st.floats(0.0, 400.0), st.floats(0.0, 10.0), st.floats(1e5, 1e8),
       st.floats(0.0, 10.0))
def test_the_rule_converts_exactly_when_its_margin_test_says_so(hashprice, price, capex, years):
    """(h - m) * (payback - conversion days) >= capex, computed here longhand."""
    site = _site(hashprice=hashprice, price=price, capex=capex)
    rule = make("hosting", {"rule": "payback", "payback_years": max(years, 0.01),
                            "block_mw": 30.0})
    m = max(hashprice - 17.5 * 45 * 0.024, 0.0) * 1000 / 17.5
    h = (price - 45 / 700) * 700 * 24
    converts = (h - m) * max(365.0 * max(years, 0.01) - 180.0, 0.0) >= capex
    assert (rule.convert(site, None) == 30.0) == converts
    assert payback_test(site, 365.0 * max(years, 0.01), price) == converts


def test_the_halving_flips_the_decision():
    """Before the April 2024 halving (hashprice ~110 USD/PH/day) a MW mines 5,206 USD a day;
    after it (~50) 1,777.  With 21M USD a MW (hall plus GPUs) and a hosting price of 1.60 USD a
    GPU-hour (IREN - Microsoft's $9.7M a MW-year is 1.58 at 700 GPUs a MW; 25,800 USD a MW-day),
    a 3-year payback (915 earning days after 180 of conversion) converts after the halving
    ((25,800 - 1,777) * 915 = 22.0M >= 21M), not before ((25,800 - 5,206) * 915 = 18.8M)."""
    rule = make("hosting", {"rule": "payback", "payback_years": 3.0, "block_mw": 30.0})
    before, after = _site(hashprice=110.0, price=1.60, capex=21e6), \
        _site(hashprice=50.0, price=1.60, capex=21e6)
    assert rule.convert(before, None) == 0.0
    assert rule.convert(after, None) == 30.0


def test_no_price_no_conversion_and_never_more_than_convertible():
    rule = make("hosting", {"rule": "payback", "block_mw": 30.0})
    assert rule.convert(_site(price=math.nan), None) == 0.0
    assumed = make("hosting", {"rule": "payback", "block_mw": 30.0,
                               "assumed_price_usd_per_gpu_hour": 3.0})
    assert assumed.convert(_site(price=math.nan), None) == 30.0
    assert assumed.convert(_site(price=math.nan, convertible=12.0), None) == 12.0
    assert assumed.convert(_site(price=math.nan, convertible=0.0), None) == 0.0
    assert make("hosting", {"rule": "none"}).convert(_site(price=9.0), None) == 0.0
