"""The scenario file's schema: the target and its risk overrides, the load, the steady state, the
timeline (written, or drawn from ``random:``), recovery, abort rules and the checks that decide
pass or fail; and the rules that tie the sections together (no two faults on one thing at once,
a run long enough for its faults to heal).

Names of bugs, links, services and regions are checked against the chosen target (values); the
target comes in the validation context, so the schema names none.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    PlainValidator,
    PrivateAttr,
    Strict,
    ValidationInfo,
    model_validator,
)

from harness.checks import CHECK_NAMES, DEFAULT_CHECKS
from harness.scenario.faults import BaseFaultSpec, FaultSpec
from harness.scenario.random_timeline import RandomTimeline
from harness.scenario.touched import first_overlap
from harness.scenario.values import (
    MAX_SECONDS,
    SETTLE_S,
    Address,
    Bounds,
    BugName,
    Model,
    Ms,
    Name,
    PositiveSeconds,
    Problem,
    Rate,
    Tag,
    Text,
    Weight,
    num,
    one_of,
    secs,
    show,
    some_weight,
    target_of,
    unique,
)
from harness.targets import DEFAULT_TARGET, TargetSystem, Topology, load_target
from harness.workload import MIX_KINDS, USER_CLASSES

MAX_FAULTS = 500
CheckName = Annotated[str, Strict(), AfterValidator(one_of(CHECK_NAMES, "check"))]


def _system(value: str, info: ValidationInfo) -> str:
    chosen = target_of(info)
    if isinstance(info.context, dict) and info.context.get("stand_in"):
        return value  # run against a stand-in (--target-file): the scenario was validated against it
    if value != chosen.name:  # only without parse_scenario's context: nothing was validated against it
        raise ValueError(f"{show(value)}: validated against target {chosen.name}; "
                         "read scenario files with load_scenario or parse_scenario")
    return value


def _decimal_pct(value: object) -> object:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(Bounds(0, 100, lo_open=True).number(value))
    if isinstance(value, str):
        try:
            Bounds(0, 100, lo_open=True).number(float(value))
        except ValueError:
            raise ValueError(f"must be a percentage above 0 and at most 100, not {show(value)}") from None
    return value


class RiskOverrides(Model):
    """Overrides of the risk guard's budget; unset keeps the target's default. The harness knows
    what each setting means; the chosen target says which it accepts (``risk_defaults``)."""

    window_ms: Ms | None = None
    p99_ms: Ms | None = None
    max_call_ms: Ms | None = None
    halt_within_ms: Ms | None = None
    heartbeat_ms: Ms | None = None
    resume_p99_ms: Ms | None = None
    healthy_for_ms: Ms | None = None
    staleness_ms: Ms | None = None
    act_within_ms: Ms | None = None
    max_deviation_pct: Annotated[str, BeforeValidator(_decimal_pct), Strict()] | None = None

    @model_validator(mode="after")
    def _hysteresis(self, info: ValidationInfo) -> RiskOverrides:
        target = target_of(info)
        given = self.model_dump(exclude_none=True)
        if given and isinstance(info.context, dict) and info.context.get("stand_in"):
            raise Problem((next(iter(given)),), f"target {target.name} runs with its own risk budget "
                                                "(the topology file's risk:); the harness cannot change it")
        for key in given:
            if key not in target.risk_defaults:
                raise Problem((key,), f"target {target.name} has no risk setting {show(key)}; it takes: "
                                      f"{', '.join(target.risk_defaults) or 'none'}")
        budget = {**target.risk_defaults, **given}
        if "resume_p99_ms" in budget and "p99_ms" in budget and int(budget["resume_p99_ms"]) > int(budget["p99_ms"]):
            field = "resume_p99_ms" if self.resume_p99_ms is not None else "p99_ms"
            raise Problem((field,), f"resume_p99_ms ({budget['resume_p99_ms']}) must not exceed p99_ms "
                                    f"({budget['p99_ms']}), or UM would resume while still breaching")
        return self


class TargetSection(Model):
    """A scenario's ``target:`` section: which installed system, where it listens, its bug
    switches and risk overrides (the system itself is a ``TargetSystem``)."""

    system: Annotated[str, Strict(), AfterValidator(_system)] = DEFAULT_TARGET  # an installed target
    host: Address = "127.0.0.1"  # where the target's services listen; not loopback: needs allow_targets
    bugs: Annotated[tuple[BugName, ...], AfterValidator(unique)] = ()
    risk: RiskOverrides = RiskOverrides()


# The vocabularies are said where the load defines them; a Literal of them validates (to a type
# checker, a str).
if TYPE_CHECKING:
    MixKind = str
    UserClass = str
else:
    MixKind = Literal[MIX_KINDS]
    UserClass = Literal[tuple(USER_CLASSES)]
DEFAULT_MIX: Mapping[MixKind, float] = {"um_order": 6, "cancel": 2, "transfer": 1, "spot_order": 3}


def _some_class(classes: dict[UserClass, float]) -> dict[UserClass, float]:
    if not any(classes.values()):
        raise ValueError("at least one user class weight must be above 0")
    return classes


class Load(Model):
    """Locust users; ``bad_key`` requests carry an invalid API key (for ``auth_fail_closed``).

    ``classes`` (weights per user class: market makers, takers, margin-transfer users, position
    changers, spot traders) replaces the one mixed ``UmTrader`` by users that each behave like one
    kind of customer; without it, ``mix`` weighs the requests of the mixed trader.
    """

    users: Annotated[int, Strict(), Field(ge=1, le=10_000)] = 20
    spawn_rate: Annotated[float, PlainValidator(Bounds(0, 10_000, lo_open=True).number)] = 20.0
    mix: Annotated[dict[MixKind, Weight], AfterValidator(some_weight)] = Field(
        default_factory=lambda: dict(DEFAULT_MIX))
    duration: PositiveSeconds | None = None  # how long load flows: the run's length
    classes: Annotated[dict[UserClass, Weight], AfterValidator(_some_class)] | None = None

    @property
    def sends_forged_keys(self) -> bool:
        """Only the mixed trader's ``bad_key`` requests carry an invalid key (no user class does)."""
        return self.classes is None and self.mix.get("bad_key", 0) > 0


