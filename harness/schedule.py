"""The seeded fault timeline: plain data, printable (``--dry-run``), storable (replay).

The scenario fixes when and where each fault happens; the seed only resolves parameters given as a
range (``{min: a, max: b}``), so the same scenario and seed give the same schedule. A run folder
stores ``Schedule.to_dict()`` and replay rebuilds it with ``from_dict`` (validated again, since a
run folder is user input). Times are seconds after load starts.
"""

from __future__ import annotations

import bisect
import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, Strict, TypeAdapter, ValidationError

from harness.errors import BadInput
from harness.scenario import (
    KINDS,
    MAX_FAULTS,
    MAX_SECONDS,
    SETTLE_S,
    DrawScope,
    FaultSpec,
    RandomTimeline,
    Scenario,
    Span,
    first_overlap,
    links_touched,
    services_touched,
)
from harness.targets import DEFAULT_TARGET, TargetSystem, Topology, load_target

__all__ = ["SETTLE_S", "ScheduledFault", "Schedule", "build_schedule", "draw_timeline", "format_schedule", "expands_links"]


@dataclass(frozen=True)
class ScheduledFault:
    """One fault of a run, fully resolved: what, where, when, how long, and its scenario lines."""

    id: str  # "f1", "f2", ... in time order
    kind: str
    at_s: float
    duration_s: float | None  # None: instant (price_shock) or until the run ends (kill, power loss); a drift's: its span
    target: dict[str, Any]  # link | links | regions + direction | service | region
    params: dict[str, Any]  # numbers already drawn from their ranges
    lines: tuple[int, int]  # first and last line of its timeline entry; (0, 0) if unknown

    @property
    def end_s(self) -> float:
        return self.at_s + (self.duration_s or 0.0)


@dataclass(frozen=True)
class Schedule:
    """Everything the runner needs of the timeline, as values; ``to_dict`` is JSON-ready."""

    seed: int
    faults: tuple[ScheduledFault, ...]
    duration_s: float  # how long load flows: the whole run
    recovery_within_s: float

    def to_dict(self) -> dict[str, Any]:
        return {"seed": self.seed, "duration_s": self.duration_s, "recovery_within_s": self.recovery_within_s,
                "faults": [{"id": f.id, "kind": f.kind, "at_s": f.at_s, "duration_s": f.duration_s,
                            "target": dict(f.target), "params": dict(f.params), "lines": list(f.lines)}
                           for f in self.faults]}

    @staticmethod
    def from_dict(raw: Any, target: TargetSystem | None = None) -> Schedule:
        """The schedule a run stored, checked against ``target`` (default: the default target);
        ``BadInput`` (one line) if it is not one."""
        target = target or load_target(DEFAULT_TARGET)
        if isinstance(raw, dict) and isinstance(raw.get("faults"), list) and len(raw["faults"]) > MAX_FAULTS:
            raise BadInput(f"schedule: faults: {len(raw['faults'])} faults; a run has at most {MAX_FAULTS}")
        try:
            stored = _StoredSchedule.model_validate(raw)
        except ValidationError as exc:
            error = exc.errors()[0]
            where = ".".join(str(p) for p in error["loc"]) or "schedule"
            raise BadInput(f"schedule: {where}: {error['msg']}") from None
        faults = tuple(ScheduledFault(f.id, f.kind, f.at_s, f.duration_s, dict(f.target), dict(f.params), f.lines)
                       for f in stored.faults)
        for i, fault in enumerate(faults):
            _revalidate(fault, i, target)
        if len({f.id for f in faults}) != len(faults):
            raise BadInput("schedule: faults: two faults share an id")
        # as a whole, as a scenario's timeline is checked: an edited file must not start a fault
        # after the run, nor two faults at once on one link or service
        for i, fault in enumerate(faults):
            if fault.end_s > stored.duration_s:
                raise BadInput(f"schedule: faults.{i}: ends at {fault.end_s:g} s, after the run's "
                               f"duration_s ({stored.duration_s:g} s)")
        if found := first_overlap([(f.kind, f.target, f.at_s, f.duration_s) for f in faults], target.topology):
            i, j, shared = found
            raise BadInput(f"schedule: faults.{j}: overlaps faults.{i} ({faults[i].kind} from "
                           f"{faults[i].at_s:g} s) on {shared}")
        return Schedule(stored.seed, faults, stored.duration_s, stored.recovery_within_s)


# The longest run a scenario describes: a fault ending at the hour, an hour of recovery, settling.
MAX_RUN_S = 2 * MAX_SECONDS + SETTLE_S


