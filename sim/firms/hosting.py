"""The parts of a bitcoin miner turned AI host (HIVE, Core Scientific, IREN, TeraWulf).

* :class:`Miner`: sites of ``mw`` MW with ASICs of ``efficiency_j_per_th`` J/TH at
  ``power_usd_per_mwh``.  Each day a running MW mines ``hashprice * ph_per_mw`` USD and burns
  ``24 * power_usd_per_mwh`` of power; when the hashcost exceeds the hashprice the ASICs are
  switched off (the shutdown rule) and back on when it no longer does.
* :class:`Host`: converts MW into AI data halls (``hall_capex_usd_per_mw`` plus
  ``gpus_per_mw`` GPUs at ``gpu_price_usd``, paid at the start; ``conversion_days`` later the MW
  hosts GPUs), decided by its hosting rule (:mod:`sim.strategies.hosting`) every
  ``review_days``.  Its GPUs are sold as GPU-hours: under a long-term contract with one lab
  (``contract_lab``: price, term, GPUs; the signing and each payment in the events table) or
  into the compute market at its marginal cost, the power a GPU-hour uses.

A host's revenue is mining (``revenue_usd``) plus hosting (``compute_sales_usd``, as a giant's
cloud books the GPU-hours it sells); its power bill is booked as its serving cost; its GPUs
retire at ``gpu_depreciation_per_year`` like a lab's.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from sim.core.errors import ConfigError
from sim.core.params import param
from sim.firms.base import Component
from sim.firms.components import daily_retirement
from sim.markets import bitcoin
from sim.views import HostView

__all__ = ["Miner", "Host", "PAYMENT_DAYS"]

#: Days between a contract's payments (each a ``contract_payment`` event).
PAYMENT_DAYS = 30


class Miner(Component):
    """Bitcoin mining sites (see the module doc)."""

    role = "miner"

    @dataclasses.dataclass
    class Config:
        mw: float = param(100.0, 0, 1e5, unit="MW", doc="power capacity of the mining sites")
        power_usd_per_mwh: float = param(45.0, 0, 1e4, unit="USD/MWh", doc="price of power")
        efficiency_j_per_th: float = param(17.5, 0, 1e3, lo_open=True, unit="J/TH",
                                           doc="the ASIC fleet's efficiency")
        ai_suitable_share: float = param(0.2, 0, 1, doc="share of the MW an AI data hall can "
                                                        "use (power, cooling, fibre)")

    def __init__(self, firm, cfg):
        super().__init__(firm, cfg)
        self.mw_asic = float(cfg.mw)  # MW whose ASICs can run (not converted)
        self.on = True
        self.ph_per_mw = float(bitcoin.ph_per_mw(cfg.efficiency_j_per_th))
        self.hashcost = float(bitcoin.hashcost(cfg.efficiency_j_per_th, cfg.power_usd_per_mwh))
        self.day_revenue = 0.0
        self.day_mw_on = 0.0

    @classmethod
    def check(cls, key, section, cfg):
        super().check(key, section, cfg)
        net = getattr(cfg, "bitcoin", None)
        if net is None or not net.enabled:
            raise ConfigError(f"{key}.kind", section.kind, "a miner needs the Bitcoin network",
                              "bitcoin.enabled is false")

    @property
    def mw_on(self) -> float:
        """MW whose ASICs run now."""
        return self.mw_asic if self.on else 0.0

    @property
    def hashrate_eh_s(self) -> float:
        """The sites' hashrate, EH/s: ``mw_on * ph_per_mw / 1000``."""
        return self.mw_on * self.ph_per_mw / 1000.0

    def remove(self, mw: float) -> None:
        """Take ``mw`` MW of ASICs out for good (their site is being converted)."""
        was = self.hashrate_eh_s
        self.mw_asic = max(self.mw_asic - mw, 0.0)
        if self.hashrate_eh_s != was:
            self.firm.model.bitcoin.hashrate_changed()

    def book_day(self, outcome) -> None:
        """Run the ASICs if the hashprice covers the hashcost; book the day's mining revenue
        ``hashprice * ph_per_mw * MW`` and power ``24 * power_usd_per_mwh * MW``."""
        net = self.firm.model.bitcoin
        hashprice = net.hashprice
        on = hashprice >= self.hashcost
        if on != self.on and self.mw_asic > 0:
            self.on = on
            what = "asics_on" if on else "asics_off"
            self.firm.model.log(self.firm, what, f"{self.mw_asic:.0f} MW: hashprice "
                                f"{hashprice:.2f} vs hashcost {self.hashcost:.2f} USD/PH/day",
                                self.mw_asic)
            net.hashrate_changed()
        self.on = on
        mw = self.mw_on
        self.day_mw_on = mw
        self.day_revenue = hashprice * self.ph_per_mw * mw
        ledger = self.firm.ledger
        ledger.book("revenue_usd", self.day_revenue)
        ledger.book("serving_cost_usd", 24.0 * self.cfg.power_usd_per_mwh * mw)


