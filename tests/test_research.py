"""Research rules value GPU time at its opportunity cost."""

from __future__ import annotations

import numpy as np
import pytest

from sim.strategies import make
from sim.views import FirmView


def _me(price=1.3, rationed=0.0, revenue=1e6):
    history = {"revenue_usd": np.full(90, revenue), "demand_m_tokens": np.zeros(90),
               "free_cash_flow_usd": np.zeros(90)}
    return FirmView(name="lab", kind="lean_lab", price=price, quality=1290.0,
                    marginal_cost=0.021875, cost_per_gpu_hour_usd=0.35, tokens_per_gpu_hour=16.0,
                    cash=1e9, gpus_serving=1e6, gpus_training=0.0, gpus_on_order=0.0,
                    gpu_price_usd=3e4, gpu_lead_days=120, choice_share=0.5,
                    served_m_tokens=1e5, history=history, rationed_m_tokens=rationed)


def test_shadow_price_is_the_serving_margin_when_capacity_binds():
    assert _me(rationed=0.0).gpu_hour_shadow_price_usd == 0.0
    assert _me(rationed=5.0).gpu_hour_shadow_price_usd == pytest.approx((1.3 - 0.021875) * 16)


def test_research_spend_falls_when_the_shadow_price_of_gpu_time_rises():
    rule = make("research", {"rule": "revenue_share", "share": 0.3, "run_days": 60,
                             "max_gpu_share": 1.0})
    slack = rule.plan(_me(rationed=0.0), None)[0]
    # Budget 0.3 * 60 days * 1e6 USD over 0.35 USD * 24 * 60 GPU-hours per GPU.
    assert slack == pytest.approx(0.3 * 60e6 / (0.35 * 24 * 60))
    held = [rule.plan(_me(price=p, rationed=5.0), None)[0] for p in (0.5, 1.0, 2.0)]
    assert held[0] < slack and held[0] > held[1] > held[2]  # dearer GPU time, less training
    for p, g in zip((0.5, 1.0, 2.0), held, strict=True):
        shadow = (p - 0.021875) * 16
        assert g == pytest.approx(0.3 * 60e6 / ((0.35 + shadow) * 24 * 60))
    blind = make("research", {"rule": "revenue_share", "share": 0.3, "run_days": 60,
                              "max_gpu_share": 1.0, "opportunity_cost": False})
    assert blind.plan(_me(rationed=5.0), None)[0] == pytest.approx(slack)