class MinRate(Model):
    min: Rate


class MaxMs(Model):
    max: Annotated[float, PlainValidator(Bounds(0, 60_000, lo_open=True).number)]


class MaxRate(Model):
    max: Rate


class PhaseTolerance(Model):
    """Bounds on the load's numbers in one phase; error_rate counts unknown outcomes and 5xx (not halts)."""

    um_order_success_rate: MinRate | None = None
    spot_success_rate: MinRate | None = None
    p99_ms: MaxMs | None = None
    p50_ms: MaxMs | None = None
    error_rate: MaxRate | None = None

    def bounds(self) -> dict[str, dict[str, float]]:
        return self.model_dump(exclude_none=True)


class SteadyState(Model):
    """Top-level keys are the probe's gate and the default for ``before`` and ``after``; ``before``,
    ``during`` and ``after`` (after recovery) bound the load in each phase (check ``steady_state``).
    ``probe_rounds``: how many rounds (a UM order and a spot order, each cancelled) each probe sends."""

    probe_rounds: Annotated[int, Strict(), Field(ge=1, le=1000)] = 10
    um_order_success_rate: MinRate | None = None
    p99_ms: MaxMs | None = None
    spot_success_rate: MinRate | None = None
    before: PhaseTolerance | None = None
    during: PhaseTolerance | None = None
    after: PhaseTolerance | None = None

    def probe_gate(self) -> dict[str, dict[str, float]]:
        """What each steady-state probe must meet (before the faults, and again after recovery)."""
        return PhaseTolerance(um_order_success_rate=self.um_order_success_rate, p99_ms=self.p99_ms).bounds()

    def per_phase(self) -> dict[str, dict[str, dict[str, float]]]:
        """The tolerance of each phase, top-level keys filling ``before`` and ``after`` when unset."""
        top = PhaseTolerance(um_order_success_rate=self.um_order_success_rate, p99_ms=self.p99_ms,
                             spot_success_rate=self.spot_success_rate).bounds()
        out = {"before": self.before.bounds() if self.before else top,
               "during": self.during.bounds() if self.during else {},
               "after": self.after.bounds() if self.after else top}
        return {phase: bounds for phase, bounds in out.items() if bounds}


class Recovery(Model):
    within: PositiveSeconds = 10.0


class AbortWhen(Model):
    """When a run stops early (healed, reported ``aborted`` with the reason) rather than hammer a broken target.

    ``error_rate_above``: the share of failed or unknown requests over the last ``for`` seconds,
    counting only time outside fault windows when ``outside_faults``; ``target_process_gone``: a
    target process died that no fault killed.
    """

    error_rate_above: Rate | None = None
    for_: PositiveSeconds = Field(5.0, alias="for")
    outside_faults: Annotated[bool, Strict()] = True
    target_process_gone: Annotated[bool, Strict()] = False





@dataclass(frozen=True)
class ScenarioSource:
    """Where a scenario came from: a run stores the hash and shows the YAML lines behind a fault."""

    file: str
    sha256: str  # of the file's bytes
    lines: tuple[str, ...]
    fault_lines: tuple[tuple[int, int], ...]  # (first, last) line, 1-based, of each timeline entry

    def excerpt(self, first: int, last: int) -> str:
        return "\n".join(self.lines[max(first, 1) - 1:last])


_NO_SOURCE = ScenarioSource(file="<not from a file>", sha256="", lines=(), fault_lines=())


