"""Load and validate scenario files: YAML with line numbers, checked by frozen pydantic models.

Everything is validated before anything starts, and every problem a user can make becomes one
``BadInput`` line, ``file:line: what is wrong``, pointing at the YAML node that caused it, so a CI
log says where to look without a traceback. A scenario keeps its source (file, hash, text lines and
each fault's line range) so that a failing run can show the YAML behind each fault.
"""

from __future__ import annotations

import difflib
import hashlib
import ipaddress
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    PrivateAttr,
    Strict,
    ValidationError,
    ValidationInfo,
    model_validator,
)
from pydantic_core import ErrorDetails

from harness.errors import BadInput
from harness.targets import DEFAULT_TARGET, TargetSystem, Topology, load_target

try:
    from yaml import CSafeLoader as _SafeLoader
except ImportError:  # PyYAML built without libyaml: same documents, slower
    from yaml import SafeLoader as _SafeLoader  # type: ignore[assignment]

__all__ = [
    "CHECK_NAMES",
    "DEFAULT_CHECKS",
    "FAULT_KINDS",
    "LINK_KINDS",
    "MAX_FAULTS",
    "MAX_FILE_BYTES",
    "MAX_SECONDS",
    "SETTLE_S",
    "BaseFaultSpec",
    "RandomTimeline",
    "FaultSpec",
    "Scenario",
    "ScenarioSource",
    "Span",
    "first_overlap",
    "links_touched",
    "services_touched",
    "um_only",
    "load_scenario",
    "parse_duration",
    "parse_scenario",
]

M = TypeVar("M", bound=BaseModel)
MAX_FILE_BYTES = 1 << 20  # a scenario is a page of YAML; anything bigger is a mistake or an attack
MAX_SECONDS = 3600.0  # no time or duration in a scenario beyond an hour
MIN_SECONDS = 0.001  # nor below a millisecond: nothing the harness does is finer (1e-300s is a typo)
MAX_FAULTS = 500
SETTLE_S = 5.0  # after the recovery window, before load stops: the last probe sees a settled target
_MAX_NODES = 100_000  # YAML nodes with aliases expanded: bounds what validation has to walk
_MAX_DEPTH = 32  # the schema is 6 levels deep; this also stops recursive aliases

CHECK_NAMES: tuple[str, ...] = (
    "safe_halt",
    "no_erroneous_margin_calls",
    "resting_orders_preserved",
    "rollback",
    "segregation",
    "no_acked_write_lost",
    "blast_radius",
    "recovery",
    "auth_fail_closed",
    "steady_state",
)
# auth_fail_closed needs bad_key load to decide; steady_state gates on numbers, so it is asked for by name
DEFAULT_CHECKS = tuple(c for c in CHECK_NAMES if c not in ("auth_fail_closed", "steady_state"))
LINK_KINDS: tuple[str, ...] = ("latency", "bandwidth", "timeout", "reset_peer", "down")
FAULT_KINDS: tuple[str, ...] = (
    *LINK_KINDS, "partition", "kill", "pause", "region_power_loss", "clock_skew", "price_shock", "netem",
)

_DURATION = re.compile(r"([+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)\s*(ms|s|m)?")
_UNIT_S: Mapping[str, float] = {"ms": 0.001, "s": 1.0, "m": 60.0}
_LINE_BREAK = re.compile(r"\r\n|[\r\n\x85\u2028\u2029]")  # what YAML counts as a new line
_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
_HOSTNAME = re.compile(r"(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                       r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*")


class _Problem(ValueError):
    """A validation error that knows which field below the validated model it is about."""

    def __init__(self, loc: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.loc = loc


def _bad(file: str, line: int, what: str) -> BadInput:
    """The one error a user sees: ``file:line: what``, on one line whatever the file name or value."""
    return BadInput(" ".join(f"{file}:{line}: {what}".splitlines()))


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e15 else f"{value:g}"


def _secs(seconds: float) -> str:
    return f"{_num(seconds)} s"


# ---- value types ---------------------------------------------------------------------------------

def parse_duration(value: object) -> float:
    """``500ms``, ``5s``, ``1.5m`` or a plain number of seconds -> seconds, from 0 to an hour."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"{_show(value)} is not a duration (use e.g. 500ms, 5s, 1.5m)")
    if isinstance(value, str):
        match = _DURATION.fullmatch(value.strip())
        if not match:
            raise ValueError(f"{_show(value)} is not a duration (use e.g. 500ms, 5s, 1.5m)")
        seconds = float(match[1]) * _UNIT_S[match[2] or "s"]
    else:
        try:
            seconds = float(value)
        except OverflowError:
            seconds = math.inf
    if math.isnan(seconds):
        raise ValueError(f"{_show(value)} is not a duration (use e.g. 500ms, 5s, 1.5m)")
    if seconds < 0:
        raise ValueError(f"duration {_show(value)} is negative")
    if 0 < seconds < MIN_SECONDS:
        raise ValueError(f"duration {_show(value)} is under {_num(MIN_SECONDS * 1000)} ms (0, or at least 1ms)")
    if seconds > MAX_SECONDS:
        raise ValueError(f"duration {_show(value)} is over the {_secs(MAX_SECONDS)} maximum")
    return seconds


def _positive(seconds: float) -> float:
    if seconds <= 0:
        raise ValueError("must be longer than 0 s")
    return seconds


Seconds = Annotated[float, BeforeValidator(parse_duration)]
PositiveSeconds = Annotated[float, BeforeValidator(parse_duration), AfterValidator(_positive)]


@dataclass(frozen=True)
class Span:
    """A fault parameter given as ``{min: a, max: b}``: the schedule draws it with the run's seed."""

    min: int | float
    max: int | float


@dataclass(frozen=True)
class _Bounds:
    """The range of a number; checks plain numbers and ``{min, max}`` spans alike."""

    lo: float
    hi: float
    lo_open: bool = False
    hi_open: bool = False

    def describe(self) -> str:
        return (f"{'above' if self.lo_open else 'at least'} {_num(self.lo)} and "
                f"{'below' if self.hi_open else 'at most'} {_num(self.hi)}")

    def number(self, value: object) -> int | float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"must be a number, not {_show(value)}")
        above = value > self.lo if self.lo_open else value >= self.lo
        below = value < self.hi if self.hi_open else value <= self.hi
        if not (above and below):  # NaN fails both
            raise ValueError(f"must be {self.describe()}, not {_show(value)}")
        return value

    def number_or_span(self, value: object) -> int | float | Span:
        if not isinstance(value, dict):
            return self.number(value)
        if set(value) != {"min", "max"}:
            raise ValueError("a range is written {min: a, max: b}")
        low, high = self.number(value["min"]), self.number(value["max"])
        if low > high:
            raise ValueError(f"range min {_num(low)} is above its max {_num(high)}")
        return Span(low, high)


