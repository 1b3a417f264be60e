"""Load and validate scenario files: YAML with line numbers, checked by pydantic models.

Every problem becomes one ``BadInput`` line, ``file:line: what is wrong``, pointing at the YAML
node that caused it. Validation is complete before anything is started.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from harness.errors import BadInput
from targets.umref.config import BUG_SWITCHES, LINKS, REGION_OF

__all__ = ["Scenario", "FaultSpec", "load_scenario", "parse_scenario", "parse_duration", "CHECK_NAMES", "FAULT_KINDS"]

MAX_FILE_BYTES = 1 << 20
MAX_SECONDS = 3600.0
CHECK_NAMES = ("safe_halt", "no_erroneous_margin_calls", "resting_orders_preserved", "rollback", "segregation",
               "no_acked_write_lost", "blast_radius", "recovery", "auth_fail_closed")
LINK_KINDS = ("latency", "bandwidth", "timeout", "reset_peer", "down")
FAULT_KINDS = (*LINK_KINDS, "partition", "kill", "pause", "region_power_loss", "clock_skew", "price_shock")
SERVICES = tuple(REGION_OF)
REGIONS = tuple(sorted(set(REGION_OF.values())))
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m)?\s*$")


def parse_duration(value: Any) -> float:
    """``500ms``, ``5s``, ``1.5m`` or a plain number of seconds -> seconds."""
    if isinstance(value, bool):
        raise ValueError("a duration is a number with ms, s or m")
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if not match:
            raise ValueError(f"{value!r} is not a duration (use e.g. 500ms, 5s, 1.5m)")
        seconds = float(match.group(1)) * {"ms": 0.001, "s": 1.0, "m": 60.0, None: 1.0}[match.group(2)]
    if not 0 <= seconds <= MAX_SECONDS:
        raise ValueError(f"duration {value!r} must be between 0 and {MAX_SECONDS:.0f} s")
    return seconds


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Bound(Model):
    min: float | None = None
    max: float | None = None


class SteadyState(Model):
    um_order_success_rate: Bound | None = None
    p99_ms: Bound | None = None
    spot_success_rate: Bound | None = None


class RiskOverrides(Model):
    window_ms: int | None = Field(None, ge=100, le=60_000)
    p99_ms: int | None = Field(None, ge=1, le=60_000)
    max_call_ms: int | None = Field(None, ge=1, le=60_000)
    halt_within_ms: int | None = Field(None, ge=1, le=60_000)
    heartbeat_ms: int | None = Field(None, ge=10, le=10_000)
    resume_p99_ms: int | None = Field(None, ge=1, le=60_000)
    healthy_for_ms: int | None = Field(None, ge=0, le=600_000)
    staleness_ms: int | None = Field(None, ge=1, le=600_000)


class TargetSpec(Model):
    system: Literal["umref"] = "umref"
    bugs: tuple[str, ...] = ()
    risk: RiskOverrides = RiskOverrides()

    @field_validator("bugs")
    @classmethod
    def known_bugs(cls, bugs: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [b for b in bugs if b not in BUG_SWITCHES]
        if unknown:
            raise ValueError(f"unknown bug switch {unknown[0]!r}; known: {', '.join(BUG_SWITCHES)}")
        return bugs


MixKind = Literal["um_order", "cancel", "transfer", "spot_order", "leverage", "bad_key"]
DEFAULT_MIX: dict[MixKind, float] = {"um_order": 6, "cancel": 2, "transfer": 1, "spot_order": 3}


class Load(Model):
    users: int = Field(20, ge=0, le=5000)
    spawn_rate: float = Field(20, gt=0, le=5000)
    mix: dict[MixKind, float] = Field(default_factory=lambda: dict(DEFAULT_MIX))

    @field_validator("mix")
    @classmethod
    def weights(cls, mix: dict[str, float]) -> dict[str, float]:
        if any(w < 0 for w in mix.values()) or (mix and sum(mix.values()) <= 0):
            raise ValueError("mix weights must be ≥ 0 and not all zero")
        return mix


class Recovery(Model):
    within: float = 10.0

    _dur = field_validator("within", mode="before")(lambda v: parse_duration(v))


class FaultSpec(Model):
    at: float
    fault: Literal[FAULT_KINDS]  # type: ignore[valid-type]
    link: str | None = None
    links: tuple[str, ...] | None = None
    regions: tuple[str, str] | None = None
    direction: Literal["both", "one-way"] = "both"
    service: str | None = None
    region: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    for_: float | None = Field(None, alias="for")

    _dur = field_validator("at", "for_", mode="before")(lambda v: None if v is None else parse_duration(v))

    @field_validator("link")
    @classmethod
    def known_link(cls, link: str | None) -> str | None:
        if link is not None and link not in LINKS:
            raise ValueError(f"unknown link {link!r}; links are caller->callee, e.g. matching->margin")
        return link

    @field_validator("links")
    @classmethod
    def known_links(cls, links: tuple[str, ...] | None) -> tuple[str, ...] | None:
        for link in links or ():
            cls.known_link(link)
        return links

    @field_validator("service")
    @classmethod
    def known_service(cls, service: str | None) -> str | None:
        if service is not None and service not in SERVICES:
            raise ValueError(f"unknown service {service!r}; known: {', '.join(SERVICES)}")
        return service

    @field_validator("region")
    @classmethod
    def known_region(cls, region: str | None) -> str | None:
        if region is not None and region not in REGIONS:
            raise ValueError(f"unknown region {region!r}; known: {', '.join(REGIONS)}")
        return region

    @model_validator(mode="after")
    def target_fits_kind(self) -> FaultSpec:
        kind, p = self.fault, self.params
        need = {"link": self.link is not None, "service": self.service is not None, "region": self.region is not None}
        if kind in LINK_KINDS and not need["link"]:
            raise ValueError(f"fault {kind} needs `link: caller->callee`")
        if kind == "partition" and not (self.links or self.regions or self.link):
            raise ValueError("partition needs `links: [...]`, `link:` or `regions: [A, B]`")
        if self.regions is not None and (set(self.regions) - set(REGIONS) or self.regions[0] == self.regions[1]):
            raise ValueError(f"regions must be two different regions of {', '.join(REGIONS)}")
        if kind in ("kill", "pause", "clock_skew") and not need["service"]:
            raise ValueError(f"fault {kind} needs `service:`")
        if kind == "region_power_loss" and not need["region"]:
            raise ValueError("region_power_loss needs `region:`")
        _check_params(kind, p)
        if kind == "price_shock" and self.for_ is not None:
            raise ValueError("price_shock is an instant market event: it takes no `for`")
        if kind in ("pause",) + LINK_KINDS + ("partition", "clock_skew") and self.for_ is None:
            raise ValueError(f"fault {kind} needs `for:` (how long it lasts)")
        return self


_PARAMS: dict[str, dict[str, tuple[float, float]]] = {
    "latency": {"latency_ms": (0, 600_000), "jitter_ms": (0, 600_000)},
    "bandwidth": {"rate_kbps": (1, 10_000_000)},
    "reset_peer": {"timeout_ms": (0, 600_000)},
    "clock_skew": {"offset_ms": (-3_600_000, 3_600_000)},
    "price_shock": {"move_pct": (-89.99, 89.99)},
}
_REQUIRED = {"latency": ("latency_ms",), "bandwidth": ("rate_kbps",), "price_shock": ("asset", "move_pct"),
             "clock_skew": ("offset_ms",)}


def _check_params(kind: str, params: dict[str, Any]) -> None:
    allowed = dict(_PARAMS.get(kind, {}))
    extra = set(params) - set(allowed) - ({"asset"} if kind == "price_shock" else set())
    if extra:
        raise ValueError(f"fault {kind} takes no parameter {sorted(extra)[0]!r}; it takes: {', '.join(allowed) or 'none'}")
    for name in _REQUIRED.get(kind, ()):
        if name not in params:
            raise ValueError(f"fault {kind} needs params.{name}")
    for name, (lo, hi) in allowed.items():
        if name in params:
            value = params[name]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not lo <= value <= hi:
                raise ValueError(f"params.{name} must be a number from {lo:g} to {hi:g}, not {value!r}")
    if kind == "price_shock" and params.get("asset") not in ("BTC", "ETH"):
        raise ValueError("params.asset must be BTC or ETH")


class Scenario(Model):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")
    description: str = ""
    seed: int = Field(0, ge=0, le=2**31 - 1)
    target: TargetSpec = TargetSpec()
    load: Load = Load()
    steady_state: SteadyState = SteadyState()
    timeline: tuple[FaultSpec, ...] = ()
    recovery: Recovery = Recovery()
    checks: tuple[str, ...] = CHECK_NAMES[:-1]
    allow_targets: tuple[str, ...] = ()
    duration: float | None = None
    _fault_lines: tuple[tuple[int, int], ...] = PrivateAttr(default=())

    _dur = field_validator("duration", mode="before")(lambda v: None if v is None else parse_duration(v))

    @property
    def fault_lines(self) -> tuple[tuple[int, int], ...]:
        """(first, last) line of each timeline entry in the scenario file."""
        return self._fault_lines

    @field_validator("checks")
    @classmethod
    def known_checks(cls, checks: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [c for c in checks if c not in CHECK_NAMES]
        if unknown:
            raise ValueError(f"unknown check {unknown[0]!r}; known: {', '.join(CHECK_NAMES)}")
        return checks


# ---- YAML with line numbers --------------------------------------------------------------------

def _lines_of(node: yaml.Node) -> dict[tuple[Any, ...], tuple[int, int]]:
    """Path (keys and indices) -> (first line, last line) of every node, 1-based."""
    out: dict[tuple[Any, ...], tuple[int, int]] = {}

    def walk(n: yaml.Node, path: tuple[Any, ...]) -> int:
        """Records the node's lines and returns its last line (that of its last scalar)."""
        last = n.end_mark.line + 1
        if isinstance(n, yaml.MappingNode):
            last = n.start_mark.line + 1
            for key, value in n.value:
                out[(*path, key.value, "__key__")] = (key.start_mark.line + 1, key.start_mark.line + 1)
                last = max(last, walk(value, (*path, key.value)))
        elif isinstance(n, yaml.SequenceNode):
            last = n.start_mark.line + 1
            for i, item in enumerate(n.value):
                last = max(last, walk(item, (*path, i)))
        out[path] = (n.start_mark.line + 1, last)
        return last

    walk(node, ())
    return out


