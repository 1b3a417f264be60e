"""The values a scenario is written in: durations, bounded numbers and ``{min, max}`` spans, names,
addresses, and names checked against the chosen target's topology; and the strict ``Model`` every
section is built on.

Each check raises ``ValueError`` (or ``Problem``, to point below the field) in the user's words;
``explain`` puts the file and line in front of it.
"""

from __future__ import annotations

import difflib
import ipaddress
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    Strict,
    ValidationInfo,
)

from harness.targets import DEFAULT_TARGET, TargetSystem, load_target

MAX_SECONDS = 3600.0  # no time or duration in a scenario beyond an hour
MIN_SECONDS = 0.001  # nor below a millisecond: nothing the harness does is finer (1e-300s is a typo)
SETTLE_S = 5.0  # after the recovery window, before load stops: the last probe sees a settled target

_DURATION = re.compile(r"([+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)\s*(ms|s|m)?")
_UNIT_S: Mapping[str, float] = {"ms": 0.001, "s": 1.0, "m": 60.0}
_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
_HOSTNAME = re.compile(r"(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                       r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*")
K = TypeVar("K")


class Problem(ValueError):
    """A validation error that knows which field below the validated model it is about."""

    def __init__(self, loc: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.loc = loc


def show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e15 else f"{value:g}"


def secs(seconds: float) -> str:
    return f"{num(seconds)} s"


def parse_duration(value: object) -> float:
    """``500ms``, ``5s``, ``1.5m`` or a plain number of seconds -> seconds, from 0 to an hour."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"{show(value)} is not a duration (use e.g. 500ms, 5s, 1.5m)")
    if isinstance(value, str):
        match = _DURATION.fullmatch(value.strip())
        if not match:
            raise ValueError(f"{show(value)} is not a duration (use e.g. 500ms, 5s, 1.5m)")
        seconds = float(match[1]) * _UNIT_S[match[2] or "s"]
    else:
        try:
            seconds = float(value)
        except OverflowError:
            seconds = math.inf
    if math.isnan(seconds):
        raise ValueError(f"{show(value)} is not a duration (use e.g. 500ms, 5s, 1.5m)")
    if seconds < 0:
        raise ValueError(f"duration {show(value)} is negative")
    if 0 < seconds < MIN_SECONDS:
        raise ValueError(f"duration {show(value)} is under {num(MIN_SECONDS * 1000)} ms (0, or at least 1ms)")
    if seconds > MAX_SECONDS:
        raise ValueError(f"duration {show(value)} is over the {secs(MAX_SECONDS)} maximum")
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
class Bounds:
    """The range of a number; checks plain numbers and ``{min, max}`` spans alike."""

    lo: float
    hi: float
    lo_open: bool = False
    hi_open: bool = False

    def describe(self) -> str:
        return (f"{'above' if self.lo_open else 'at least'} {num(self.lo)} and "
                f"{'below' if self.hi_open else 'at most'} {num(self.hi)}")

    def number(self, value: object) -> int | float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"must be a number, not {show(value)}")
        above = value > self.lo if self.lo_open else value >= self.lo
        below = value < self.hi if self.hi_open else value <= self.hi
        if not (above and below):  # NaN fails both
            raise ValueError(f"must be {self.describe()}, not {show(value)}")
        return value

    def number_or_span(self, value: object) -> int | float | Span:
        if not isinstance(value, dict):
            return self.number(value)
        if set(value) != {"min", "max"}:
            raise ValueError("a range is written {min: a, max: b}")
        low, high = self.number(value["min"]), self.number(value["max"])
        if low > high:
            raise ValueError(f"range min {num(low)} is above its max {num(high)}")
        return Span(low, high)


def one_of(known: Sequence[str], what: str, owner: str = "") -> Callable[[str], str]:
    def check(value: str) -> str:
        if value in known:
            return value
        close = difflib.get_close_matches(value, known, n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"known: {', '.join(known) or 'none'}"
        raise ValueError(f"unknown {what} {show(value)}{owner}; {hint}")

    return check


def target_of(info: ValidationInfo) -> TargetSystem:
    """The target the scenario is validated against: the context's (``parse_scenario`` puts the
    one ``target.system`` names there), else the default target."""
    target = info.context.get("target") if isinstance(info.context, dict) else None
    return target if isinstance(target, TargetSystem) else load_target(DEFAULT_TARGET)


def _of_target(what: str, names: Callable[[TargetSystem], Sequence[str]]) -> Callable[[str, ValidationInfo], str]:
    """A name checked against the chosen target's topology, not any one target's."""
    def check(value: str, info: ValidationInfo) -> str:
        target = target_of(info)
        return one_of(names(target), what, f" of target {target.name}")(value)

    return check


def unique(items: tuple[Any, ...]) -> tuple[Any, ...]:
    for i, item in enumerate(items):
        if item in items[:i]:
            raise Problem((i,), f"{show(item)} is listed twice")
    return items


def some_weight(weights: dict[K, float]) -> dict[K, float]:
    if not any(weights.values()):
        raise ValueError("at least one weight must be above 0")
    return weights


def _name(value: str) -> str:
    if not _NAME.fullmatch(value):
        raise ValueError(f"{show(value)}: a name is lowercase letters, digits and '-', at most 64 "
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
            raise ValueError(f"{show(value)} is not host, host:port or [v6]:port") from None
    host, port = (match[1], match[2]) if match[1] else (match[3], match[4])
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if match[1] or not _HOSTNAME.fullmatch(host):
            raise ValueError(f"{show(host)} is neither an IP address nor a host name") from None
    if port is not None and not 1 <= int(port) <= 65535:
        raise ValueError(f"port {port} is not from 1 to 65535")
    return value


Text = Annotated[str, Strict()]
Name = Annotated[str, Strict(), AfterValidator(_name)]
BugName = Annotated[str, Strict(), AfterValidator(
    _of_target("bug switch", lambda t: [b.name for b in t.bug_switches]))]
LinkName = Annotated[str, Strict(), AfterValidator(_of_target("link (caller->callee)", lambda t: t.topology.links))]
ServiceName = Annotated[str, Strict(), AfterValidator(_of_target("service", lambda t: t.topology.services))]
RegionName = Annotated[str, Strict(), AfterValidator(_of_target("region", lambda t: t.topology.regions))]
Address = Annotated[str, Strict(), AfterValidator(_address)]
Tag = Annotated[str, Strict(), AfterValidator(_name)]
Ms = Annotated[int, Strict(), Field(ge=1, le=3_600_000)]
Param = int | float | Span
DelayMs = Annotated[Param, PlainValidator(Bounds(0, 3_600_000).number_or_span)]
RateKbps = Annotated[Param, PlainValidator(Bounds(0, 10_000_000, lo_open=True).number_or_span)]
OffsetMs = Annotated[Param, PlainValidator(Bounds(-3_600_000, 3_600_000).number_or_span)]
LossPct = Annotated[Param, PlainValidator(Bounds(0, 100).number_or_span)]
MovePct = Annotated[Param, PlainValidator(Bounds(-90, 90, lo_open=True, hi_open=True).number_or_span)]
Rate = Annotated[float, PlainValidator(Bounds(0, 1).number)]
Weight = Annotated[float, PlainValidator(Bounds(0, 1_000_000).number)]


class Model(BaseModel):
    """Frozen, and an unknown field is an error (a typo must not silently become a default)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
