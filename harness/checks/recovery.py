"""recovery: after each fault (or each run of overlapping faults) is healed, UM accepts orders
again within the recovery budget (RTO), and the steady state holds again after recovery.

Evidence: the clients' acknowledged UM orders (the history) and the harness's own fault ops and
recovery budget; the after-recovery steady-state probe (the harness's own requests, in the history)
against the scenario's probe gate. Nothing from the target's audit.

Every healed fault counts, not only those meant to halt UM: a killed region or a crashed ledger
stops UM too, and its RTO is what an operator is promised. The clock starts when the heal begins
(a restart's own time is part of the RTO). A fault that strikes before UM is back from the
previous one belongs to the same outage, measured from the last heal in it. An outage that never
stopped UM has an RTO of about zero.
"""

from __future__ import annotations

import bisect

from harness.checks.base import Audit, CheckResult, Evidence
from harness.checks.common import fault_ops, recovery_budgets
from harness.checks.steady_state import probe_violation
from harness.history import History, Op

__all__ = ["recovery"]
NAME = "recovery"


def _first_ok_after(t: float, orders_ok: list[Op]) -> Op | None:
    """``orders_ok`` is in time order: a bisection, not a scan per outage (a soak has hundreds)."""
    i = bisect.bisect_right(orders_ok, t, key=lambda op: op.time)
    return orders_ok[i] if i < len(orders_ok) else None


def _outages(injects: list[Op], heals: dict[str, Op], orders_ok: list[Op]) -> list[Op]:
    """The heal op ending each outage: healed faults grouped while each strikes before UM was back."""
    windows = sorted(((op.time, heals[op.value["id"]]) for op in injects if op.value.get("id") in heals),
                     key=lambda w: w[0])
    ends: list[Op] = []
    for start, heal in windows:
        if ends and ((back := _first_ok_after(ends[-1].time, orders_ok)) is None or start < back.time):
            ends[-1] = heal if heal.time > ends[-1].time else ends[-1]
        else:
            ends.append(heal)
    return ends


def recovery(history: History, audit: Audit) -> CheckResult:
    budget = next(iter(recovery_budgets(history)), None)
    injects = fault_ops(history, "inject")
    heals = {str(op.value.get("id")): op for op in history.faults()  # the heal's start: its invoke
             if op.type == "invoke" and op.value.get("action") == "heal"}
    unhealed = [op for op in injects if op.value.get("expect_um_halt") and op.value.get("id") not in heals]
    if unhealed:
        return CheckResult(NAME, "unknown", f"fault {unhealed[0].value.get('id')} was meant to halt UM and was never "
                                            "healed: no recovery to measure")
    orders_ok = [op for op in history.completions("um_order") if op.type == "ok"]
    outages = _outages(injects, heals, orders_ok)
    if not outages:
        return CheckResult(NAME, True, "no fault was healed during the run (vacuous)")
    if budget is None:
        return CheckResult(NAME, "unknown", "the history has no recovery budget")
    bad: list[Evidence] = []
    rtos: list[float] = []
    for heal in outages:
        first_ok = _first_ok_after(heal.time, orders_ok)
        if first_ok is None:
            bad.append(Evidence(f"UM accepted no order after fault {heal.value.get('id')} was healed", heal.time, (heal.index,)))
            continue
        took = first_ok.time - heal.time
        rtos.append(took)
        if took > budget:
            bad.append(Evidence(f"UM accepted orders again {took:.2f} s after fault {heal.value.get('id')} was healed "
                                f"(budget {budget:.1f} s)", first_ok.time, (heal.index, first_ok.index)))
    figures = {"rto_s": round(max(rtos), 3) if rtos else None, "outages": len(outages), "budget_s": budget}
    restored, why = _steady_after(history, audit)
    if restored is False:
        bad.append(Evidence(f"steady state not restored after recovery: {why}"))
    if bad:
        return CheckResult(NAME, False, bad[0].text, tuple(bad), figures)
    if restored == "unknown":
        return CheckResult(NAME, "unknown", f"UM accepted orders again {max(rtos):.2f} s after the heal, but {why}",
                           figures=figures)
    return CheckResult(NAME, True, f"UM accepted orders again {max(rtos):.2f} s after the heal (slowest of "
                                   f"{len(outages)} outage(s); budget {budget:.1f} s); steady state held after "
                                   "recovery", figures=figures)


def _steady_after(history: History, audit: Audit) -> tuple[bool | str, str]:
    """The last after-recovery probe against the probe gate (the runner probes until it holds).

    UM refusing the probe's orders after recovery is a violation. Its latency alone over the gate
    is ``unknown``: three slow probes in a row on a busy machine look the same as a slow target
    (the ``steady_state`` check's ``after`` bounds gate latency over the whole load instead)."""
    gate = (audit.get("config") or {}).get("probe_gate")
    if gate is None:
        return "unknown", "the audit has no probe gate to judge the after-recovery probe by"
    probes = [op for op in history.of("um_order") if op.value.get("phase") == "after"]
    if not probes:
        return "unknown", "no steady-state probe was made after recovery"
    last = max(op.value.get("attempt", 1) for op in probes)
    final = [op for op in probes if op.value.get("attempt", 1) == last]
    if (why := probe_violation(final, {k: v for k, v in gate.items() if k != "p99_ms"})) is not None:
        return False, why
    if (why := probe_violation(final, gate)) is not None:
        return "unknown", f"the after-recovery probe was slow ({why}) in {last} attempt(s)"
    return True, ""
