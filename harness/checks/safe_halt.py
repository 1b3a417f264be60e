"""safe_halt: a margin-latency breach halts UM within budget; nothing UM is accepted inside a
halt; spot is never halted; UM does not resume while margin is still breaching or before it has
been healthy for the guard's healthy period (hysteresis: no halt/resume storm)."""

from __future__ import annotations

from harness.checks.base import Audit, CheckResult, Evidence
from harness.checks.common import (
    UM_RECORD_KINDS,
    fault_ops,
    halt_intervals,
    inside,
    missing,
    risk_of,
    unknown,
)
from harness.history import History

__all__ = ["safe_halt"]
NAME = "safe_halt"
SLACK_S = 0.1  # measurement slack between the harness's and the exchange's view of "now"


def safe_halt(history: History, audit: Audit) -> CheckResult:
    if absent := missing(audit, "halts", "journal"):
        return unknown(NAME, absent, audit)
    risk = risk_of(audit)
    budget_s = (risk["p99_ms"] + risk["heartbeat_ms"] + risk["halt_within_ms"]) / 1000 + SLACK_S
    halts = halt_intervals(audit)
    heals = {op.value.get("id"): op.time for op in fault_ops(history, "heal")}
    bad: list[Evidence] = []
    expecting = [op for op in fault_ops(history, "inject") if op.value.get("expect_um_halt")]
    not_landed = [op for op in expecting if not op.value.get("landed")]
    if not_landed:
        return CheckResult(NAME, "unknown", f"fault {not_landed[0].value.get('id')} did not land: cannot judge the halt",
                           tuple(Evidence(f"{op.value.get('id')} {op.value.get('detail')}", op.time, (op.index,)) for op in not_landed))
    for op in expecting:
        if heals.get(op.value.get("id"), float("inf")) - op.time < budget_s:
            continue  # over before the guard could be expected to see it
        covering = [h for h in halts if h.start <= op.time + budget_s and h.end > op.time]
        if not covering:
            later = [h.start for h in halts if h.start > op.time]
            after = f"first halt {later[0] - op.time:.3f} s after" if later else "no halt at all"
            bad.append(Evidence(f"fault {op.value.get('id')} ({op.value.get('fault')} {op.value.get('target')}): "
                                f"UM not halted within {budget_s:.3f} s ({after})", op.time, (op.index,)))
    healthy_s = risk["healthy_for_ms"] / 1000
    for op in expecting:
        healed = heals.get(op.value.get("id"))
        if healed is None:
            continue
        for interval in halts:  # a resume decided after the guard could see this fault, before margin was healthy long enough
            if op.time + budget_s < interval.end < healed + healthy_s - SLACK_S:
                bad.append(Evidence(f"UM resumed {interval.end - healed:+.3f} s from the heal of fault {op.value.get('id')}: "
                                    f"margin had not been healthy for {healthy_s:g} s (no hysteresis)", interval.end))
    for record in audit["journal"]:
        if record.kind in UM_RECORD_KINDS and (h := inside(record.time, halts)):
            bad.append(Evidence(f"UM {record.kind} {record.client_id} accepted {record.time - h.start:.3f} s into a halt",
                                record.time, records=(record.seq,)))
    for h in halts:
        if "spot" in h.scope:
            bad.append(Evidence(f"a halt stopped spot too (scope {list(h.scope)})", h.start))
    for op in history.completions("spot_order"):
        if op.error == "UM_HALTED":
            bad.append(Evidence("a spot order was refused with UM_HALTED", op.time, (op.index,)))
    figures = {"halts": len(halts), "expecting_faults": len(expecting), "budget_s": round(budget_s, 3)}
    if bad:
        return CheckResult(NAME, False, f"{len(bad)} violation(s): {bad[0].text}", tuple(bad[:50]), figures)
    if not expecting:
        return CheckResult(NAME, True, "no fault breached the margin budget; no UM write inside a halt (vacuous halt part)",
                           figures=figures)
    return CheckResult(NAME, True, f"UM halted within {budget_s:.3f} s of each of {len(expecting)} breach(es); "
                                   "no UM write inside a halt; spot never halted", figures=figures)