class _Stored(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _StoredFault(_Stored):
    id: Annotated[str, Strict(), Field(pattern=r"^f\d+$")]
    kind: Annotated[str, Strict()]
    at_s: Annotated[float, Field(ge=0, le=MAX_SECONDS, allow_inf_nan=False)]
    duration_s: Annotated[float, Field(gt=0, le=MAX_SECONDS, allow_inf_nan=False)] | None
    target: dict[str, Any]
    params: dict[str, Any]
    lines: tuple[Annotated[int, Strict(), Field(ge=0)], Annotated[int, Strict(), Field(ge=0)]]


class _StoredSchedule(_Stored):
    seed: Annotated[int, Strict(), Field(ge=0, le=2**31 - 1)]
    faults: Annotated[tuple[_StoredFault, ...], Field(max_length=MAX_FAULTS)]
    duration_s: Annotated[float, Field(gt=0, le=MAX_RUN_S, allow_inf_nan=False)]
    recovery_within_s: Annotated[float, Field(gt=0, le=MAX_SECONDS, allow_inf_nan=False)]


_FAULT_SPEC: TypeAdapter[FaultSpec] = TypeAdapter(FaultSpec)


def _revalidate(fault: ScheduledFault, index: int, target: TargetSystem) -> None:
    """A stored fault must still be one a scenario could hold: same kinds, targets, parameter ranges."""
    entry: dict[str, Any] = {"at": fault.at_s, "fault": fault.kind, **fault.target, "params": fault.params}
    if fault.duration_s is not None:
        entry["for"] = fault.duration_s
    try:
        _FAULT_SPEC.validate_python(entry, context={"target": target})
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(p) for p in error["loc"][1:])
        raise BadInput(f"schedule: faults.{index}{'.' + where if where else ''}: "
                       f"{error['msg'].removeprefix('Value error, ')}") from None


def _draw(value: Any, rng: random.Random) -> Any:
    if not isinstance(value, Span):
        return value
    if isinstance(value.min, int) and isinstance(value.max, int):
        return rng.randint(value.min, value.max)
    return rng.uniform(value.min, value.max)


def build_schedule(scenario: Scenario, seed: int) -> Schedule:
    """The run's timeline: faults in time order, ranges drawn from ``random.Random(seed)``; for
    ``timeline: random``, the faults themselves drawn from the seed first."""
    rng = random.Random(seed)
    duration = scenario.duration if scenario.duration is not None else scenario.load.duration
    if scenario.random is not None and duration is not None:
        specs: list[tuple[Any, tuple[int, int]]] = [
            (spec, (0, 0)) for spec in draw_timeline(scenario.random, duration, scenario.recovery.within, seed,
                                                   scenario.target_system)]
    else:
        lines = scenario.fault_lines
        specs = [(spec, lines[i] if i < len(lines) else (0, 0)) for i, spec in enumerate(scenario.timeline)]
    specs.sort(key=lambda pair: pair[0].at)  # stable: equal times keep the file's order
    faults = []
    for number, (spec, where) in enumerate(specs, start=1):
        params = {name: _draw(getattr(spec.params, name), rng) for name in type(spec.params).model_fields}
        faults.append(ScheduledFault(f"f{number}", spec.fault, spec.at, spec.duration_s, spec.target, params, where))
    if duration is None:
        duration = max((f.end_s for f in faults), default=0.0) + scenario.recovery.within + SETTLE_S
    return Schedule(seed, tuple(faults), duration, scenario.recovery.within)


# ---- random timelines ----------------------------------------------------------------------------

def _random_entry(kind: str, rng: random.Random, scope: DrawScope) -> dict[str, Any]:
    """Where a fault of ``kind`` acts and with what parameters (no time yet), in scenario terms."""
    return KINDS[kind].draw(rng, scope)


# A fault is drawn again when it would overlap another on a shared link or service, or start within
# min_gap of another; after this many tries it is left out. Bounds the draw at this many tries a
# fault, MAX_FAULTS faults at most, each try O(log n): a crowded window cannot make it spin.
TRIES_PER_FAULT = 50