def _line_for(lines: dict[tuple[Any, ...], tuple[int, int]], loc: tuple[Any, ...]) -> int:
    path = tuple("for" if part == "for_" else part for part in loc)
    while path:
        if path in lines:
            return lines[path][0]
        path = path[:-1]
    return lines.get((), (1, 1))[0]


def _message(error: Any) -> str:
    loc = ".".join(str(p) for p in error["loc"]).replace("for_", "for") or "scenario"
    msg = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        return f"unknown field {str(error['loc'][-1])!r}"
    if error["type"] == "missing":
        return f"{loc}: required field missing"
    return f"{loc}: {msg}"


def parse_scenario(text: str, file: str) -> tuple[Scenario, dict[tuple[Any, ...], tuple[int, int]]]:
    """The validated scenario and the line range of every YAML node (for error and report lines)."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = mark.line + 1 if mark else 1
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise BadInput(f"{file}:{line}: YAML syntax: {problem}") from None
    except (RecursionError, ValueError, TypeError) as exc:
        raise BadInput(f"{file}:1: YAML cannot be read: {exc.__class__.__name__}") from None
    if node is None or not isinstance(data, dict):
        raise BadInput(f"{file}:1: a scenario is a YAML mapping (name:, timeline:, ...)")
    lines = _lines_of(node)
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = tuple(first["loc"])
        # A whole-fault validator names the parameter in its message: point at that parameter's line.
        if named := re.search(r"params\.(\w+)|parameter '(\w+)'", str(first["msg"])):
            loc = (*loc, "params", named.group(1) or named.group(2))
        raise BadInput(f"{file}:{_line_for(lines, loc)}: {_message(first)}") from None
    _check_overlaps(scenario, lines, file)
    scenario._fault_lines = tuple(lines[("timeline", i)] for i in range(len(scenario.timeline)))
    return scenario, lines


def _check_overlaps(scenario: Scenario, lines: dict[tuple[Any, ...], tuple[int, int]], file: str) -> None:
    """Two faults on one link (or service) at the same time cannot both be healed correctly."""
    spans: dict[str, list[tuple[float, float, int]]] = {}
    for i, f in enumerate(scenario.timeline):
        if f.fault == "price_shock":
            continue
        end = f.at + (f.for_ if f.for_ is not None else MAX_SECONDS)
        for key in (f.link, *(f.links or ()), f.service, f.region and f"region {f.region}",
                    f.regions and "regions " + "-".join(sorted(f.regions))):
            if not key:
                continue
            for start, other_end, j in spans.get(key, []):
                if f.at < other_end and start < end:
                    raise BadInput(f"{file}:{lines[('timeline', i)][0]}: fault overlaps fault #{j + 1} "
                                   f"(line {lines[('timeline', j)][0]}) on {key}")
            spans.setdefault(key, []).append((f.at, end, i))


def load_scenario(path: Path) -> Scenario:
    scenario, _ = load_scenario_with_lines(path)
    return scenario


def load_scenario_with_lines(path: Path) -> tuple[Scenario, dict[tuple[Any, ...], tuple[int, int]]]:
    file = str(path)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise BadInput(f"{file}:1: file is {size} bytes; a scenario must be under {MAX_FILE_BYTES} bytes")
        raw = path.read_bytes()
    except OSError as exc:
        raise BadInput(f"{file}: cannot read: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise BadInput(f"{file}:{line}: not UTF-8 text") from None
    return parse_scenario(text, file)


def scenario_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
