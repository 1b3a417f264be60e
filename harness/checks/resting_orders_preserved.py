"""resting_orders_preserved: the UM books before a halt equal the books after it, less what
acknowledged client cancels removed."""

from __future__ import annotations

import bisect
from decimal import Decimal

from harness.checks.base import Audit, CheckResult, Evidence
from harness.checks.common import Interval, halt_intervals, missing, unknown
from harness.history import History

__all__ = ["resting_orders_preserved"]
NAME = "resting_orders_preserved"


def _during(halts: list[Interval], starts: list[float], t: float) -> int | None:
    """The first halt with start <= t <= end (closed, as before), found by bisection."""
    i = bisect.bisect_right(starts, t) - 1
    for j in (i - 1, i):  # a record exactly at one halt's end and the next one's start is in the first
        if 0 <= j < len(halts) and halts[j].start <= t <= halts[j].end:
            return j
    return None


def resting_orders_preserved(history: History, audit: Audit) -> CheckResult:
    if absent := missing(audit, "halts", "journal"):
        return unknown(NAME, absent, audit)
    halts = halt_intervals(audit)
    if not halts:
        return CheckResult(NAME, True, "no halt happened (vacuous)")
    acked_cancels = {op.value.get("client_id") for op in history.completions("cancel") if op.type == "ok"}
    resting: dict[str, Decimal] = {}
    snapshots: list[dict[str, Decimal]] = [{} for _ in halts]
    taken = [False] * len(halts)
    bad: list[Evidence] = []
    starts = [h.start for h in halts]  # sorted, the intervals disjoint: a bisect, not a scan per record
    upcoming = 0
    for record in sorted(audit["journal"], key=lambda r: r.seq):
        t = record.time
        while upcoming < len(halts) and t >= halts[upcoming].start:
            snapshots[upcoming], taken[upcoming] = dict(resting), True
            upcoming += 1
        during = _during(halts, starts, t)
        for event in record.events:
            kind, oid = event.get("type"), event.get("order_id")
            if kind == "order" and event.get("market") == "um" and event.get("price") is not None:
                resting[oid] = Decimal(event["qty"])
            elif kind == "trade" and event.get("market") == "um":
                for side in ("maker_order_id", "taker_order_id"):
                    o = event[side]
                    if o in resting:
                        if during is not None and o in snapshots[during]:
                            bad.append(Evidence(f"resting order {o} filled ({event['qty']}) {t - halts[during].start:.3f} s into a halt",
                                                t, records=(record.seq,)))
                        resting[o] -= Decimal(event["qty"])
                        if resting[o] <= 0:
                            del resting[o]
            elif kind == "cancel" and oid in resting:
                if during is not None and oid in snapshots[during] and record.client_id not in acked_cancels:
                    bad.append(Evidence(f"resting order {oid} cancelled (reason {event.get('reason')}) {t - halts[during].start:.3f} s "
                                        "into a halt, without an acknowledged client cancel",
                                        t, records=(record.seq,)))
                del resting[oid]
    figures = {"halts": len(halts), "resting_at_halt": [len(s) for s in snapshots]}
    if bad:
        return CheckResult(NAME, False, f"{len(bad)} resting order(s) changed during a halt: {bad[0].text}", tuple(bad[:50]), figures)
    return CheckResult(NAME, True, f"{sum(map(len, snapshots))} resting UM order(s) kept through {len(halts)} halt(s)", figures=figures)
