"""The default scenario's calibration targets, measured on its day-0 market (docs/model.md §6).

    python experiments/calibrate_default.py [override ...]

prints one JSON object: each firm's best response to the start prices (capacity-aware, as its
pricing rule computes it) beside its start price, own-price elasticities, Lerner indices
``(p - c) / p``, diversion to not buying, the lab's first-round demand, the share of zero-price
usage bought, and the firms' volume when both firms' prices fall to a tenth.  Overrides are
Hydra overrides, e.g. ``segments.usage_elasticity=0.5``.
"""

from __future__ import annotations

import json
import sys

import sim
from sim import economics as econ
from sim.strategies.pricing import _best_response
from sim.world.model import PriceWarModel


def report(overrides: list[str]) -> dict:
    model = PriceWarModel(sim.validate(sim.compose([*overrides, "horizon_days=1"])))
    views = {f.name: model.view(f) for f in model.token_firms}
    view = next(iter(views.values()))
    market = view.segment_market(capacity=False)
    prices = view.all_prices()
    n = view.n
    el = econ.elasticities(market, prices)
    demand = econ.segment_demand(market, prices)
    _, s0 = market.shares(prices)
    cut = prices.copy()
    cut[:n] *= 0.1
    return {
        "firms": {name: {
            "start_price_usd_per_m": float(v.prices[v.me]),
            "best_response_usd_per_m": _best_response(v),
            "marginal_cost_usd_per_m": float(v.costs[v.me]),
            "own_price_elasticity": float(el.own[v.me]),
            "lerner": float((prices[v.me] - market.costs[v.me]) / prices[v.me]),
            "diversion_to_no_purchase": float(el.diversion_outside[v.me]),
            "demand_m_tokens": float(demand[v.me]),
        } for name, v in views.items()},
        "share_of_zero_price_usage_bought": float(1 - market.sizes @ s0 / market.sizes.sum()),
        "volume_ratio_at_a_tenth_of_the_price": float(
            econ.segment_demand(market, cut)[:n].sum() / demand[:n].sum()),
    }


if __name__ == "__main__":
    print(json.dumps(report(sys.argv[1:]), indent=1))
