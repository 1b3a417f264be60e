"""A run's headline figures, as a reader of many runs takes them from its ``result.json``: the
time to halt after the clients' breach, the halt length, the RTO (after a heal, and from a region's
loss while it is still down), and the p99 and error rate of each phase. The trend page and the metrics read them here, so both say the same of a run.
A result.json that is damaged is ``BadInput`` naming it."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args

from harness.analysis import PHASES
from harness.errors import BadInput
from harness.result import RunStatus
from harness.untrusted import read_json

__all__ = ["FIGURES", "Figure", "Run", "STATUSES", "read_run", "run_of"]

STATUSES = get_args(RunStatus)


@dataclass(frozen=True)
class Figure:
    """One figure followed over nights; a rise under ``floor`` is noise, however large in %."""

    key: str
    label: str
    unit: str
    floor: float


FIGURES = (
    Figure("halt_after_breach_s", "time to halt after the clients' breach", "s", 0.05),
    Figure("halt_length_s", "halt length", "s", 0.5),
    Figure("rto_s", "RTO", "s", 0.5),
    Figure("rto_from_loss_s", "RTO from a region's loss", "s", 0.5),
    *(Figure(f"p99_{p}_ms", f"p99 {p}", "ms", 20.0) for p in PHASES),
    *(Figure(f"error_rate_{p}", f"error rate {p}", "", 0.01) for p in PHASES),
)
@dataclass(frozen=True)
class Run:
    """What the trend takes from one run folder's result.json."""

    folder: Path
    scenario: str
    seed: int
    status: str
    started: float
    bugs: tuple[str, ...]
    figures: Mapping[str, float]  # the FIGURES measured in this run, by key


def _number(value: Any, where: str, what: str) -> float | None:
    """A measured figure: a finite number, or absent (None: null, or NaN in a result.json written
    before NaN became null)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise BadInput(f"{where}: {what} is not a number")
    return float(value) if math.isfinite(value) else None


def _halt_length(safe_halt: Mapping[str, Any], schedule: Sequence[Any], rto: float | None) -> float | None:
    """UM halted from each halting fault's landing + time to halt until UM took orders again
    (its heal + RTO): the scheduled duration − time to halt + RTO, of the longest. An estimate
    from result.json alone (the exact halts are in audit.json, megabytes per run)."""
    durations = {f.get("id"): f.get("duration_s") for f in schedule if isinstance(f, dict)}
    spans = [d - det["from_landing_s"] for det in safe_halt.get("detections") or [] if isinstance(det, dict)
             for d in [durations.get(det.get("fault"))]
             if isinstance(d, (int, float)) and isinstance(det.get("from_landing_s"), (int, float))]
    if not spans or rto is None:
        return None
    return round(max(spans) + rto, 3)


def _figures(data: Mapping[str, Any], checks: Mapping[str, Mapping[str, Any]], where: str) -> dict[str, float]:
    top = data.get("figures") or {}
    if not isinstance(top, dict):
        raise BadInput(f"{where}: figures is not an object")
    halt, recovery, steady = checks.get("safe_halt", {}), checks.get("recovery", {}), checks.get("steady_state", {})
    breach = top.get("time_to_halt_from_client_breach_s", halt.get("detect_from_client_breach_s"))
    rto = _number(top.get("rto_s", recovery.get("rto_s")), where, "rto_s")
    found: dict[str, float | None] = {
        "halt_after_breach_s": _number(breach, where, "time_to_halt_from_client_breach_s"),
        "rto_s": rto,
        "rto_from_loss_s": _number(top.get("rto_from_loss_s", recovery.get("rto_from_loss_s")), where, "rto_from_loss_s"),
        "halt_length_s": _halt_length(halt, data.get("schedule") or [], rto),
    }
    for phase in PHASES:
        found[f"p99_{phase}_ms"] = _number(steady.get(f"{phase}.p99_ms"), where, f"steady_state {phase}.p99_ms")
        found[f"error_rate_{phase}"] = _number(steady.get(f"{phase}.error_rate"), where,
                                               f"steady_state {phase}.error_rate")
    return {k: v for k, v in found.items() if v is not None}


def _checks(data: Mapping[str, Any], where: str) -> dict[str, Mapping[str, Any]]:
    """Each check's figures by its name."""
    checks = data.get("checks", [])
    if not isinstance(checks, list) or not all(
            isinstance(c, dict) and isinstance(c.get("name"), str) and isinstance(c.get("figures") or {}, dict)
            for c in checks):
        raise BadInput(f"{where}: checks is not a list of {{name, figures}}")
    return {c["name"]: c.get("figures") or {} for c in checks}


def run_of(folder: Path, data: Any, where: str) -> Run:
    """The run a result.json's ``data`` describes (read from ``where``)."""
    if not isinstance(data, dict):
        raise BadInput(f"{where}: damaged: not a JSON object")
    scenario, seed, status, started = (data.get(k) for k in ("scenario", "seed", "status", "started"))
    bugs = data.get("bugs") or []
    if not isinstance(scenario, str) or not scenario or len(scenario) > 200:
        raise BadInput(f"{where}: damaged: no scenario name")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise BadInput(f"{where}: damaged: seed is not a whole number")
    if not isinstance(status, str) or status not in STATUSES:
        raise BadInput(f"{where}: damaged: status is not one of {', '.join(STATUSES)}")
    if (start := _number(started, where, "started")) is None:
        raise BadInput(f"{where}: damaged: no start time")
    if not isinstance(bugs, list) or not all(isinstance(b, str) for b in bugs):
        raise BadInput(f"{where}: damaged: bugs is not a list of names")
    return Run(folder, scenario, seed, status, start, tuple(bugs), _figures(data, _checks(data, where), where))


def read_run(folder: Path) -> Run:
    """One run folder's result.json; anything that is not one is ``BadInput`` naming the folder."""
    path = folder / "result.json"
    if not path.exists():
        raise BadInput(f"{folder}: not a run folder (no result.json)")
    return run_of(folder, read_json(path, nan_as_null=True), str(path))
