"""recovery: after the last halt-causing fault is healed, UM accepts orders again within the
recovery budget (RTO)."""

from __future__ import annotations

from harness.checks.base import Audit, CheckResult, Evidence
from harness.checks.common import fault_ops
from harness.history import History

__all__ = ["recovery"]
NAME = "recovery"


def recovery(history: History, audit: Audit) -> CheckResult:
    budget = next((float(op.value["recovery_within_s"]) for op in history.ops
                   if op.f == "phase" and op.value.get("phase") == "faults_healed" and "recovery_within_s" in op.value), None)
    halting = {op.value.get("id") for op in fault_ops(history, "inject") if op.value.get("expect_um_halt")}
    heals = [op for op in fault_ops(history, "heal") if op.value.get("id") in halting]
    if not halting:
        return CheckResult(NAME, True, "no fault was expected to halt UM (vacuous)")
    if budget is None or not heals:
        return CheckResult(NAME, "unknown", "the history has no heal of the halting fault or no recovery budget")
    healed = max(op.time for op in heals)
    first_ok = next((op for op in history.completions("um_order") if op.type == "ok" and op.time > healed), None)
    last = max(heals, key=lambda op: op.time)
    if first_ok is None:
        return CheckResult(NAME, False, "UM accepted no order after the heal",
                           (Evidence("no ok um_order after the heal", healed, (last.index,)),))
    took = first_ok.time - healed
    figures = {"rto_s": round(took, 3), "budget_s": budget}
    if took > budget:
        return CheckResult(NAME, False, f"UM accepted orders again {took:.2f} s after the heal (budget {budget:.1f} s)",
                           (Evidence(f"first accepted UM order {took:.2f} s after the heal", first_ok.time,
                                     (last.index, first_ok.index)),), figures)
    return CheckResult(NAME, True, f"UM accepted orders again {took:.2f} s after the heal (budget {budget:.1f} s)",
                       figures=figures)