def _one_of(known: Sequence[str], what: str, owner: str = "") -> Callable[[str], str]:
    def check(value: str) -> str:
        if value in known:
            return value
        close = difflib.get_close_matches(value, known, n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"known: {', '.join(known) or 'none'}"
        raise ValueError(f"unknown {what} {_show(value)}{owner}; {hint}")

    return check


def _target(info: ValidationInfo) -> TargetSystem:
    """The target the scenario is validated against: the context's (``parse_scenario`` puts the
    one ``target.system`` names there), else the default target."""
    target = info.context.get("target") if isinstance(info.context, dict) else None
    return target if isinstance(target, TargetSystem) else load_target(DEFAULT_TARGET)


def _of_target(what: str, names: Callable[[TargetSystem], Sequence[str]]) -> Callable[[str, ValidationInfo], str]:
    """A name checked against the chosen target's topology, not any one target's."""
    def check(value: str, info: ValidationInfo) -> str:
        target = _target(info)
        return _one_of(names(target), what, f" of target {target.name}")(value)

    return check


def _system(value: str, info: ValidationInfo) -> str:
    chosen = _target(info)
    if isinstance(info.context, dict) and info.context.get("stand_in"):
        return value  # run against a stand-in (--target-file): the scenario was validated against it
    if value != chosen.name:  # only without parse_scenario's context: nothing was validated against it
        raise ValueError(f"{_show(value)}: validated against target {chosen.name}; "
                         "read scenario files with load_scenario or parse_scenario")
    return value


def _unique(items: tuple[Any, ...]) -> tuple[Any, ...]:
    for i, item in enumerate(items):
        if item in items[:i]:
            raise _Problem((i,), f"{_show(item)} is listed twice")
    return items


def _name(value: str) -> str:
    if not _NAME.fullmatch(value):
        raise ValueError(f"{_show(value)}: a name is lowercase letters, digits and '-', at most 64 "
                         "(it names the report folder)")
    return value


def _address(value: str) -> str:
    """``host``, ``host:port`` or ``[v6]:port``, where host is an IP address or a DNS name."""
    match = re.fullmatch(r"\[([0-9A-Fa-f:.]+)\](?::(\d{1,5}))?|([^:\[\]]+)(?::(\d{1,5}))?", value)
    if match is None:
        try:
            ipaddress.IPv6Address(value)
            return value
        except ValueError:
            raise ValueError(f"{_show(value)} is not host, host:port or [v6]:port") from None
    host, port = (match[1], match[2]) if match[1] else (match[3], match[4])
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if match[1] or not _HOSTNAME.fullmatch(host):
            raise ValueError(f"{_show(host)} is neither an IP address nor a host name") from None
    if port is not None and not 1 <= int(port) <= 65535:
        raise ValueError(f"port {port} is not from 1 to 65535")
    return value


Text = Annotated[str, Strict()]
CheckName = Annotated[str, Strict(), AfterValidator(_one_of(CHECK_NAMES, "check"))]
BugName = Annotated[str, Strict(), AfterValidator(
    _of_target("bug switch", lambda t: [b.name for b in t.bug_switches]))]
LinkName = Annotated[str, Strict(), AfterValidator(_of_target("link (caller->callee)", lambda t: t.topology.links))]
ServiceName = Annotated[str, Strict(), AfterValidator(_of_target("service", lambda t: t.topology.services))]
RegionName = Annotated[str, Strict(), AfterValidator(_of_target("region", lambda t: t.topology.regions))]
Address = Annotated[str, Strict(), AfterValidator(_address)]
Tag = Annotated[str, Strict(), AfterValidator(_name)]
Ms = Annotated[int, Strict(), Field(ge=1, le=3_600_000)]
Param = int | float | Span
DelayMs = Annotated[Param, PlainValidator(_Bounds(0, 3_600_000).number_or_span)]
RateKbps = Annotated[Param, PlainValidator(_Bounds(0, 10_000_000, lo_open=True).number_or_span)]
OffsetMs = Annotated[Param, PlainValidator(_Bounds(-3_600_000, 3_600_000).number_or_span)]
LossPct = Annotated[Param, PlainValidator(_Bounds(0, 100).number_or_span)]
MovePct = Annotated[Param, PlainValidator(_Bounds(-90, 90, lo_open=True, hi_open=True).number_or_span)]
Rate = Annotated[float, PlainValidator(_Bounds(0, 1).number)]
Weight = Annotated[float, PlainValidator(_Bounds(0, 1_000_000).number)]


class Model(BaseModel):
    """Frozen, and an unknown field is an error (a typo must not silently become a default)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# ---- target, load, steady state ------------------------------------------------------------------

def _decimal_pct(value: object) -> object:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(_Bounds(0, 100, lo_open=True).number(value))
    if isinstance(value, str):
        try:
            _Bounds(0, 100, lo_open=True).number(float(value))
        except ValueError:
            raise ValueError(f"must be a percentage above 0 and at most 100, not {_show(value)}") from None
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
        target = _target(info)
        given = self.model_dump(exclude_none=True)
        if given and isinstance(info.context, dict) and info.context.get("stand_in"):
            raise _Problem((next(iter(given)),), f"target {target.name} runs with its own risk budget "
                                                 "(the topology file's risk:); the harness cannot change it")
        for key in given:
            if key not in target.risk_defaults:
                raise _Problem((key,), f"target {target.name} has no risk setting {_show(key)}; it takes: "
                                       f"{', '.join(target.risk_defaults) or 'none'}")
        budget = {**target.risk_defaults, **given}
        if "resume_p99_ms" in budget and "p99_ms" in budget and int(budget["resume_p99_ms"]) > int(budget["p99_ms"]):
            field = "resume_p99_ms" if self.resume_p99_ms is not None else "p99_ms"
            raise _Problem((field,), f"resume_p99_ms ({budget['resume_p99_ms']}) must not exceed p99_ms "
                                     f"({budget['p99_ms']}), or UM would resume while still breaching")
        return self


class Target(Model):
    system: Annotated[str, Strict(), AfterValidator(_system)] = DEFAULT_TARGET  # an installed target
    host: Address = "127.0.0.1"  # where the target's services listen; not loopback: needs allow_targets
    bugs: Annotated[tuple[BugName, ...], AfterValidator(_unique)] = ()
    risk: RiskOverrides = RiskOverrides()


MixKind = Literal["um_order", "cancel", "transfer", "spot_order", "leverage", "bad_key"]
DEFAULT_MIX: Mapping[MixKind, float] = {"um_order": 6, "cancel": 2, "transfer": 1, "spot_order": 3}


def _some_weight(mix: dict[MixKind, float]) -> dict[MixKind, float]:
    if not any(mix.values()):
        raise ValueError("at least one weight must be above 0")
    return mix


UserClass = Literal["market_maker", "taker", "margin_transfer", "position_changer", "spot_trader"]


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
    spawn_rate: Annotated[float, PlainValidator(_Bounds(0, 10_000, lo_open=True).number)] = 20.0
    mix: Annotated[dict[MixKind, Weight], AfterValidator(_some_weight)] = Field(
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
    max: Annotated[float, PlainValidator(_Bounds(0, 60_000, lo_open=True).number)]


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


# ---- faults --------------------------------------------------------------------------------------

class NoParams(Model):
    pass


class LatencyParams(Model):
    latency_ms: DelayMs
    jitter_ms: DelayMs = 0


class BandwidthParams(Model):
    rate_kbps: RateKbps


class ResetPeerParams(Model):
    timeout_ms: DelayMs = 0


class ClockSkewParams(Model):
    offset_ms: OffsetMs


def _upper(value: Param) -> float:
    return float(value.max if isinstance(value, Span) else value)


class NetemParams(Model):
    """A host's network card misbehaving (``tc netem``): every packet it sends is delayed, and a
    share of them lost. Needs hosts with their own network stack: the docker backend."""

    delay_ms: DelayMs = 0
    jitter_ms: DelayMs = 0
    loss_pct: LossPct = 0

    @model_validator(mode="after")
    def _does_something(self) -> NetemParams:
        if _upper(self.delay_ms) <= 0 and _upper(self.loss_pct) <= 0:
            raise ValueError("netem needs delay_ms or loss_pct above 0")
        return self


class PriceShockParams(Model):
    asset: Literal["BTC", "ETH"]
    move_pct: MovePct


class BaseFaultSpec(Model):
    """What every timeline entry has; each kind adds its target, its parameters and maybe ``for``."""

    fault: str
    at: Seconds

    @property
    def duration_s(self) -> float | None:
        """How long it lasts; None: an instant event, or (kill, power loss) until the run ends."""
        duration: float | None = getattr(self, "for_", None)
        return duration

    @property
    def target(self) -> dict[str, Any]:
        """Where it acts, as plain JSON-able data: link / links / regions + direction / service / region."""
        return {}


class _LinkFault(BaseFaultSpec):
    link: LinkName
    for_: PositiveSeconds = Field(alias="for")

    @property
    def target(self) -> dict[str, Any]:
        return {"link": self.link}


class LatencyFault(_LinkFault):
    fault: Literal["latency"]
    params: LatencyParams


class BandwidthFault(_LinkFault):
    fault: Literal["bandwidth"]
    params: BandwidthParams


class TimeoutFault(_LinkFault):
    fault: Literal["timeout"]
    params: NoParams = NoParams()


class ResetPeerFault(_LinkFault):
    fault: Literal["reset_peer"]
    params: ResetPeerParams = ResetPeerParams()


class DownFault(_LinkFault):
    fault: Literal["down"]
    params: NoParams = NoParams()


class PartitionFault(BaseFaultSpec):
    fault: Literal["partition"]
    links: Annotated[tuple[LinkName, ...], Field(min_length=1), AfterValidator(_unique)] | None = None
    regions: tuple[RegionName, RegionName] | None = None
    direction: Literal["both", "one-way"] = "both"
    params: NoParams = NoParams()
    for_: PositiveSeconds = Field(alias="for")

    @model_validator(mode="after")
    def _one_target(self) -> PartitionFault:
        if (self.links is None) == (self.regions is None):
            raise ValueError("a partition needs either `links: [caller->callee, ...]` or `regions: [A, B]`")
        if self.regions is not None and self.regions[0] == self.regions[1]:
            raise _Problem(("regions",), "regions must be two different regions")
        return self

    @property
    def target(self) -> dict[str, Any]:
        where = {"links": list(self.links)} if self.links is not None else {"regions": list(self.regions or ())}
        return {**where, "direction": self.direction}


class _ServiceFault(BaseFaultSpec):
    service: ServiceName

    @property
    def target(self) -> dict[str, Any]:
        return {"service": self.service}


class KillFault(_ServiceFault):
    fault: Literal["kill"]
    params: NoParams = NoParams()
    for_: PositiveSeconds | None = Field(None, alias="for")  # given: restarted when it ends


class PauseFault(_ServiceFault):
    fault: Literal["pause"]
    params: NoParams = NoParams()
    for_: PositiveSeconds = Field(alias="for")


class ClockSkewFault(_ServiceFault):
    fault: Literal["clock_skew"]
    params: ClockSkewParams
    for_: PositiveSeconds = Field(alias="for")


class NetemFault(_ServiceFault):
    fault: Literal["netem"]
    params: NetemParams
    for_: PositiveSeconds = Field(alias="for")


class RegionPowerLossFault(BaseFaultSpec):
    fault: Literal["region_power_loss"]
    region: RegionName
    params: NoParams = NoParams()
    for_: PositiveSeconds | None = Field(None, alias="for")  # given: power back when it ends

    @property
    def target(self) -> dict[str, Any]:
        return {"region": self.region}


class PriceShockFault(BaseFaultSpec):
    """A market event on the target, not an infrastructure fault: instant, nothing to heal."""

    fault: Literal["price_shock"]
    params: PriceShockParams


FaultSpec = Annotated[
    LatencyFault | BandwidthFault | TimeoutFault | ResetPeerFault | DownFault | PartitionFault | KillFault
    | PauseFault | ClockSkewFault | NetemFault | RegionPowerLossFault | PriceShockFault,
    Field(discriminator="fault"),
]
_FAULT_MODELS: Mapping[str, type[BaseFaultSpec]] = {
    "latency": LatencyFault, "bandwidth": BandwidthFault, "timeout": TimeoutFault, "reset_peer": ResetPeerFault,
    "down": DownFault, "partition": PartitionFault, "kill": KillFault, "pause": PauseFault,
    "clock_skew": ClockSkewFault, "netem": NetemFault, "region_power_loss": RegionPowerLossFault, "price_shock": PriceShockFault,
}
_FIELD_ORDER = ("at", "fault", "link", "links", "regions", "direction", "service", "region", "params", "for")


def links_touched(kind: str, target: Mapping[str, Any], topology: Topology) -> tuple[str, ...]:
    """The topology's links a fault acts on: its link, a partition's links (and their reverse when
    two-way), or for a region partition every link from one region to the other (A->B only when
    one-way)."""
    if kind in LINK_KINDS:
        return (target["link"],)
    if kind != "partition":
        return ()
    one_way = target.get("direction") == "one-way"
    if "regions" in target:
        a, b = target["regions"]
        wanted = {(a, b)} if one_way else {(a, b), (b, a)}
        return tuple(link for link in topology.links
                     if tuple(topology.region_of[s] for s in topology.ends(link)) in wanted)
    chosen = list(target["links"])
    if not one_way:
        chosen += [back for link in chosen if (back := "->".join(reversed(topology.ends(link)))) in topology.links]
    return tuple(dict.fromkeys(chosen))


def services_touched(kind: str, target: Mapping[str, Any], topology: Topology) -> tuple[str, ...]:
    if kind == "region_power_loss":
        return topology.in_region(target["region"])
    return (target["service"],) if "service" in target else ()


def um_only(kind: str, target: Mapping[str, Any], topology: Topology) -> bool:
    """Does the fault touch only the UM path (a UM-only service, or a link with one at either
    end)? Spot is judged against its SLO only during such faults: during a fault on something
    spot needs too (auth, the gateway, the ledger) spot must fail closed, not keep its numbers."""
    links, services = links_touched(kind, target, topology), services_touched(kind, target, topology)
    if not links and not services:
        return False  # a market event (price_shock): not a fault of the infrastructure
    return all(s in topology.um_only for s in services) and all(
        any(end in topology.um_only for end in topology.ends(link)) for link in links)


# ---- random timelines ----------------------------------------------------------------------------

FaultKind = Annotated[str, Strict(), AfterValidator(_one_of(FAULT_KINDS, "fault kind"))]


class RandomTimeline(Model):
    """``timeline: random``: the faults are drawn from the seed (Jepsen's random nemesis), so one
    file explores many schedules and a seed names exactly one of them (``--dry-run`` prints it)."""

    mix: Annotated[dict[FaultKind, Weight], AfterValidator(_some_weight)]
    intensity: Annotated[float, PlainValidator(_Bounds(0, 60, lo_open=True).number)] = 4.0  # faults per minute
    start: Seconds = 5.0  # no fault before: the steady state is measured first
    min_fault: PositiveSeconds = 1.0  # each fault lasts from min_fault to max_fault
    max_fault: PositiveSeconds = 8.0
    min_gap: Seconds = 0.0  # between two fault starts: a schedule a reader can follow fault by fault
    links: Annotated[tuple[LinkName, ...], AfterValidator(_unique)] = ()  # empty: any link
    services: Annotated[tuple[ServiceName, ...], AfterValidator(_unique)] = ()  # empty: any service

    @model_validator(mode="after")
    def _sane(self, info: ValidationInfo) -> RandomTimeline:
        if self.min_fault > self.max_fault:
            raise _Problem(("min_fault",), f"min_fault ({_secs(self.min_fault)}) is above max_fault "
                                           f"({_secs(self.max_fault)})")
        if self.mix.get("region_power_loss", 0) > 0 and not self.power_loss_regions(_target(info).topology):
            raise _Problem(("mix", "region_power_loss"), "no region has all its services in `services:`, "
                                                         "so a region power loss would touch others")
        return self

    def fault_count(self, run_s: float, recovery_s: float) -> int:
        """How many faults the draw tries to place (a crowded window refuses some): ``intensity``
        per minute of the fault window. Known from the parameters, so the cap is checked before
        anything is drawn."""
        return max(1, round(self.intensity * (run_s - recovery_s - SETTLE_S - self.start) / 60))

    def power_loss_regions(self, topology: Topology) -> tuple[str, ...]:
        """Regions a power loss may hit: only those whose every service the section allows."""
        return tuple(r for r in topology.regions if not self.services
                     or all(s in self.services for s in topology.in_region(r)))


# ---- the scenario --------------------------------------------------------------------------------

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

    name: Annotated[str, Strict(), AfterValidator(_name)]
    description: Text = ""
    tags: Annotated[tuple[Tag, ...], AfterValidator(_unique)] = ()  # e.g. gate: in the pre-release gate
    seed: Annotated[int, Strict(), Field(ge=0, le=2**31 - 1)] = 0
    target: Target = Target()
    load: Load = Load()
    steady_state: SteadyState = SteadyState()
    timeline: Annotated[tuple[FaultSpec, ...], Field(max_length=MAX_FAULTS)] = ()
    random: RandomTimeline | None = None  # set when the file says `timeline: random`
    recovery: Recovery = Recovery()
    checks: Annotated[tuple[CheckName, ...], Field(min_length=1), AfterValidator(_unique)] = DEFAULT_CHECKS
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
                raise _Problem(("timeline",), "`timeline: random` needs a `random:` section (mix, intensity, ...)")
            return {**data, "timeline": ()}
        if "random" in data:
            raise _Problem(("random",), "`random:` draws the timeline: say `timeline: random` (not a list)")
        return data

    @model_validator(mode="after")
    def _coherent(self, info: ValidationInfo) -> Scenario:
        if None not in (self.duration, self.load.duration) and self.duration != self.load.duration:
            raise _Problem(("load", "duration"), f"load.duration ({_secs(self.load.duration or 0)}) differs from "
                                                 f"duration ({_secs(self.duration or 0)}): give one of them")
        ends = [f.at + (f.duration_s or 0.0) for f in self.timeline]
        for i, end in enumerate(ends):
            if end > MAX_SECONDS:
                raise _Problem(("timeline", i), f"this fault ends at {_secs(end)}, after the "
                                                f"{_secs(MAX_SECONDS)} maximum")
        _refuse_overlaps(self.timeline, _target(info).topology)
        if "auth_fail_closed" in self.checks and not self.load.sends_forged_keys:
            raise _Problem(("checks",), "auth_fail_closed needs requests with forged keys to judge: "
                                        "add `bad_key` to load.mix")
        run, where = (self.duration, ("duration",)) if self.duration is not None else (self.load.duration, ("load", "duration"))
        if self.random is not None:
            if run is None:
                raise _Problem(("random",), "a random timeline needs the run's length: add `duration:`")
            room = run - self.recovery.within - SETTLE_S - self.random.start
            if room < self.random.max_fault:
                raise _Problem(("random",), f"no room for a fault: the run ({_secs(run)}) less start, recovery.within "
                                            f"and {_secs(SETTLE_S)} of settling leaves {_secs(max(room, 0))}, "
                                            f"under max_fault ({_secs(self.random.max_fault)})")
            if (count := self.random.fault_count(run, self.recovery.within)) > MAX_FAULTS:
                most = math.floor(MAX_FAULTS * 60 / room * 100) / 100
                raise _Problem(("random",), f"intensity {_num(self.random.intensity)} a minute over a "
                                            f"{_secs(room)} fault window is {count} faults; a run has at most "
                                            f"{MAX_FAULTS}, as a written timeline (here: intensity {_num(most)} "
                                            "at most, or a shorter duration)")
        needed = max(ends, default=0.0) + self.recovery.within
        if run is not None and run < needed:
            raise _Problem(where, f"the run ({_secs(run)}) ends before the last fault has healed and "
                                  f"recovery.within has passed ({_secs(needed)})")
        return self


def first_overlap(faults: Sequence[tuple[str, Mapping[str, Any], float, float | None]],
                  topology: Topology) -> tuple[int, int, str] | None:
    """Two faults (kind, target, at, duration; None lasts to the end) on one link or service at
    once, as (earlier index, later index, what they share): healing one would undo part of the
    other. One rule for written timelines and for a stored schedule read back by replay."""
    windows = [(at, math.inf if duration is None else at + duration,
                {*links_touched(kind, target, topology), *services_touched(kind, target, topology)})
               for kind, target, at, duration in faults]
    for j, (start, end, touched) in enumerate(windows):
        for i, (other_start, other_end, other_touched) in enumerate(windows[:j]):
            if start < other_end and other_start < end and (shared := touched & other_touched):
                return i, j, ", ".join(sorted(shared))
    return None


def _refuse_overlaps(timeline: Sequence[BaseFaultSpec], topology: Topology) -> None:
    if found := first_overlap([(spec.fault, spec.target, spec.at, spec.duration_s) for spec in timeline], topology):
        i, j, shared = found
        raise _Problem(("timeline", j), f"overlaps timeline[{i}] ({timeline[i].fault} from "
                                        f"{_secs(timeline[i].at)}) on {shared}")


# ---- YAML with line numbers ----------------------------------------------------------------------

class _Loader(_SafeLoader):
    """Safe YAML whose unreadable values (a 13th month, a 5000-digit int) report their position."""

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except (ValueError, OverflowError, TypeError) as exc:
            raise yaml.constructor.ConstructorError(None, None, f"cannot read this value: {exc}",
                                                    node.start_mark) from None


def _no_base_60(construct: Callable[[Any, yaml.ScalarNode], Any]) -> Callable[[Any, yaml.ScalarNode], Any]:
    """YAML 1.1 reads ``1:30`` as the base-60 number 90: a time that silently means something else."""
    def checked(loader: Any, node: yaml.ScalarNode) -> Any:
        if ":" in str(node.value):
            raise ValueError(f"{_show(node.value)} is a YAML 1.1 base-60 number "
                             f"({_show(construct(loader, node))}); write e.g. 90s or 1.5m, or quote it")
        return construct(loader, node)

    return checked


_Loader.add_constructor("tag:yaml.org,2002:int", _no_base_60(_SafeLoader.construct_yaml_int))
_Loader.add_constructor("tag:yaml.org,2002:float", _no_base_60(_SafeLoader.construct_yaml_float))
_STR_TAG, _MERGE_TAG = "tag:yaml.org,2002:str", "tag:yaml.org,2002:merge"
_KEY_KINDS = {f"tag:yaml.org,2002:{tag}": kind for tag, kind in (
    ("int", "a number"), ("float", "a number"), ("bool", "true/false"), ("null", "null"), ("timestamp", "a date"))}


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def _children(node: yaml.Node) -> Iterable[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return (n for pair in node.value for n in pair)
    return node.value if isinstance(node, yaml.SequenceNode) else ()


def _read_yaml(text: str, file: str) -> tuple[yaml.Node | None, Any]:
    """The document's node tree (for lines) and its data; the tree's shape is checked first."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, None
        _check_shape(node, file)  # before constructing: merge keys (<<) would look like duplicates after
        return node, loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        what = exc.problem or exc.context or "cannot be read"
        context = f" ({exc.context})" if exc.problem and exc.context else ""
        line = min(mark.line + 1, len(_LINE_BREAK.split(text))) if mark else 1  # libyaml may mark past the end
        raise _bad(file, line, f"YAML: {what}{context}") from None
    except yaml.reader.ReaderError as exc:
        line = len(_LINE_BREAK.split(text[:exc.position]))
        raise _bad(file, line, f"YAML: {str(exc).splitlines()[0]}") from None
    except (yaml.YAMLError, RecursionError) as exc:
        raise _bad(file, 1, f"YAML cannot be read: {exc.__class__.__name__}") from None
    finally:
        loader.dispose()


def _check_shape(root: yaml.Node, file: str) -> None:
    """Refuse duplicate keys (YAML would keep the last silently), deep nesting, recursive aliases,
    and alias bombs, before pydantic walks the data with aliases expanded."""
    sizes: dict[int, int] = {}

    def size(node: yaml.Node, depth: int) -> int:
        if id(node) in sizes:
            return sizes[id(node)]
        if depth > _MAX_DEPTH:
            raise _bad(file, _line(node), f"nested deeper than {_MAX_DEPTH} levels (or a recursive alias)")
        if isinstance(node, yaml.MappingNode):
            seen: dict[tuple[str, Any], int] = {}
            for key, _ in node.value:
                if isinstance(key, yaml.ScalarNode):
                    if key.tag not in (_STR_TAG, _MERGE_TAG):  # pydantic would not know its line
                        raise _bad(file, _line(key), f"key {_show(key.value)} is read as "
                                       f"{_KEY_KINDS.get(key.tag, key.tag)}; keys are names (quote it if it is one)")
                    if (key.tag, key.value) in seen:
                        raise _bad(file, _line(key), f"duplicate key {_show(key.value)} "
                                       f"(first on line {seen[(key.tag, key.value)]})")
                    seen[(key.tag, key.value)] = _line(key)
        total = min(_MAX_NODES + 1, 1 + sum(size(child, depth + 1) for child in _children(node)))
        sizes[id(node)] = total
        return total

    if size(root, 0) > _MAX_NODES:
        raise _bad(file, _line(root), f"more than {_MAX_NODES} YAML values (aliases expanded)")


def _last_line(node: yaml.Node) -> int:
    """The node's last line with content (a block collection's end mark lies past trailing comments)."""
    if isinstance(node, (yaml.MappingNode, yaml.SequenceNode)) and not node.flow_style and node.value:
        return max(_line(node), *(_last_line(child) for child in _children(node)))
    end = node.end_mark
    return end.line if end.column == 0 and end.line > node.start_mark.line else end.line + 1


def _fault_lines(root: yaml.MappingNode) -> tuple[tuple[int, int], ...]:
    timeline = next((v for k, v in root.value if isinstance(k, yaml.ScalarNode) and k.value == "timeline"), None)
    if not isinstance(timeline, yaml.SequenceNode):
        return ()
    return tuple((_line(item), _last_line(item)) for item in timeline.value)


def _node_line(root: yaml.Node, path: Sequence[str | int]) -> int:
    """The line of the deepest node on ``path`` (a mapping entry's key line, a sequence item's line)."""
    node, line = root, _line(root)
    for part in path:
        if isinstance(node, yaml.MappingNode):
            entry = next(((k, v) for k, v in node.value
                          if isinstance(k, yaml.ScalarNode) and k.value == str(part)), None)
            if entry is None:
                break
            line, node = _line(entry[0]), entry[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            node = node.value[part]
            line = _line(node)
        else:
            break
    return line


# ---- pydantic errors as one line -----------------------------------------------------------------

def _dotted(path: Sequence[str | int], top: str = "scenario") -> str:
    text = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")
    return text or top


def _fault_kind(data: Any, path: Sequence[str | int]) -> str | None:
    """The fault kind when ``path`` is a timeline entry, else None."""
    if len(path) == 2 and path[0] == "timeline" and isinstance(path[1], int) and isinstance(data, dict):
        timeline = data.get("timeline")
        if isinstance(timeline, list) and path[1] < len(timeline) and isinstance(timeline[path[1]], dict):
            kind = timeline[path[1]].get("fault")
            return kind if isinstance(kind, str) and kind in _FAULT_MODELS else None
    return None


def _takes(kind: str) -> str:
    fields = {f.alias or name for name, f in _FAULT_MODELS[kind].model_fields.items()}
    return ", ".join(name for name in _FIELD_ORDER if name in fields)


def _explain(error: ErrorDetails, data: Any, model: type[BaseModel] = Scenario,
             what: str = "scenario") -> tuple[list[str | int], str]:
    """The YAML path an error is about, and what is wrong, in the user's words."""
    loc = list(error["loc"])
    if len(loc) > 2 and loc[0] == "timeline" and isinstance(loc[1], int) and loc[2] in _FAULT_MODELS:
        del loc[2]  # the discriminator's tag, not a YAML key
    problem = (error.get("ctx") or {}).get("error")
    if isinstance(problem, _Problem):
        loc += problem.loc
    kind = error["type"]
    field, parent = (loc[-1], loc[:-1]) if loc else ("", [])
    fault = _fault_kind(data, parent)
    if kind == "union_tag_invalid":
        tag = str((error.get("ctx") or {}).get("tag"))
        close = difflib.get_close_matches(tag, FAULT_KINDS, n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"known: {', '.join(FAULT_KINDS)}"
        return [*loc, "fault"], f"{_dotted([*loc, 'fault'])}: unknown fault kind {_show(tag)}; {hint}"
    if kind == "union_tag_not_found":
        return loc, f"{_dotted(loc)}: which fault? add `fault:` (one of {', '.join(FAULT_KINDS)})"
    if kind == "extra_forbidden" and fault:
        note = " (an instant event has no duration)" if field == "for" and fault == "price_shock" else ""
        return loc, f"{_dotted(parent)}: fault {fault} takes no {_show(field)}{note}; it takes: {_takes(fault)}"
    if kind == "extra_forbidden" and parent[-1:] == ["params"] and (fault := _fault_kind(data, parent[:-1])):
        params = _FAULT_MODELS[fault].model_fields["params"].annotation
        takes = ", ".join(getattr(params, "model_fields", {})) or "no parameters"
        return loc, f"{_dotted(parent)}: fault {fault} takes no parameter {_show(field)}; it takes: {takes}"
    if kind == "extra_forbidden":
        hint = ""
        if not parent and (close := difflib.get_close_matches(str(field), list(model.model_fields), n=1)):
            hint = f"; did you mean {close[0]!r}?"
        return loc, f"{_dotted(parent, what)}: unknown field {_show(field)}{hint}"
    if kind == "missing" and isinstance(field, int):
        return parent, f"{_dotted(parent)}: needs {field + 1} items"
    if kind == "missing":
        return parent, f"{_dotted(parent)}: {f'fault {fault} ' if fault else ''}needs `{field}:`"
    if field == "[key]":
        return parent, f"{_dotted(parent[:-1])}: key {_show(parent[-1])}: {_sentence(error)}"
    return loc, f"{_dotted(loc)}: {_sentence(error)}"


def _sentence(error: ErrorDetails) -> str:
    problem = (error.get("ctx") or {}).get("error")
    if isinstance(problem, ValueError):
        return str(problem)
    msg = error["msg"][:1].lower() + error["msg"][1:]
    msg = re.sub(r" or instance of \w+| after validation", "", msg).replace("a valid tuple", "a list")
    value = error.get("input")
    return f"{msg}, not {_show(value)}" if isinstance(value, (str, int, float, type(None))) else msg


def _chosen_target(root: yaml.Node, data: dict[Any, Any], file: str) -> TargetSystem:
    """The target ``target.system`` names, loaded before the rest is validated against its topology;
    a system that is not a name is left to the schema's error."""
    section = data.get("target")
    system = section.get("system", DEFAULT_TARGET) if isinstance(section, dict) else DEFAULT_TARGET
    try:
        return load_target(system if isinstance(system, str) else DEFAULT_TARGET)
    except BadInput as exc:
        raise _bad(file, _node_line(root, ["target", "system"]), f"target.system: {exc}") from None


def read_yaml_mapping(text: str, file: str, what: str, fields: str = "") -> tuple[yaml.MappingNode, dict[Any, Any]]:
    """``text`` as a YAML mapping, its shape checked (duplicate keys, depth, alias bombs), with its
    node tree for the lines of errors."""
    root, data = _read_yaml(text, file)
    if not isinstance(root, yaml.MappingNode) or not isinstance(data, dict):
        line = _line(root) if root is not None else 1
        raise _bad(file, line, f"a {what} is a YAML mapping{fields}")
    return root, data


def validate_model(model: type[M], root: yaml.Node, data: dict[Any, Any], file: str, context: dict[str, Any],
                   what: str = "scenario") -> M:
    """``data`` validated as ``model`` (a ``what``); any problem is one ``file:line`` BadInput: the
    first error in the file, but a wrong field before a missing one (it often explains it)."""
    try:
        return model.model_validate(data, context=context)
    except ValidationError as exc:
        _, line, problem = min(((error["type"] == "missing", _node_line(root, path), why)
                                for error in exc.errors() for path, why in [_explain(error, data, model, what)]),
                               key=lambda ranked: ranked[:2])
        raise _bad(file, line, problem) from None


def read_text_file(path: Path, what: str) -> tuple[str, str]:
    """A YAML file's text and sha256; refuses anything over 1 MB before reading it whole, and what
    is not UTF-8, with the line of the first bad byte."""
    file = str(path)
    try:
        if not path.is_file():
            raise _bad(file, 1, f"not a {what} file ({'not found' if not path.exists() else 'not a regular file'})")
        with path.open("rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise _bad(file, 1, f"cannot read: {exc.strerror or exc}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise _bad(file, 1, f"over {MAX_FILE_BYTES} bytes; a {what} is at most {MAX_FILE_BYTES} bytes")
    try:
        return raw.decode("utf-8"), hashlib.sha256(raw).hexdigest()
    except UnicodeDecodeError as exc:
        line = len(_LINE_BREAK.split(raw[:exc.start].decode("utf-8")))
        raise _bad(file, line, f"not UTF-8 text (byte {exc.start})") from None


def _parse(text: str, file: str, sha256: str, stand_in: TargetSystem | None = None) -> Scenario:
    root, data = read_yaml_mapping(text, file, "scenario", " (name:, timeline:, checks:, ...)")
    source = ScenarioSource(file, sha256, tuple(_LINE_BREAK.split(text)), _fault_lines(root))
    target = stand_in or _chosen_target(root, data, file)
    return validate_model(Scenario, root, data, file,
                          {"source": source, "target": target, "stand_in": stand_in is not None})


def parse_scenario(text: str, file: str) -> Scenario:
    """A validated scenario from YAML text; ``file`` names it in errors and in its source."""
    data = text.encode("utf-8", "surrogatepass")
    if len(data) > MAX_FILE_BYTES:
        raise _bad(file, 1, f"{len(data)} bytes; a scenario is at most {MAX_FILE_BYTES} bytes")
    return _parse(text, file, hashlib.sha256(data).hexdigest())


def load_scenario(path: Path, *, stand_in: TargetSystem | None = None) -> Scenario:
    """A validated scenario from a file. ``stand_in``: a target the scenario is run against instead
    of the one it names (an external platform described by a topology file), validated against it."""
    text, sha256 = read_text_file(path, "scenario")
    return _parse(text, str(path), sha256, stand_in)