class _Taken:
    """The faults placed so far, indexed so that a try is checked in O(log n), not against each one:
    every start (for min_gap) and, per link or service, its faults' intervals; those never overlap
    on one link or service, so sorted by start they are sorted by end too."""

    def __init__(self, min_gap: float) -> None:
        self.min_gap = min_gap
        self.starts: list[float] = []
        self.spans: dict[str, tuple[list[float], list[float]]] = {}  # link or service -> (starts, ends)

    def fits(self, at: float, end: float, touched: set[str]) -> bool:
        i = bisect.bisect_left(self.starts, at)
        if (i < len(self.starts) and self.starts[i] - at < self.min_gap
                or i > 0 and at - self.starts[i - 1] < self.min_gap):
            return False
        for name in touched:
            starts, ends = self.spans.get(name, ([], []))
            k = bisect.bisect_right(ends, at)  # the first that ends after ``at``: the only one that can overlap
            if k < len(starts) and starts[k] < end:
                return False
        return True

    def add(self, at: float, end: float, touched: set[str]) -> None:
        bisect.insort(self.starts, at)
        for name in touched:
            starts, ends = self.spans.setdefault(name, ([], []))
            k = bisect.bisect_right(ends, at)
            starts.insert(k, at)
            ends.insert(k, end)


def draw_timeline(spec: RandomTimeline, run_s: float, recovery_s: float, seed: int,
                  target: TargetSystem) -> list[Any]:
    """Faults drawn from the seed: ``intensity`` per minute of the fault window, kinds by weight,
    never two at once on one link or service (healing one would undo part of the other), each
    validated exactly as a written timeline entry would be. At most ``MAX_FAULTS`` faults and
    ``TRIES_PER_FAULT`` tries each, whatever the parameters."""
    count = spec.fault_count(run_s, recovery_s)
    if count > MAX_FAULTS:  # validation refuses such a scenario; this guards any other caller
        raise BadInput(f"random: {count} faults in a {run_s:g} s run; a run has at most {MAX_FAULTS}")
    rng = random.Random(f"timeline-{seed}")
    window_end = run_s - recovery_s - SETTLE_S
    kinds, weights = zip(*((k, w) for k, w in spec.mix.items() if w > 0), strict=True)
    scope = spec.scope(target)
    taken = _Taken(spec.min_gap)
    drawn: list[Any] = []
    for _ in range(count):
        for _try in range(TRIES_PER_FAULT):
            kind = rng.choices(kinds, weights)[0]
            entry = {"fault": kind, **_random_entry(kind, rng, scope)}
            if "for" in entry:  # a span of its own (a drift: the market's time), kept within the window
                length: float | None = min(float(entry["for"]), window_end - spec.start)
            else:  # rounded to 0.1 s for a readable schedule, then clamped: rounding must not leave the bounds
                length = None if KINDS[kind].instant else min(
                    spec.max_fault, max(spec.min_fault, round(rng.uniform(spec.min_fault, spec.max_fault), 1)))
            latest = window_end - (length or 0.0)
            at = min(latest, max(spec.start, round(rng.uniform(spec.start, latest), 1)))
            where = {k: v for k, v in entry.items() if k not in ("fault", "params", "for")}
            touched = {*links_touched(kind, where, target.topology), *services_touched(kind, where, target.topology)}
            end = at + (length or 0.0)
            if taken.fits(at, end, touched):
                if length is not None:
                    entry["for"] = length
                # validated once placed, not on every try: a refused try costs no validation
                drawn.append(_FAULT_SPEC.validate_python({"at": at, **entry}, context={"target": target}))
                taken.add(at, end, touched)
                break
    return drawn


def expands_links(fault: ScheduledFault, topology: Topology) -> tuple[str, ...]:
    """The links a fault acts on, so the backend knows which links need a proxy."""
    return links_touched(fault.kind, fault.target, topology)


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:g}s"


def _pairs(values: Mapping[str, Any]) -> str:
    return " ".join(f"{k}={','.join(map(str, v)) if isinstance(v, list) else v}" for k, v in values.items()) or "-"


def format_schedule(schedule: Schedule) -> str:
    """A table for ``--dry-run``: one row per fault (time, duration, kind, target, params)."""
    head = (f"seed {schedule.seed}: {len(schedule.faults)} fault(s), run {_seconds(schedule.duration_s)}, "
            f"recovery within {_seconds(schedule.recovery_within_s)}")
    rows = [("id", "at", "for", "fault", "target", "params", "lines")]
    for f in schedule.faults:
        until = "until end" if f.duration_s is None and not KINDS[f.kind].instant else _seconds(f.duration_s)
        rows.append((f.id, _seconds(f.at_s), until, f.kind, _pairs(f.target), _pairs(f.params),
                     f"{f.lines[0]}-{f.lines[1]}" if f.lines[0] else "-"))
    widths = [max(len(row[c]) for row in rows) for c in range(len(rows[0]))]
    return "\n".join([head, *("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
                              for row in rows)])