@dataclasses.dataclass
class Contract:
    """A long-term sale of ``gpus`` GPUs to ``lab`` at ``price`` USD per GPU-hour from
    ``start`` to ``end`` (days); ``due`` is the amount accrued since the last payment."""

    lab: Any
    gpus: float
    price: float
    start: float
    end: float
    due: float = 0.0
    paid_until: float = 0.0


class Host(Component):
    """AI data halls converted from mining sites, and the GPU-hours they sell (see the module
    doc)."""

    role = "host"
    rule_kind = "hosting"

    @dataclasses.dataclass
    class Config:
        hall_capex_usd_per_mw: float = param(3.5e6, 0, 1e9, unit="USD/MW",
                                             doc="AI data hall built on a mining site")
        conversion_days: float = param(180.0, 0, 3650, unit="days", doc="start to hosting")
        gpus_per_mw: float = param(700.0, 0, 1e5, lo_open=True, unit="GPUs/MW",
                                   doc="H100-equivalents a MW of hall powers")
        gpu_price_usd: float = param(25_000.0, 0, 1e8, unit="USD/GPU",
                                     doc="price of a GPU the host buys for a hall")
        gpu_depreciation_per_year: float = param(0.2, 0, 1, unit="1/year",
                                                 doc="share of GPUs retired a year")
        contract_lab: str = param("", doc="firm a converted hall is contracted to ('' for "
                                          "none: the compute market)")
        contract_years: float = param(5.0, 0, 50, lo_open=True, unit="years",
                                      doc="term of a contract")
        contract_share: float = param(1.0, 0, 1, doc="share of a new hall's GPUs contracted")
        contract_price_usd_per_gpu_hour: float = param(
            0.0, 0, 1e4, unit="USD/GPU-hour",
            doc="contract price (0: the compute market's last price at signing)")
        hosting: dict[str, Any] = param({"rule": "none"}, doc="hosting rule: conversions")

    def __init__(self, firm, cfg):
        super().__init__(firm, cfg)
        self.mw_hosting = 0.0
        self.mw_converting = 0.0
        self.gpus = 0.0
        self.contracts: list[Contract] = []
        self.market_gpus = 0.0  # GPUs sold at the last compute-market clearing, per hour
        self.market_price = 0.0
        self.day_revenue = 0.0
        self._daily = daily_retirement(cfg.gpu_depreciation_per_year)

    @classmethod
    def check(cls, key, section, cfg):
        super().check(key, section, cfg)
        lab = section.contract_lab
        if lab and (lab not in cfg.firms or cfg.firms[lab].kind == "miner_host"):
            labs = [n for n, f in cfg.firms.items() if f.kind != "miner_host"]
            raise ConfigError(f"{key}.contract_lab", lab, f"a firm that buys compute: "
                              f"{', '.join(labs) or 'none'} (or '' for none)", "not such a firm")

    # ----------------------------------------------------------------- derived figures
    @property
    def capex_per_mw(self) -> float:
        """USD to convert a MW: ``hall_capex_usd_per_mw + gpus_per_mw * gpu_price_usd``."""
        c = self.cfg
        return c.hall_capex_usd_per_mw + c.gpus_per_mw * c.gpu_price_usd

    @property
    def power_per_gpu_hour(self) -> float:
        """USD of power a GPU-hour uses: ``power_usd_per_mwh / gpus_per_mw``."""
        return self.firm.miner.cfg.power_usd_per_mwh / self.cfg.gpus_per_mw

    @property
    def mw_convertible(self) -> float:
        """MW still convertible: ``ai_suitable_share * mw`` less what is hosting or converting."""
        m = self.firm.miner.cfg
        return max(m.ai_suitable_share * m.mw - self.mw_hosting - self.mw_converting, 0.0)

    @property
    def contracted_gpus(self) -> float:
        return float(sum(c.gpus for c in self.contracts))

    def expected_price(self) -> float:
        """The GPU-hour price the host expects: its contract price if set, else the compute
        market's last price (NaN without a market or before its first trade)."""
        if self.cfg.contract_lab and self.cfg.contract_price_usd_per_gpu_hour > 0:
            return float(self.cfg.contract_price_usd_per_gpu_hour)
        market = self.firm.model.compute
        return float(market.last_price) if market is not None else math.nan

    def view(self) -> HostView:
        miner = self.firm.miner
        return HostView(
            name=self.firm.name, hashprice=float(self.firm.model.bitcoin.hashprice),
            efficiency_j_per_th=miner.cfg.efficiency_j_per_th,
            power_usd_per_mwh=miner.cfg.power_usd_per_mwh, gpus_per_mw=self.cfg.gpus_per_mw,
            capex_per_mw=self.capex_per_mw, conversion_days=self.cfg.conversion_days,
            mw_mining=miner.mw_asic, mw_hosting=self.mw_hosting,
            mw_converting=self.mw_converting, mw_convertible=self.mw_convertible,
            hosting_price=self.expected_price(), free_funds_usd=self.firm.ledger.funds().free)

    # ----------------------------------------------------------------- conversions
    def start(self) -> None:
        if math.isfinite(self.rule.review_days):
            self.firm.process(self._reviews())

    def _reviews(self):
        firm = self.firm
        ctx = firm.context("hosting")
        while True:
            yield firm.env.timeout(self.rule.review_days)
            mw = min(self.rule.convert(self.view(), ctx), self.mw_convertible)
            mw = firm.ledger.affordable(mw, self.capex_per_mw, "conversion")
            if mw > 0:
                self.convert(mw)

    def convert(self, mw: float) -> None:
        """Start converting ``mw`` MW: pay ``mw * capex_per_mw`` now, take the ASICs off; the
        MW hosts ``mw * gpus_per_mw`` GPUs ``conversion_days`` later."""
        firm = self.firm
        cost = mw * self.capex_per_mw
        firm.ledger.book("capex_usd", cost)
        firm.miner.remove(mw)
        self.mw_converting += mw
        firm.model.log(firm, "conversion_start", f"{mw:.0f} MW for {cost:,.0f} USD, ready in "
                       f"{self.cfg.conversion_days:g} days", mw)
        firm.process(self._conversion(mw))

    def _conversion(self, mw: float):
        firm = self.firm
        yield firm.env.timeout(self.cfg.conversion_days)
        self.mw_converting -= mw
        self.mw_hosting += mw
        gpus = mw * self.cfg.gpus_per_mw
        self.gpus += gpus
        firm.model.log(firm, "conversion_done", f"{mw:.0f} MW hosting {gpus:.0f} GPUs", mw)
        if self.cfg.contract_lab:
            self._sign(gpus * self.cfg.contract_share)

    def _sign(self, gpus: float) -> None:
        """A contract with ``contract_lab`` for ``gpus`` GPUs over ``contract_years``, at
        ``contract_price_usd_per_gpu_hour`` (0: the compute market's last price)."""
        firm = self.firm
        lab = firm.model.firms.get(self.cfg.contract_lab)
        price = self.cfg.contract_price_usd_per_gpu_hour or self.expected_price()
        if gpus <= 0 or lab is None or not lab.alive or lab.renter is None \
                or not math.isfinite(price) or price <= 0:
            return
        days = 365.0 * self.cfg.contract_years
        now = firm.env.now
        lab.renter.add_contract(host=firm.name, gpus=gpus, price_usd_per_gpu_hour=price,
                                days=days)
        self.contracts.append(Contract(lab=lab, gpus=gpus, price=price, start=now,
                                       end=now + days, paid_until=now))
        firm.model.log(firm, "contract", f"{lab.name}: {gpus:.0f} GPUs "
                       f"({gpus / self.cfg.gpus_per_mw:.0f} MW) at {price:.3f} USD/GPU-hour "
                       f"for {self.cfg.contract_years:g} years", price)

    # ----------------------------------------------------------------- the compute market
    def compute_asks(self, period_days: int) -> tuple[np.ndarray, np.ndarray]:
        """The GPUs no contract holds, offered for the period at their power cost a GPU-hour."""
        free = max(self.gpus - self.contracted_gpus, 0.0)
        return (np.array([self.power_per_gpu_hour]),
                np.array([free * 24.0 * period_days]))

    def compute_sold(self, gpu_hours: float, price: float, period_days: int) -> None:
        """GPU-hours sold at the last clearing: that many GPUs an hour, paid daily, until the
        next clearing."""
        self.market_gpus = gpu_hours / (24.0 * period_days) if period_days > 0 else 0.0
        self.market_price = float(price) if gpu_hours > 0 else 0.0

    # ----------------------------------------------------------------- the day
    def book_day(self, outcome) -> None:
        """Book the day's hosting revenue (contracts at their price, GPUs sold in the market at
        its price) and the power the GPUs use; pay contracts every :data:`PAYMENT_DAYS`."""
        firm = self.firm
        now = firm.env.now
        revenue = self.market_gpus * 24.0 * self.market_price
        used = self.market_gpus
        for c in list(self.contracts):
            if not c.lab.alive or now >= c.end:
                self._close(c, "lab exited" if not c.lab.alive else "term ended")
                continue
            amount = c.gpus * 24.0 * c.price
            c.due += amount
            revenue += amount
            used += c.gpus
            if now - c.paid_until >= PAYMENT_DAYS - 1e-9:
                self._pay(c)
        self.day_revenue = revenue
        firm.ledger.book("compute_sales_usd", revenue)  # GPU-hours sold, as a giant's cloud
        firm.ledger.book("serving_cost_usd", used * 24.0 * self.power_per_gpu_hour)

    def _pay(self, c: Contract) -> None:
        self.firm.model.log(self.firm, "contract_payment",
                            f"{c.lab.name}: {c.due:,.0f} USD for {c.due / c.price:,.0f} "
                            f"GPU-hours at {c.price:.3f}", c.due)
        c.due, c.paid_until = 0.0, self.firm.env.now

    def _close(self, c: Contract, why: str) -> None:
        if c.due > 0:
            self._pay(c)
        self.contracts.remove(c)
        self.firm.model.log(self.firm, "contract_end", f"{c.lab.name}: {why}", c.gpus)

    def depreciate(self) -> None:
        lost = self.gpus * self._daily
        if lost > 0:
            self.gpus -= lost
            self.firm.ledger.book("depreciation_usd", lost * self.cfg.gpu_price_usd)

    def after_day(self) -> None:
        if self.firm.ledger.exhausted():
            self.firm.exit("cannot pay: cash and backing exhausted")
