"""blast_radius: a fault confined to the UM path does not spill into spot. Spot's success rate
and p99 while such faults are active stay within tolerance of spot before the first fault.

Only faults confined to the UM path are judged (the harness's ``um_only`` on the inject op: every
service and link the fault touches is UM-only). During a fault on something spot needs too
(auth, gateway, ledger...) spot must fail closed, not keep its SLO: any time overlapping such a
shared fault, until spot is served again after its heal, is left out of the judged windows, and a
spot order sent or answered in it is not judged.

Evidence: the client history (spot orders' outcomes and latencies, probes left out) and the
harness's own fault record (landing, heal, ``um_only``); nothing from the target.

The p99 must be over its bound in a sustained way, not in one burst: a spill slows spot for as
long as the fault lasts, while a pause of the whole machine (seen on a 2-core CI machine: every
request in flight, UM and spot alike, answered at once after 0.5 s) lands in a single second.
So spot must also be over the bound in at least a quarter of the fault's seconds, and in two."""

from __future__ import annotations

from collections.abc import Sequence

from harness.checks.base import Audit, CheckResult, Evidence
from harness.checks.common import (
    fault_windows,
    merge,
    overlaps,
    shared_spans,
    spot_served,
    started,
    within,
)
from harness.history import History, Op, is_probe

__all__ = ["blast_radius"]
NAME = "blast_radius"
MIN_OPS = 10
MIN_SECOND_OPS = 3  # a second of the fault with fewer spot answers says nothing about its p99
SUSTAINED_SHARE = 0.25


def _p99(ops: Sequence[Op]) -> float:
    latencies = sorted(op.latency_ms or 0.0 for op in ops)
    return latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))]


def blast_radius(history: History, audit: Audit, *, rate_drop: float = 0.05, p99_factor: float = 3.0,
                 p99_floor_ms: float = 50.0) -> CheckResult:
    faults = fault_windows(history)
    confined = merge((f.start, f.end) for f in faults if f.um_only)
    spot = [op for op in history.completions("spot_order") if not is_probe(op)]
    shared = shared_spans(faults, spot)
    if not confined:
        return CheckResult(NAME, True, f"no fault confined to the UM path (vacuous): spot is judged only during those; "
                                       f"{len(faults)} fault(s) on paths spot shares not judged")
    first = min(f.start for f in faults)
    start = confined[0][0]
    before = [op for op in spot if op.time < first]
    during = [op for op in spot if within(confined, started(op), op.time) and not overlaps(shared, started(op), op.time)]
    if len(before) < MIN_OPS or len(during) < MIN_OPS:
        return CheckResult(NAME, "unknown", f"too few spot orders to compare ({len(before)} before the faults, "
                                            f"{len(during)} during UM-only faults outside shared ones)")
    rate_before = sum(map(spot_served, before)) / len(before)
    rate_during = sum(map(spot_served, during)) / len(during)
    p99_before, p99_during = _p99(before), _p99(during)
    p99_bound = max(p99_factor * p99_before, p99_floor_ms)
    figures = {"spot_rate_before": round(rate_before, 4), "spot_rate_during": round(rate_during, 4),
               "spot_p99_before_ms": round(p99_before, 2), "spot_p99_during_ms": round(p99_during, 2),
               "spot_p99_bound_ms": round(p99_bound, 2), "um_only_faults": sum(f.um_only for f in faults),
               "shared_faults": sum(not f.um_only for f in faults)}
    bad = []
    if rate_during < rate_before - rate_drop:
        failed = [op for op in during if not spot_served(op)][:10]
        bad.append(Evidence(f"spot success rate fell from {rate_before:.3f} to {rate_during:.3f} during UM-only faults",
                            start, tuple(op.index for op in failed)))
    seconds, slow = _slow_seconds(during, start, p99_bound)
    figures |= {"spot_seconds": seconds, "spot_slow_seconds": slow}
    if p99_during > p99_bound and slow >= max(2.0, SUSTAINED_SHARE * seconds):
        bad.append(Evidence(f"spot p99 rose from {p99_before:.1f} ms to {p99_during:.1f} ms (bound {p99_bound:.1f} ms), "
                            f"over the bound in {slow} of {seconds} seconds of UM-only faults", start))
    if bad:
        return CheckResult(NAME, False, bad[0].text, tuple(bad), figures)
    burst = f"; over {p99_bound:.1f} ms in {slow} of {seconds} seconds only: a burst, not sustained" if p99_during > p99_bound else ""
    return CheckResult(NAME, True, f"spot held: success {rate_during:.3f} (before {rate_before:.3f}), p99 "
                                   f"{p99_during:.1f} ms (before {p99_before:.1f} ms){burst}", figures=figures)


def _slow_seconds(during: Sequence[Op], start: float, bound_ms: float) -> tuple[int, int]:
    """(seconds of the fault with enough spot answers, those whose p99 is over ``bound_ms``)."""
    by_second: dict[int, list[Op]] = {}
    for op in during:
        by_second.setdefault(int(op.time - start), []).append(op)
    judged = [ops for ops in by_second.values() if len(ops) >= MIN_SECOND_OPS]
    return len(judged), sum(_p99(ops) > bound_ms for ops in judged)
