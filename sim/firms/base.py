"""Firm: a Mesa agent assembled from components, and the kind registry.

A firm is its components (:mod:`sim.firms.components`): a :class:`Ledger` (cash and the day's
money), a :class:`GpuFleet` (GPUs serving, training and on order), a :class:`TokenSeller`
(price, quality, price reviews and reactions), a :class:`Trainer` (training runs) and a
financing component (venture rounds, or a parent's subsidy).  A *kind* (``lean_lab``,
``tech_giant``, ...) is a registered subclass of :class:`Firm` that lists its components; its
config section is the union of their ``Config`` dataclasses plus ``kind`` and ``label``, and its
checks are theirs.  Adding a kind is a list of components; adding a capability is a component.

The firm holds no decision logic of its own: components ask their rules (:mod:`sim.strategies`)
with frozen views (:mod:`sim.views`).  Every SimPy process of a firm is registered with
:meth:`Firm.process`; :meth:`Firm.exit` ends them all by ``interrupt()``.

Money (USD), booked as it happens and recorded once a day after the market clears:
``cash(t) = cash(t-1) + revenue - serving_cost - training_cost - fixed_cost - capex + funding +
subsidy``.  Depreciation is a non-cash charge against operating profit.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Generator
from typing import Any, ClassVar

import mesa
import simpy

from sim.core.params import param
from sim.core.registry import Registry
from sim.strategies import make, validate_spec
from sim.views import FirmView, RuleContext

__all__ = ["Firm", "FirmConfig", "KINDS", "kind_config", "Component"]


def _load() -> None:
    from sim.firms import kinds  # noqa: F401  (registers the kinds)


#: Kinds of firm by name; a config's ``kind`` picks one.
KINDS = Registry("firm kind", _load)


@dataclasses.dataclass
class FirmConfig:
    """What every firm's section has; each kind adds its components' fields."""

    kind: str = param(doc="the kind of firm (lean_lab, tech_giant, ...)")
    label: str = param("", doc="name shown in figures (the firm's key if empty)")


class Component:
    """A part of a firm.  ``role`` is the firm attribute it is reached by; ``Config`` the
    dataclass of the fields it adds to its kind's config section."""

    role: ClassVar[str] = ""
    #: The kind of rule the component decides with (``pricing``, ``research``, ``capacity``):
    #: its ``Config`` then has a field of that name holding the rule spec, checked by
    #: :meth:`check` and built, bound to the firm's context, as ``self.rule``.
    rule_kind: ClassVar[str | None] = None

    @dataclasses.dataclass
    class Config:
        pass

    def __init__(self, firm: Firm, cfg: Any):
        self.firm = firm
        self.cfg = cfg
        if self.rule_kind is not None:
            self.rule = make(self.rule_kind, getattr(cfg, self.rule_kind))
            self.rule.bind(firm.context(self.rule_kind))

    def start(self) -> None:
        """Start the component's SimPy processes (with :meth:`Firm.process`)."""

    def book_day(self, outcome) -> None:
        """Book the day after the market clears (revenue, costs, accruals)."""

    def after_book(self, operating_cash: float) -> None:
        """After every component booked its day (a parent's subsidy covers losses here)."""

    def depreciate(self) -> None:
        """The day's depreciation."""

    def record_day(self) -> None:
        """After the day is recorded."""

    def after_day(self) -> None:
        """Financing decisions after the day is recorded (funding rounds, exits)."""

    def on_rival_move(self, mover: Firm, kind: str) -> None:
        """A rival (``mover``) entered, changed its price or released a model (``kind``)."""

    @classmethod
    def check(cls, key: str, section: Any, cfg: Any) -> None:
        """Cross-checks of this component's fields against the whole config (the base checks
        its rule spec, with the rule's own ``check``)."""
        if cls.rule_kind is not None:
            validate_spec(cls.rule_kind, getattr(section, cls.rule_kind),
                          f"{key}.{cls.rule_kind}", cfg)


