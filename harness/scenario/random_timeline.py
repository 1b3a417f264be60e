"""The ``random:`` section of ``timeline: random``: what the schedule may draw, how often and how
long; the schedule does the drawing, with the run's seed."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, PlainValidator, Strict, ValidationInfo, model_validator

from harness.scenario.faults import FAULT_KINDS, KINDS, DrawScope
from harness.scenario.values import (
    SETTLE_S,
    Bounds,
    LinkName,
    Model,
    PositiveSeconds,
    Problem,
    Seconds,
    ServiceName,
    Weight,
    one_of,
    secs,
    some_weight,
    target_of,
    unique,
)
from harness.targets import TargetSystem, Topology

FaultKind = Annotated[str, Strict(), AfterValidator(one_of(FAULT_KINDS, "fault kind"))]


class RandomTimeline(Model):
    """``timeline: random``: the faults are drawn from the seed (Jepsen's random nemesis), so one
    file explores many schedules and a seed names exactly one of them (``--dry-run`` prints it)."""

    mix: Annotated[dict[FaultKind, Weight], AfterValidator(some_weight)]
    intensity: Annotated[float, PlainValidator(Bounds(0, 60, lo_open=True).number)] = 4.0  # faults per minute
    start: Seconds = 5.0  # no fault before: the steady state is measured first
    min_fault: PositiveSeconds = 1.0  # each fault lasts from min_fault to max_fault
    max_fault: PositiveSeconds = 8.0
    min_gap: Seconds = 0.0  # between two fault starts: a schedule a reader can follow fault by fault
    links: Annotated[tuple[LinkName, ...], AfterValidator(unique)] = ()  # empty: any link
    services: Annotated[tuple[ServiceName, ...], AfterValidator(unique)] = ()  # empty: any service

    @model_validator(mode="after")
    def _sane(self, info: ValidationInfo) -> RandomTimeline:
        if self.min_fault > self.max_fault:
            raise Problem(("min_fault",), f"min_fault ({secs(self.min_fault)}) is above max_fault "
                                          f"({secs(self.max_fault)})")
        scope = self.scope(target_of(info))
        for kind, weight in self.mix.items():
            if weight > 0 and (why := KINDS[kind].undrawable(scope)):
                raise Problem(("mix", kind), why)
        return self

    def fault_count(self, run_s: float, recovery_s: float) -> int:
        """How many faults the draw tries to place (a crowded window refuses some): ``intensity``
        per minute of the fault window. Known from the parameters, so the cap is checked before
        anything is drawn."""
        return max(1, round(self.intensity * (run_s - recovery_s - SETTLE_S - self.start) / 60))

    def scope(self, target: TargetSystem) -> DrawScope:
        """What a fault drawn for this section may pick from in ``target``."""
        topology, builds = target.topology, target.builds
        return DrawScope(topology, self.links, self.services, self.power_loss_regions(topology),
                         {s: tuple(b) for s, b in builds.items() if not self.services or s in self.services})

    def power_loss_regions(self, topology: Topology) -> tuple[str, ...]:
        """Regions a power loss may hit: only those whose every service the section allows."""
        return tuple(r for r in topology.regions if not self.services
                     or all(s in self.services for s in topology.in_region(r)))
