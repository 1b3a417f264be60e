"""What a target system is to the harness: plain values and one small protocol.

A target (umref, or a user's own UM platform) describes itself with these values; the harness
validates scenarios against them and never imports the target. A target package depends on this
module only (the protocol it implements), and registers itself in the ``umchaos.targets``
entry-point group (see ``harness.targets``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

__all__ = ["BugSwitch", "Topology", "TargetInfo", "TargetSystem"]


def _split(link: str) -> tuple[str, str]:
    caller, _, callee = link.partition("->")
    return caller, callee


@dataclass(frozen=True)
class Topology:
    """Services, regions and links: where scenario faults may act.

    ``services`` are in start order (a service starts after the services it calls); each link is
    ``caller->callee`` and may be routed through a proxy; ``um_only`` are the services only UM
    needs (spot never calls them), so that a fault confined to them must not disturb spot.
    """

    services: tuple[str, ...]
    region_of: Mapping[str, str]  # service -> region
    links: tuple[str, ...]
    um_only: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # A target's own description must hold together: a mistake here would surface as a
        # confusing scenario error far away.
        if set(self.region_of) != set(self.services):
            raise ValueError(f"region_of must name exactly the services: {sorted(self.services)}")
        if len(set(self.services)) != len(self.services):
            raise ValueError("a service is listed twice")
        for link in self.links:
            caller, callee = _split(link)
            if caller not in self.region_of or callee not in self.region_of or caller == callee:
                raise ValueError(f"link {link!r} is not caller->callee between two services")
        if unknown := sorted(set(self.um_only) - set(self.services)):
            raise ValueError(f"um_only names unknown service(s): {', '.join(unknown)}")

    @property
    def regions(self) -> tuple[str, ...]:
        return tuple(sorted(set(self.region_of.values())))

    def in_region(self, region: str) -> tuple[str, ...]:
        """The services of ``region``, in start order."""
        return tuple(s for s in self.services if self.region_of[s] == region)

    def ends(self, link: str) -> tuple[str, str]:
        """(caller, callee) of a link."""
        return _split(link)


@dataclass(frozen=True)
class BugSwitch:
    """A realistic defect the target can switch on, and the checks expected to catch it: the
    self-test counts a switch as killed only when one of these fails."""

    name: str
    killed_by: tuple[str, ...]


@runtime_checkable
class TargetSystem(Protocol):
    """A platform the harness can test, as the harness sees it.

    This first step of the seam covers the description (topology, bug switches, risk budget):
    enough to validate scenarios and plan the self-test. Starting and stopping the target on a
    backend, the price intake, the client actions of load and probes, and fetching its audit data
    still live in ``harness/backends`` and ``harness/load`` (umref's); they move here next.
    """

    @property
    def name(self) -> str: ...

    @property
    def description(self) -> str:
        """One line, shown by ``umchaos list-targets``."""
        ...

    @property
    def topology(self) -> Topology: ...

    @property
    def bug_switches(self) -> tuple[BugSwitch, ...]: ...

    @property
    def risk_defaults(self) -> Mapping[str, int | str]:
        """The risk guard's budget the target accepts (``target.risk`` keys) and its defaults."""
        ...


@dataclass(frozen=True)
class TargetInfo:
    """A target described by plain values: the simplest ``TargetSystem``."""

    name: str
    description: str
    topology: Topology
    bug_switches: tuple[BugSwitch, ...] = ()
    risk_defaults: Mapping[str, int | str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        names = [b.name for b in self.bug_switches]
        if len(set(names)) != len(names):
            raise ValueError("a bug switch is listed twice")
