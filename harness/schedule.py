"""The seeded fault timeline: plain data, printable (``--dry-run``), storable (replay).

The same scenario and seed give the same schedule. Times are seconds after load starts.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from harness.scenario import LINK_KINDS, Scenario
from targets.umref.config import LINKS, REGION_OF

__all__ = ["ScheduledFault", "Schedule", "build_schedule", "format_schedule", "expands_links"]

SETTLE_S = 5.0  # after recovery, before load stops


@dataclass(frozen=True)
class ScheduledFault:
    id: str
    kind: str
    at_s: float
    duration_s: float | None
    target: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    lines: tuple[int, int] = (0, 0)

    @property
    def end_s(self) -> float:
        return self.at_s + (self.duration_s or 0.0)


@dataclass(frozen=True)
class Schedule:
    seed: int
    faults: tuple[ScheduledFault, ...]
    duration_s: float
    recovery_within_s: float

    def to_dict(self) -> dict[str, Any]:
        return {"seed": self.seed, "duration_s": self.duration_s, "recovery_within_s": self.recovery_within_s,
                "faults": [{**asdict(f), "lines": list(f.lines)} for f in self.faults]}

    @staticmethod
    def from_dict(raw: dict[str, Any]) -> Schedule:
        faults = tuple(ScheduledFault(**{**f, "lines": tuple(f.get("lines", (0, 0)))}) for f in raw["faults"])
        return Schedule(int(raw["seed"]), faults, float(raw["duration_s"]), float(raw["recovery_within_s"]))


def build_schedule(scenario: Scenario, seed: int) -> Schedule:
    lines = scenario.fault_lines or tuple((0, 0) for _ in scenario.timeline)
    faults = []
    for i, spec in enumerate(sorted(range(len(scenario.timeline)), key=lambda j: scenario.timeline[j].at)):
        f = scenario.timeline[spec]
        target = {k: v for k, v in {"link": f.link, "links": list(f.links) if f.links else None,
                                    "regions": list(f.regions) if f.regions else None, "service": f.service,
                                    "region": f.region}.items() if v is not None}
        if f.fault == "partition":
            target["direction"] = f.direction
        faults.append(ScheduledFault(f"f{i + 1}", f.fault, f.at, f.for_, target, dict(f.params), lines[spec]))
    last = max((f.end_s for f in faults), default=0.0)
    duration = scenario.duration if scenario.duration is not None else last + scenario.recovery.within + SETTLE_S
    return Schedule(seed, tuple(faults), duration, scenario.recovery.within)


def expands_links(fault: ScheduledFault) -> tuple[str, ...]:
    """The links a fault acts on (so the backend knows which links need a proxy)."""
    t = fault.target
    if fault.kind in LINK_KINDS:
        return (t["link"],)
    if fault.kind != "partition":
        return ()
    if t.get("regions"):
        a, b = t["regions"]
        one_way = t.get("direction") == "one-way"

        def crosses(link: str) -> bool:
            caller, callee = (REGION_OF[s] for s in link.split("->"))
            return (caller, callee) == (a, b) or (not one_way and (caller, callee) == (b, a))

        return tuple(link for link in LINKS if crosses(link))
    chosen = list(t.get("links") or [t["link"]])
    if t.get("direction", "both") == "both":
        chosen += [f"{b}->{a}" for a, b in (link.split("->") for link in chosen) if f"{b}->{a}" in LINKS]
    return tuple(dict.fromkeys(chosen))


def format_schedule(schedule: Schedule) -> str:
    rows = [f"seed {schedule.seed}: {len(schedule.faults)} fault(s), run {schedule.duration_s:.1f} s, "
            f"recovery within {schedule.recovery_within_s:.1f} s",
            f"{'id':<4} {'at':>8} {'for':>8}  {'fault':<18} {'target':<34} params"]
    for f in schedule.faults:
        target = ", ".join(f"{k}={v}" for k, v in f.target.items())
        duration = f"{f.duration_s:.1f}s" if f.duration_s is not None else "-"
        rows.append(f"{f.id:<4} {f.at_s:>7.1f}s {duration:>8}  {f.kind:<18} {target:<34} {f.params or ''}")
    return "\n".join(rows)