class Scenario(Model):
    """One scenario file: what to run, which faults when, and which checks decide pass or fail."""

    name: Name
    description: Text = ""
    tags: Annotated[tuple[Tag, ...], AfterValidator(unique)] = ()  # e.g. gate: in the pre-release gate
    seed: Annotated[int, Strict(), Field(ge=0, le=2**31 - 1)] = 0
    target: TargetSection = TargetSection()
    load: Load = Load()
    steady_state: SteadyState = SteadyState()
    timeline: Annotated[tuple[FaultSpec, ...], Field(max_length=MAX_FAULTS)] = ()
    random: RandomTimeline | None = None  # set when the file says `timeline: random`
    recovery: Recovery = Recovery()
    checks: Annotated[tuple[CheckName, ...], Field(min_length=1), AfterValidator(unique)] = DEFAULT_CHECKS
    allow_targets: tuple[Address, ...] = ()
    abort_when: AbortWhen | None = None
    duration: PositiveSeconds | None = None  # run length; default: last fault end + recovery + settle
    _source: ScenarioSource = PrivateAttr(default=_NO_SOURCE)
    _system: TargetSystem | None = PrivateAttr(default=None)

    def model_post_init(self, context: Any, /) -> None:
        if isinstance(context, dict) and isinstance(source := context.get("source"), ScenarioSource):
            self._source = source
        if isinstance(context, dict) and isinstance(target := context.get("target"), TargetSystem):
            self._system = target

    @property
    def source(self) -> ScenarioSource:
        return self._source

    @property
    def target_system(self) -> TargetSystem:
        """The target the scenario was validated against (``target.system``)."""
        return self._system or load_target(self.target.system)

    @property
    def topology(self) -> Topology:
        return self.target_system.topology

    @property
    def risk_budget(self) -> dict[str, int | str]:
        """The whole risk budget in force: the target's defaults with ``target.risk`` over them."""
        return {**self.target_system.risk_defaults, **self.target.risk.model_dump(exclude_none=True)}

    @property
    def scenario_hash(self) -> str:
        """sha256 of the scenario file's bytes (stored in every report)."""
        return self._source.sha256

    @property
    def fault_lines(self) -> tuple[tuple[int, int], ...]:
        return self._source.fault_lines

    @model_validator(mode="before")
    @classmethod
    def _random_timeline(cls, data: Any) -> Any:
        """``timeline: random`` with a ``random:`` section; the drawn faults are the schedule's."""
        if not isinstance(data, dict):
            return data
        if data.get("timeline") == "random":
            if "random" not in data:
                raise Problem(("timeline",), "`timeline: random` needs a `random:` section (mix, intensity, ...)")
            return {**data, "timeline": ()}
        if "random" in data:
            raise Problem(("random",), "`random:` draws the timeline: say `timeline: random` (not a list)")
        return data

    @model_validator(mode="after")
    def _coherent(self, info: ValidationInfo) -> Scenario:
        if None not in (self.duration, self.load.duration) and self.duration != self.load.duration:
            raise Problem(("load", "duration"), f"load.duration ({secs(self.load.duration or 0)}) differs from "
                                                f"duration ({secs(self.duration or 0)}): give one of them")
        ends = [f.at + (f.duration_s or 0.0) for f in self.timeline]
        for i, end in enumerate(ends):
            if end > MAX_SECONDS:
                raise Problem(("timeline", i), f"this fault ends at {secs(end)}, after the "
                                               f"{secs(MAX_SECONDS)} maximum")
        _refuse_overlaps(self.timeline, target_of(info).topology)
        if "auth_fail_closed" in self.checks and not self.load.sends_forged_keys:
            raise Problem(("checks",), "auth_fail_closed needs requests with forged keys to judge: "
                                       "add `bad_key` to load.mix")
        run, where = (self.duration, ("duration",)) if self.duration is not None else (self.load.duration, ("load", "duration"))
        if self.random is not None:
            if run is None:
                raise Problem(("random",), "a random timeline needs the run's length: add `duration:`")
            room = run - self.recovery.within - SETTLE_S - self.random.start
            if room < self.random.max_fault:
                raise Problem(("random",), f"no room for a fault: the run ({secs(run)}) less start, recovery.within "
                                           f"and {secs(SETTLE_S)} of settling leaves {secs(max(room, 0))}, "
                                           f"under max_fault ({secs(self.random.max_fault)})")
            if (count := self.random.fault_count(run, self.recovery.within)) > MAX_FAULTS:
                most = math.floor(MAX_FAULTS * 60 / room * 100) / 100
                raise Problem(("random",), f"intensity {num(self.random.intensity)} a minute over a "
                                           f"{secs(room)} fault window is {count} faults; a run has at most "
                                           f"{MAX_FAULTS}, as a written timeline (here: intensity {num(most)} "
                                           "at most, or a shorter duration)")
        needed = max(ends, default=0.0) + self.recovery.within
        if run is not None and run < needed:
            raise Problem(where, f"the run ({secs(run)}) ends before the last fault has healed and "
                                 f"recovery.within has passed ({secs(needed)})")
        return self


def _refuse_overlaps(timeline: Sequence[BaseFaultSpec], topology: Topology) -> None:
    if found := first_overlap([(spec.fault, spec.target, spec.at, spec.duration_s) for spec in timeline], topology):
        i, j, shared = found
        raise Problem(("timeline", j), f"overlaps timeline[{i}] ({timeline[i].fault} from "
                                       f"{secs(timeline[i].at)}) on {shared}")
