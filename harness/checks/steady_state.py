"""steady_state: the load's numbers per phase — before the first fault, during the faults, after
recovery — stay within the scenario's tolerances, so a gate can fail on p99 or error rate.

Pure: the tolerances come from ``audit["config"]["steady_state"]`` (written by the runner from the
scenario), the numbers from the recorded client ops. Probe ops count too (they are real requests).
"""

from __future__ import annotations

import math
import operator
from bisect import bisect_left
from collections.abc import Mapping, Sequence
from itertools import islice
from typing import Any

from harness.analysis import PHASES, percentile
from harness.checks.base import Audit, CheckResult, Evidence
from harness.checks.common import fault_ops, recovery_budgets
from harness.history import History, Op
from harness.scenario.faults import is_instant
from harness.workload import WRITE_KINDS

__all__ = ["steady_state", "phase_figures", "probe_violation"]
NAME = "steady_state"
MIN_OPS = 10


def _server_error(op: Op) -> bool:
    """What Locust counts as a failure: outcome unknown, or a 5xx that is not a halt refusal."""
    status = op.value.get("status")
    return op.type == "info" or (status is not None and status >= 500 and op.error != "UM_HALTED")


def phase_figures(ops: Sequence[Op], seconds: float) -> dict[str, float | int]:
    """Throughput, latency percentiles, error and success rates of one phase's completions."""
    latencies = sorted(op.latency_ms or 0.0 for op in ops)
    um = [op for op in ops if op.f == "um_order"]
    spot = [op for op in ops if op.f == "spot_order"]
    out: dict[str, float | int] = {
        "requests": len(ops),
        "req_per_s": round(len(ops) / seconds, 2) if seconds > 0 else 0.0,
        "p50_ms": round(percentile(latencies, 50), 2) if ops else math.nan,
        "p99_ms": round(percentile(latencies, 99), 2) if ops else math.nan,
        "error_rate": round(sum(map(_server_error, ops)) / len(ops), 4) if ops else math.nan,
    }
    if um:
        out["um_order_success_rate"] = round(sum(op.type == "ok" for op in um) / len(um), 4)
    if spot:
        out["spot_success_rate"] = round(sum(op.type == "ok" for op in spot) / len(spot), 4)
    return out


def probe_violation(ops: Sequence[Op], gate: Mapping[str, Mapping[str, float]]) -> str | None:
    """Does one steady-state probe meet the scenario's gate (its top-level ``um_order_success_rate``
    and ``p99_ms``)? The reason if not. The runner asks it before the faults (not met: the run is
    undecided) and after recovery (the ``recovery`` check reads the answer from the history)."""
    done = [op for op in ops if op.type != "invoke" and op.f == "um_order"]
    if not done:
        return "the probe made no UM order"
    rate = sum(op.type == "ok" for op in done) / len(done)
    if (least := (gate.get("um_order_success_rate") or {}).get("min")) is not None and rate < least:
        return f"UM order success rate {rate:.2f} < {least}"
    latencies = sorted(op.latency_ms or 0.0 for op in done)
    # a rank or so below analysis.percentile's nearest rank: of a ten-order probe the second slowest,
    # so one stall on a busy machine does not make a run undecided
    p99 = latencies[max(0, int(0.99 * len(latencies)) - 1)] if len(latencies) > 1 else latencies[0]
    if (most := (gate.get("p99_ms") or {}).get("max")) is not None and p99 > most:
        return f"UM order p99 {p99:.1f} ms > {most} ms"
    return None


def _windows(history: History) -> dict[str, tuple[float, float]]:
    """Wall-time windows of the three phases; without an infrastructure fault, all is 'before'."""
    injects = [op.time for op in fault_ops(history, "inject") if not is_instant(op.value.get("fault"))]
    heals = [op.time for op in fault_ops(history, "heal")]
    recovery_s = max(recovery_budgets(history), default=0.0)
    if not injects:
        return {"before": (-math.inf, math.inf)}
    start = min(injects)
    end = max(heals, default=math.inf)
    return {"before": (-math.inf, start), "during": (start, end), "after": (end + recovery_s, math.inf)}


def _violations(phase: str, figures: Mapping[str, Any], wanted: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """(bounds broken, bounds that could not be measured) for one phase."""
    broken, absent = [], []
    for key, bound in wanted.items():
        if not bound:
            continue
        value = figures.get(key)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            absent.append(f"{phase}: no {key.removesuffix('_success_rate')} requests to measure {key}")
            continue
        if bound.get("min") is not None and value < bound["min"]:
            broken.append(f"{phase}: {key} {value} < {bound['min']}")
        if bound.get("max") is not None and value > bound["max"]:
            broken.append(f"{phase}: {key} {value} > {bound['max']}")
    return broken, absent


def steady_state(history: History, audit: Audit) -> CheckResult:
    tolerances: Mapping[str, Mapping[str, Any]] = (audit.get("config") or {}).get("steady_state") or {}
    if not any(tolerances.get(p) for p in PHASES):
        return CheckResult(NAME, True, "no steady-state tolerance in the scenario (vacuous)")
    done = history.completions(*WRITE_KINDS)
    windows = _windows(history)
    times = [op.time for op in done]
    t0, t1 = min(times, default=0.0), max(times, default=0.0)
    in_order = all(map(operator.le, times, islice(times, 1, None)))  # as a merged history is: bisect
    figures: dict[str, Any] = {}
    bad: list[str] = []
    undecided: list[str] = []
    for phase in PHASES:
        wanted = tolerances.get(phase)
        if not wanted or phase not in windows:
            continue
        lo, hi = windows[phase]
        ops = done[bisect_left(times, lo):bisect_left(times, hi)] if in_order else \
            [op for op in done if lo <= op.time < hi]
        seconds = max(0.0, min(hi, t1) - max(lo, t0))
        numbers = phase_figures(ops, seconds)
        figures.update({f"{phase}.{k}": v for k, v in numbers.items()})
        if len(ops) < MIN_OPS:
            undecided.append(f"{phase}: {len(ops)} requests (fewer than {MIN_OPS})")
            continue
        broken, absent = _violations(phase, numbers, wanted)
        bad += broken
        undecided += absent
    if bad:
        return CheckResult(NAME, False, bad[0], tuple(Evidence(b) for b in bad), figures)
    if undecided:
        return CheckResult(NAME, "unknown", "too few requests: " + "; ".join(undecided), figures=figures)
    checked = [p for p in PHASES if tolerances.get(p) and p in windows]
    return CheckResult(NAME, True, "within tolerance: " + ", ".join(
        f"{p} p99 {figures[f'{p}.p99_ms']} ms, errors {figures[f'{p}.error_rate']}" for p in checked), figures=figures)
