"""The outcome of one scenario run: everything the reports are made from."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from harness.checks.base import CheckResult

__all__ = ["RunStatus", "FaultSource", "RunResult"]

RunStatus = Literal["pass", "fail", "unknown", "aborted", "error"]


@dataclass(frozen=True)
class FaultSource:
    """Where a scheduled fault came from in the scenario file, to show next to a failure."""

    fault_id: str
    file: str
    first_line: int
    last_line: int
    text: str


@dataclass(frozen=True)
class RunResult:
    run_id: str
    scenario: str  # scenario name
    scenario_file: str
    scenario_hash: str  # sha256 of the scenario file's bytes
    seed: int
    backend: str
    bugs: tuple[str, ...]
    status: RunStatus
    exit_code: int
    started: float  # wall-clock epoch seconds
    ended: float
    checks: tuple[CheckResult, ...]
    schedule: tuple[dict[str, Any], ...]  # the seeded fault timeline, as plain data
    fault_sources: tuple[FaultSource, ...] = ()
    reason: str | None = None  # why unknown / aborted / error
    versions: dict[str, str] = field(default_factory=dict)  # harness, python, toxiproxy, locust...
    phases: tuple[dict[str, Any], ...] = ()  # {"phase", "start", "end"} wall-clock
    figures: dict[str, Any] = field(default_factory=dict)  # op counts, throughput, p99...
