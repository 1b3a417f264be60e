"""The fault protocol, the tables of implementations and healers filled from the kinds'
registrations (``harness.scenario.faults.KINDS``), and what a fault may touch (``FaultEnv``).

A fault is built from a scheduled fault and the environment, then ``inject()``-ed and
``heal()``-ed. ``heal`` is idempotent and safe on a fault that never landed. Before a fault is
applied, its ``journal_entry()`` is written to disk so that a later process can heal it with
``heal_entry()`` even if this one was killed.
"""

from __future__ import annotations

import functools
import importlib
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from harness.errors import HarnessError
from harness.scenario import KINDS, HaltFacts
from harness.schedule import ScheduledFault
from harness.targets import Topology
from harness.targets.base import ProcessControl

__all__ = ["Landing", "Fault", "FaultBase", "FaultEnv", "FaultError", "FAULTS", "BACKEND_FAULTS", "build_fault", "HEALERS",
           "expects_um_halt", "heal_nothing", "load_fault_kinds"]


class FaultError(HarnessError):
    """A fault could not be applied or removed; says which and why."""


@dataclass(frozen=True)
class Landing:
    """Whether the fault verifiably took effect, and how we know."""

    landed: bool
    detail: str


@dataclass(frozen=True)
class FaultEnv:
    """Everything a fault may act on in one run; no globals."""

    run_id: str
    proxies: Any  # harness.faults.network.ProxyNet for this run (None if no link is proxied)
    processes: ProcessControl
    services: dict[str, str]  # service -> base URL (direct, not proxied)
    regions: dict[str, str]  # service -> region
    risk: Mapping[str, int | str]  # the risk budget in force
    backend: str = "local"  # picks the implementation the kind's registration names for this backend
    market: Any = None  # harness.market.MarketFeed publishing this run's prices (price shocks move it)
    topology: Topology | None = None  # the target's; needed by faults on links (a partition's links)


class Fault(Protocol):
    spec: ScheduledFault

    def inject(self) -> Landing: ...
    def heal(self) -> None: ...
    def journal_entry(self) -> dict[str, Any]: ...
    def expect_um_halt(self) -> bool: ...
    def describe(self) -> str: ...


@dataclass
class FaultBase:
    """What every implementation shares: its scheduled fault, its environment, and the halt the
    checks may expect, read from the kind's pure registration (never decided here)."""

    spec: ScheduledFault
    env: FaultEnv

    def expect_um_halt(self) -> bool:
        return expects_um_halt(self.spec, self.env)


def expects_um_halt(spec: ScheduledFault, env: FaultEnv) -> bool:
    """The kind's ``expects_um_halt`` for this fault in this run; no topology: nothing to expect."""
    if env.topology is None:
        return False
    facts = HaltFacts(env.topology, float(env.risk.get("p99_ms", math.inf)))
    return KINDS[spec.kind].expects_um_halt(spec.target, spec.params, facts)


FAULTS: dict[str, Callable[[ScheduledFault, FaultEnv], Fault]] = {}  # kind -> factory, kinds every backend runs
# backend -> kind -> factory: the implementation a kind's registration names for that backend
BACKEND_FAULTS: dict[str, dict[str, Callable[[ScheduledFault, FaultEnv], Fault]]] = {}
# journal entry "heal" kind -> function healing it from the entry alone (for leftovers)
HEALERS: dict[str, Callable[[dict[str, Any]], None]] = {}


def _resolve(path: str) -> Any:
    module, name = path.split(":")
    return getattr(importlib.import_module(module), name)


@functools.cache
def load_fault_kinds() -> None:
    """Fill the tables from the kinds' registrations (importing their implementations), once."""
    backends = sorted({backend for kind in KINDS.values() for backend in kind.implementations})
    for kind in KINDS.values():
        for backend, path in kind.implementations.items():
            BACKEND_FAULTS.setdefault(backend, {})[kind.name] = _resolve(path)
        if set(backends) <= set(kind.implementations):
            FAULTS[kind.name] = BACKEND_FAULTS[backends[0]][kind.name]
        HEALERS.update({heal: _resolve(path) for heal, path in kind.healers.items()})


def build_fault(spec: ScheduledFault, env: FaultEnv) -> Fault:
    load_fault_kinds()
    try:
        factory = BACKEND_FAULTS.get(env.backend, {})[spec.kind]
    except KeyError:
        raise FaultError(f"fault {spec.id}: kind {spec.kind!r} is not supported on this backend") from None
    return factory(spec, env)


def heal_nothing(entry: dict[str, Any]) -> None:
    """A fault that leaves nothing to undo (a dead process, a market move)."""
