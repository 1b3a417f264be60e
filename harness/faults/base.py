"""The fault protocol, the registry by name, and what a fault may touch (``FaultEnv``).

A fault is built from a scheduled fault and the environment, then ``inject()``-ed and
``heal()``-ed. ``heal`` is idempotent and safe on a fault that never landed. Before a fault is
applied, its ``journal_entry()`` is written to disk so that a later process can heal it with
``heal_entry()`` even if this one was killed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from harness.errors import HarnessError
from harness.schedule import ScheduledFault
from harness.targets import Topology
from harness.targets.base import ProcessControl

__all__ = ["Landing", "Fault", "FaultEnv", "FaultError", "FAULTS", "BACKEND_FAULTS", "register", "build_fault", "HEALERS", "load_fault_kinds"]


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
    backend: str = "local"  # picks a backend's own implementation of a kind, if it registered one
    market: Any = None  # harness.market.MarketFeed publishing this run's prices (price shocks move it)
    topology: Topology | None = None  # the target's; needed by faults on links (a partition's links)

    def margin_link(self) -> str | None:
        """The target's UM path whose slowness or loss must halt UM; None when it names none (then
        no fault expects a halt)."""
        if self.topology is None or "margin_link" not in self.topology.roles:
            return None
        return self.topology.role("margin_link")

    def loses_margin(self, services: Iterable[str]) -> bool:
        """Losing ``services`` must halt UM: the margin side of the margin link goes, the matching
        engine calling it stays."""
        if (link := self.margin_link()) is None or self.topology is None:
            return False
        engine, margin = self.topology.ends(link)
        gone = set(services)
        return margin in gone and engine not in gone


class Fault(Protocol):
    spec: ScheduledFault

    def inject(self) -> Landing: ...
    def heal(self) -> None: ...
    def journal_entry(self) -> dict[str, Any]: ...
    def expect_um_halt(self) -> bool: ...
    def describe(self) -> str: ...


FAULTS: dict[str, Callable[[ScheduledFault, FaultEnv], Fault]] = {}
# backend -> kind -> factory: a backend's own way to apply a kind (a container pause is not SIGSTOP)
BACKEND_FAULTS: dict[str, dict[str, Callable[[ScheduledFault, FaultEnv], Fault]]] = {}
# journal entry "heal" kind -> function healing it from the entry alone (for leftovers)
HEALERS: dict[str, Callable[[dict[str, Any]], None]] = {}


def register(*kinds: str, backend: str | None = None) -> Callable[[Any], Any]:
    """Register a fault for every backend, or (``backend=``) only for that one, taking precedence."""

    def add(cls: Any) -> Any:
        table = FAULTS if backend is None else BACKEND_FAULTS.setdefault(backend, {})
        for kind in kinds:
            table[kind] = cls
        return cls

    return add


def load_fault_kinds() -> None:
    """Importing the fault modules registers their faults and healers."""
    from harness.faults import containers, links, process, target  # noqa: F401


def build_fault(spec: ScheduledFault, env: FaultEnv) -> Fault:
    load_fault_kinds()
    try:
        factory = BACKEND_FAULTS.get(env.backend, {}).get(spec.kind) or FAULTS[spec.kind]
    except KeyError:
        raise FaultError(f"fault {spec.id}: kind {spec.kind!r} is not supported on this backend") from None
    return factory(spec, env)
