"""The output schema: the columns of the firms, market and events tables, and the Mesa
DataCollector reporters that fill them.  docs/outputs.md gives each column's unit."""

from __future__ import annotations

import operator

from sim.world.compute import COMPUTE_COLUMNS

__all__ = ["FIRM_REPORTERS", "FIRM_COLUMNS", "MARKET_COLUMNS", "NETWORK_COLUMNS",
           "EVENT_COLUMNS"]


def _of(role: str, path: str):
    """Reporter of ``firm.<role>.<path>``, NaN for a firm without that role (a miner turned
    host has no token seller and no GPU fleet of a lab)."""
    get = operator.attrgetter(path)

    def report(firm) -> float:
        part = getattr(firm, role)
        return float("nan") if part is None else get(part)
    return report


FIRM_REPORTERS = {
    "day": operator.attrgetter("model.day"),
    "firm": operator.attrgetter("name"),
    "kind": operator.attrgetter("kind"),
    "price_usd_per_m": _of("seller", "price"),
    "marginal_cost_usd_per_m": _of("seller", "marginal_cost"),
    "quality": _of("seller", "quality"),
    "choice_share": _of("seller", "outcome.choice_share"),
    "token_share": _of("seller", "outcome.token_share"),
    "firm_share": _of("seller", "outcome.firm_share"),
    "demand_m_tokens": _of("seller", "outcome.demand_m_tokens"),
    "served_m_tokens": _of("seller", "outcome.served_m_tokens"),
    "rationed_m_tokens": _of("seller", "outcome.rationed_m_tokens"),
    "capacity_m_tokens": _of("seller", "outcome.capacity_m_tokens"),
    # The fleet the day's market ran on (before the day's depreciation).
    "gpus": _of("fleet", "day_stock.owned"),
    "gpus_serving": _of("fleet", "day_stock.serving"),
    "gpus_training": _of("fleet", "day_stock.training"),
    "gpus_on_order": _of("fleet", "day_stock.on_order"),
    "revenue_usd": operator.attrgetter("ledger.flows.revenue_usd"),
    "serving_cost_usd": operator.attrgetter("ledger.flows.serving_cost_usd"),
    "training_cost_usd": operator.attrgetter("ledger.flows.training_cost_usd"),
    "fixed_cost_usd": operator.attrgetter("ledger.flows.fixed_cost_usd"),
    "capex_usd": operator.attrgetter("ledger.flows.capex_usd"),
    "depreciation_usd": operator.attrgetter("ledger.flows.depreciation_usd"),
    "funding_usd": operator.attrgetter("ledger.flows.funding_usd"),
    "subsidy_usd": operator.attrgetter("ledger.flows.subsidy_usd"),
    "operating_profit_usd": operator.attrgetter("ledger.flows.operating_profit_usd"),
    "cash_usd": operator.attrgetter("ledger.cash"),
    # The day's benchmarks (sim/world/benchmarks.py).
    "nash_price_usd_per_m": lambda firm: firm.model.benchmarks.of(firm.name)[0],
    "monopoly_price_usd_per_m": lambda firm: firm.model.benchmarks.of(firm.name)[1],
    # The compute market (sim/world/compute.py, sim/firms/renting.py).
    "gpus_rented": _of("renter", "gpus"),
    "gpus_rented_out": _of("fleet", "day_stock.lent"),
    "compute_rent_usd": operator.attrgetter("ledger.flows.compute_rent_usd"),
    "compute_sales_usd": operator.attrgetter("ledger.flows.compute_sales_usd"),
    "compute_price_usd_per_gpu_hour": lambda firm: firm.model.compute_price_for(firm),
    # A miner turned host's sites (sim/firms/hosting.py); NaN for other kinds.
    "mw_mining": _of("miner", "day_mw_on"),
    "mw_hosting": _of("host", "mw_hosting"),
    "mw_converting": _of("host", "mw_converting"),
    "gpus_hosting": _of("host", "gpus"),
    "mining_revenue_usd": _of("miner", "day_revenue"),
    "hosting_revenue_usd": _of("host", "day_revenue"),
}
FIRM_COLUMNS = ["day", "date", *list(FIRM_REPORTERS)[1:]]
#: The bitcoin network's market columns (sim/world/network.py), NaN without ``bitcoin.enabled``.
NETWORK_COLUMNS = [
    "btc_price_usd", "hashprice_usd_per_ph_day", "difficulty", "network_hashrate_eh_s",
    "block_height", "block_subsidy_btc",
]
MARKET_COLUMNS = [
    "day", "date", "n_firms", "total_demand_m_tokens", "firms_demand_m_tokens", "served_m_tokens",
    "rationed_m_tokens", "unserved_m_tokens", "outside_m_tokens", "outside_choice_share",
    "outside_price_usd_per_m", "outside_quality", "mean_price_usd_per_m", "min_price_usd_per_m",
    "hhi", "customer_spend_usd", "consumer_surplus_usd", "hhi_with_outside",
    "producer_surplus_usd", "subsidy_paid_usd", "total_surplus_usd", "no_purchase_m_tokens",
    "no_purchase_choice_share", "rationing_loss_usd", "efficient_surplus_usd",
    "deadweight_loss_usd", *NETWORK_COLUMNS,
    *COMPUTE_COLUMNS,  # the compute market (sim/world/compute.py); NaN when it is disabled
]
EVENT_COLUMNS = ["time", "day", "date", "firm", "kind", "detail", "value"]
