"""recovery: after each fault (or each run of overlapping faults) is healed, UM accepts orders
again within the recovery budget (RTO), and the steady state holds again after recovery; after a
whole region is lost, UM accepts orders again within the budget of the loss, the region still down
(its standby took over).

Evidence: the clients' acknowledged UM orders (the history) and the harness's own fault ops and
recovery budget, and what each fault kind declares of its RTO (``FaultKind.rto_from``, pure data);
the after-recovery steady-state probe (the harness's own requests, in the history) against the
scenario's probe gate. Nothing from the target's audit.

Every healed fault counts, not only those meant to halt UM: a killed region or a crashed ledger
stops UM too, and its RTO is what an operator is promised. The clock starts when the heal begins
(a restart's own time is part of the RTO). A fault that strikes before UM is back from the
previous one belongs to the same outage, measured from the last heal in it. An outage that never
stopped UM has an RTO of about zero.

A fault whose kind measures its RTO from the inject (``region_power_loss``: a warm standby must
take over while the region is down) and that landed is judged apart, from its landing (the inject's
info op: the region verifiably down, so an answer it gave as it died is not its standby's) to the
first acknowledged UM order after it; ``region_still_down`` says whether that order came before
the heal began. No order within the budget of the loss fails: while the region was still down
(the failover's RTO broken) or after it was back (UM waited for the region). A region back and UM
with it inside the budget meets the RTO, the failover not shown (``region_still_down`` false).
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from typing import Any

from harness.checks.base import Audit, CheckResult, Evidence
from harness.checks.common import fault_ops, recovery_budgets
from harness.checks.steady_state import probe_violation
from harness.history import History, Op
from harness.scenario.faults import rto_from

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


@dataclass(frozen=True)
class Loss:
    """A region lost (a landed fault whose kind measures RTO from the inject): its inject's info op
    (the landing), when its heal began (``math.inf``: never healed), UM's first ok order after it."""

    inject: Op
    healed_at: float
    first_ok: Op | None

    @property
    def rto(self) -> float:
        """From the landing to the first ok order (``math.inf``: none came)."""
        return math.inf if self.first_ok is None else self.first_ok.time - self.inject.time

    @property
    def still_down(self) -> bool:
        """UM accepted that order before the region's heal began: the standby served it."""
        return self.first_ok is not None and self.first_ok.time < self.healed_at

    def shortfall(self, budget: float) -> Evidence | None:
        """Why the RTO from the loss was not met (None: it was)."""
        if self.rto <= budget:
            return None
        what = f"fault {self.inject.value.get('id')} ({self.inject.value.get('target')})"
        ops = (self.inject.index,) + (() if self.first_ok is None else (self.first_ok.index,))
        if self.still_down:
            text = f"UM accepted orders again {self.rto:.2f} s after {what} took its region down, the region still down"
        else:
            down = "never back" if math.isinf(self.healed_at) else f"back {self.healed_at - self.inject.time:.2f} s later"
            came = "none came" if self.first_ok is None else f"the first came {self.rto:.2f} s after the loss, after the heal"
            text = f"UM accepted no order while {what} kept its region down ({down}): RTO from the loss not met; {came}"
        return Evidence(f"{text} (budget {budget:.1f} s)", self.inject.time, ops)


def _losses(injects: list[Op], heals: dict[str, Op], orders_ok: list[Op]) -> list[Loss]:
    return [Loss(op, heal.time if (heal := heals.get(str(op.value.get("id")))) is not None else math.inf,
                 _first_ok_after(op.time, orders_ok)) for op in injects]


def _loss_figures(losses: list[Loss]) -> dict[str, Any]:
    """The slowest loss's RTO and whether its region was still down then (none: not measured)."""
    if not losses:
        return {}
    worst = max(losses, key=lambda loss: (loss.rto, not loss.still_down))
    return {"rto_from_loss_s": None if math.isinf(worst.rto) else round(worst.rto, 3),
            "region_still_down": worst.still_down}


def _from_heals(outages: list[Op], orders_ok: list[Op], budget: float) -> tuple[list[Evidence], list[float]]:
    """Each outage's RTO from its last heal's start, and those over the budget (or never back)."""
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
    return bad, rtos


def _measured(rtos: list[float], outages: int, losses: list[Loss], budget: float) -> str:
    """What was measured, as the summary says it."""
    parts = [f"UM accepted orders again {max(rtos):.2f} s after the heal (slowest of {outages} outage(s))"] if rtos else []
    if losses:
        slowest = max(losses, key=lambda loss: loss.rto)
        where = "the region still down" if slowest.still_down else "after the region was back (no failover shown)"
        parts.append(f"{slowest.rto:.2f} s after a region was lost, {where} (slowest of {len(losses)} loss(es))")
    return f"{'; '.join(parts)}; budget {budget:.1f} s"


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
    lost = [op for op in injects if op.value.get("landed") and rto_from(op.value.get("fault")) == "inject"]
    losses = _losses(lost, heals, orders_ok)
    outages = _outages([op for op in injects if op not in lost], heals, orders_ok)
    if not outages and not losses:
        return CheckResult(NAME, True, "no fault was healed during the run (vacuous)")
    if budget is None:
        return CheckResult(NAME, "unknown", "the history has no recovery budget")
    bad, rtos = _from_heals(outages, orders_ok, budget)
    bad += [short for loss in losses if (short := loss.shortfall(budget)) is not None]
    figures = {"rto_s": round(max(rtos), 3) if rtos else None, "outages": len(outages), "budget_s": budget,
               **_loss_figures(losses)}
    restored, why = _steady_after(history, audit)
    if restored is False:
        bad.append(Evidence(f"steady state not restored after recovery: {why}"))
    if bad:
        return CheckResult(NAME, False, bad[0].text, tuple(bad), figures)
    measured = _measured(rtos, len(outages), losses, budget)
    if restored == "unknown":
        return CheckResult(NAME, "unknown", f"{measured}, but {why}", figures=figures)
    return CheckResult(NAME, True, f"{measured}; steady state held after recovery", figures=figures)


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