def kind_config(name: str, components: tuple[type[Component], ...]) -> type:
    """The config dataclass of a kind: :class:`FirmConfig` plus every component's fields."""
    fields: list[tuple[str, Any, dataclasses.Field]] = []
    seen: dict[str, str] = {}
    for comp in components:
        hints = typing.get_type_hints(comp.Config)
        for f in dataclasses.fields(comp.Config):
            if f.name in seen:
                raise TypeError(f"{name}: field {f.name!r} in both {seen[f.name]} and "
                                f"{comp.__name__}")
            seen[f.name] = comp.__name__
            new = dataclasses.field(metadata=f.metadata)
            if f.default is not dataclasses.MISSING:
                new.default = f.default
            if f.default_factory is not dataclasses.MISSING:
                new.default_factory = f.default_factory
            fields.append((f.name, hints[f.name], new))
    title = "".join(part.title() for part in name.split("_"))
    cls = dataclasses.make_dataclass(f"{title}Config", fields, bases=(FirmConfig,))
    cls.__doc__ = f"The config section of a ``{name}`` firm: " + ", ".join(
        c.__name__ for c in components) + "."
    cls.__module__ = __name__
    return cls


class Firm(mesa.Agent):
    """A firm built from its kind's components.

    Subclasses (the kinds) set ``components``; :func:`sim.firms.kinds` registers them with
    :data:`KINDS`.  Attributes reach the components by role (``firm.ledger``, ``firm.fleet``,
    ``firm.seller``, ``firm.trainer``, ``firm.financing``).
    """

    kind: ClassVar[str] = "firm"
    components: ClassVar[tuple[type[Component], ...]] = ()
    Config: ClassVar[type] = FirmConfig
    #: The roles a kind may lack are ``None`` on a firm without them (a miner turned host
    #: has no token seller; a lab has no mining sites).
    seller: Any = None
    fleet: Any = None
    trainer: Any = None
    financing: Any = None
    miner: Any = None
    host: Any = None
    renter: Any = None

    def __init_subclass__(cls, **kw):
        super().__init_subclass__(**kw)
        if cls.components:
            cls.Config = kind_config(cls.kind, cls.components)

    def __init__(self, model, name: str, cfg: Any):
        super().__init__(model)
        self.name = name
        self.label = cfg.label or name
        self.cfg = cfg
        self.env: simpy.Environment = model.env
        self.seeds = model.seeds.child(f"firm:{name}")
        self.alive = True
        self._processes: list[simpy.Process] = []
        self._contexts: dict[str, RuleContext] = {}
        self.parts: list[Component] = []
        for comp in self.components:
            part = comp(self, cfg)
            setattr(self, comp.role, part)
            self.parts.append(part)
        # Each daily hook, bound to the components that have it (the rest would be no-ops).
        self._hooks = {hook: [getattr(p, hook) for p in self.parts
                              if getattr(type(p), hook) is not getattr(Component, hook)]
                       for hook in ("book_day", "after_book", "depreciate", "record_day",
                                    "after_day", "on_rival_move")}

    def start(self) -> None:
        """Start every component's processes (once the firm is in the market)."""
        for part in self.parts:
            part.start()

    # ----------------------------------------------------------------- processes
    def process(self, generator: Generator) -> simpy.Process:
        """Run ``generator`` as a SimPy process of this firm: :meth:`exit` interrupts it."""
        proc = self.env.process(self._guarded(generator))
        self._processes.append(proc)
        if len(self._processes) > 64:
            self._processes = [p for p in self._processes if p.is_alive]
        return proc

    @staticmethod
    def _guarded(generator: Generator):
        try:
            return (yield from generator)
        except simpy.Interrupt:
            generator.close()
            return None

    def context(self, use: str) -> RuleContext:
        """The :class:`RuleContext` of this firm's ``use`` rule (one per use, with its own
        stream ``firm:<name>/<use>`` of the seed tree)."""
        ctx = self._contexts.get(use)
        if ctx is None:
            env = self.env
            ctx = self._contexts[use] = RuleContext(
                firm=self.name, clock=lambda: env.now, rng=self.seeds.generator(use),
                shared=self.model.shared, start=self.model.cfg.start, log=self._log)
        return ctx

    @property
    def jurisdiction(self) -> str:
        """Where the firm is, for export controls (``Ledger.Config.jurisdiction``)."""
        return self.ledger.cfg.jurisdiction

    def _log(self, kind: str, detail: str, value: float = 0.0) -> None:
        self.model.log(self, kind, detail, value)

    def view(self) -> FirmView:
        """A frozen view of this firm's own state."""
        fleet, ledger = self.fleet, self.ledger
        seller = self.seller
        financing = self.financing
        per_day, left = financing.backing() if financing is not None else (0.0, 0.0)
        return FirmView(
            name=self.name, kind=self.kind,
            price=seller.price if seller else 0.0,
            quality=seller.quality if seller else 0.0,
            marginal_cost=seller.marginal_cost if seller else 0.0,
            cost_per_gpu_hour_usd=fleet.cfg.cost_per_gpu_hour_usd if fleet else 0.0,
            tokens_per_gpu_hour=seller.tokens_per_gpu_hour if seller else 0.0,
            cash=ledger.cash,
            gpus_serving=fleet.serving if fleet else 0.0,
            gpus_training=fleet.training if fleet else 0.0,
            gpus_on_order=fleet.on_order if fleet else 0.0,
            gpu_price_usd=fleet.price_of_new_gpu() if fleet else 0.0,
            gpu_lead_days=fleet.cfg.gpu_lead_days if fleet else 0.0,
            choice_share=seller.outcome.choice_share if seller else 0.0,
            served_m_tokens=seller.outcome.served_m_tokens if seller else 0.0,
            history=ledger.history_view(),
            backing_usd_per_day=per_day,
            backing_left_usd=left,
            rationed_m_tokens=seller.outcome.rationed_m_tokens if seller else 0.0,
            # The compute market (sim/world/compute.py).
            compute_price_usd_per_gpu_hour=self.model.compute_price_for(self),
            gpu_depreciation_per_year=fleet.cfg.gpu_depreciation_per_year if fleet else 0.0,
            gpus_rented=self.renter.gpus if self.renter is not None else 0.0,
            gpus_rented_out=fleet.lent if fleet else 0.0,
            gpus_contracted=(self.renter.contracted_gpus_after(fleet.cfg.gpu_lead_days)
                             if self.renter is not None and fleet else 0.0),
        )

    # ----------------------------------------------------------------- the day's steps
    def book_day(self, outcome) -> None:
        """Booking step: every component books the day, then the financing hook runs with the
        day's operating cash (revenue less serving, training and fixed costs)."""
        for hook in self._hooks["book_day"]:
            hook(outcome)
        after = self._hooks["after_book"]
        if after:
            operating = self.ledger.flows.operating_cash_usd
            for hook in after:
                hook(operating)

    def depreciate(self) -> None:
        for hook in self._hooks["depreciate"]:
            hook()

    def record_day(self) -> None:
        for hook in self._hooks["record_day"]:
            hook()

    def after_day(self) -> None:
        for hook in self._hooks["after_day"]:
            if not self.alive:
                return
            hook()

    def on_rival_move(self, mover: Firm, kind: str) -> None:
        """Tell the components that listen that a rival moved (``PriceWarModel.announce``)."""
        for hook in self._hooks["on_rival_move"]:
            hook(mover, kind)

    def exit(self, reason: str) -> None:
        """Leave the market: end every process by ``interrupt()`` and leave the Mesa model."""
        self.alive = False
        self.model.log(self, "exit", reason, self.ledger.cash)
        for proc in self._processes:
            if proc.is_alive and proc is not self.env.active_process:
                proc.interrupt(f"{self.name} exited")
        self._processes = []
        self.model.on_exit(self)
        self.remove()
