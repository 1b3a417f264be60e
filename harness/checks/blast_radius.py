"""blast_radius: a UM fault does not spill into spot. Spot's success rate and p99 while UM
faults are active stay within tolerance of spot before the first fault."""

from __future__ import annotations

from collections.abc import Sequence

from harness.checks.base import Audit, CheckResult, Evidence
from harness.checks.common import fault_ops
from harness.history import History, Op, is_probe

__all__ = ["blast_radius", "served"]
NAME = "blast_radius"
MIN_OPS = 10


def served(op: Op) -> bool:
    """Answered by a working spot market (a business refusal counts; a halt or 5xx does not)."""
    status = op.value.get("status")
    return op.type != "info" and op.error != "UM_HALTED" and status is not None and status < 500


def _p99(ops: Sequence[Op]) -> float:
    latencies = sorted(op.latency_ms or 0.0 for op in ops)
    return latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))]


def blast_radius(history: History, audit: Audit, *, rate_drop: float = 0.05, p99_factor: float = 3.0,
                 p99_floor_ms: float = 50.0) -> CheckResult:
    injects = [op for op in fault_ops(history, "inject") if op.value.get("fault") != "price_shock"]
    if not injects:
        return CheckResult(NAME, True, "no infrastructure fault (vacuous)")
    start = min(op.time for op in injects)
    end = max((op.time for op in fault_ops(history, "heal")), default=float("inf"))
    spot = [op for op in history.completions("spot_order") if not is_probe(op)]
    before = [op for op in spot if op.time < start]
    during = [op for op in spot if start <= op.time <= end]
    if len(before) < MIN_OPS or len(during) < MIN_OPS:
        return CheckResult(NAME, "unknown", f"too few spot orders to compare ({len(before)} before, {len(during)} during)")
    rate_before = sum(map(served, before)) / len(before)
    rate_during = sum(map(served, during)) / len(during)
    p99_before, p99_during = _p99(before), _p99(during)
    p99_bound = max(p99_factor * p99_before, p99_floor_ms)
    figures = {"spot_rate_before": round(rate_before, 4), "spot_rate_during": round(rate_during, 4),
               "spot_p99_before_ms": round(p99_before, 2), "spot_p99_during_ms": round(p99_during, 2),
               "spot_p99_bound_ms": round(p99_bound, 2)}
    bad = []
    if rate_during < rate_before - rate_drop:
        failed = [op for op in during if not served(op)][:10]
        bad.append(Evidence(f"spot success rate fell from {rate_before:.3f} to {rate_during:.3f} during the fault",
                            start, tuple(op.index for op in failed)))
    if p99_during > p99_bound:
        bad.append(Evidence(f"spot p99 rose from {p99_before:.1f} ms to {p99_during:.1f} ms (bound {p99_bound:.1f} ms)", start))
    if bad:
        return CheckResult(NAME, False, bad[0].text, tuple(bad), figures)
    return CheckResult(NAME, True, f"spot held: success {rate_during:.3f} (before {rate_before:.3f}), p99 "
                                   f"{p99_during:.1f} ms (before {p99_before:.1f} ms)", figures=figures)
