"""Facts several checks need, derived once from the history and the audit (pure)."""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from harness.checks.base import Audit, CheckResult, Evidence
from harness.history import History, Op

__all__ = ["Interval", "halt_intervals", "inside", "risk_of", "missing", "unknown", "fault_ops", "recovery_budgets",
           "pair_completions",
           "TruePrices", "UM_RECORD_KINDS", "DEFAULT_RISK"]

DEFAULT_RISK = {"window_ms": 1000, "p99_ms": 200, "max_call_ms": 1000, "halt_within_ms": 250, "heartbeat_ms": 100,
                "resume_p99_ms": 100, "healthy_for_ms": 3000, "staleness_ms": 1000}
# Journal record kinds that are UM writes: refused while UM is halted.
UM_RECORD_KINDS = ("order", "leverage", "transfer", "transfer_debit", "transfer_credit", "liquidation")


@dataclass(frozen=True)
class Interval:
    start: float
    end: float  # math.inf while still halted
    scope: tuple[str, ...]

    def holds(self, t: float) -> bool:
        return self.start < t < self.end


def halt_intervals(audit: Audit) -> list[Interval]:
    out: list[Interval] = []
    open_at: tuple[float, tuple[str, ...]] | None = None
    for event in sorted(audit.get("halts") or [], key=lambda e: e["time"]):
        if event["type"] == "halt" and open_at is None:
            open_at = (float(event["time"]), tuple(event.get("scope") or ("um",)))
        elif event["type"] == "resume" and open_at is not None:
            out.append(Interval(open_at[0], float(event["time"]), open_at[1]))
            open_at = None
    if open_at is not None:
        out.append(Interval(open_at[0], math.inf, open_at[1]))
    return out


def inside(t: float, intervals: Sequence[Interval]) -> Interval | None:
    """The interval holding t. ``intervals`` as ``halt_intervals`` gives them: sorted by start and
    disjoint, so a bisection finds the only candidate (a scan per record was quadratic on soaks)."""
    i = bisect.bisect_left(intervals, t, key=lambda iv: iv.start) - 1
    return intervals[i] if i >= 0 and intervals[i].holds(t) else None


def risk_of(audit: Audit) -> dict[str, Any]:
    return {**DEFAULT_RISK, **((audit.get("config") or {}).get("risk") or {})}


def missing(audit: Audit, *keys: str) -> list[str]:
    return [k for k in keys if audit.get(k) is None]


def unknown(name: str, absent: list[str], audit: Audit) -> CheckResult:
    errors = tuple(Evidence(e) for e in (audit.get("errors") or [])[:5])
    return CheckResult(name, "unknown", f"audit lacks {', '.join(absent)}", errors)


def fault_ops(history: History, action: str) -> list[Op]:
    """Completed fault ops (type info) of one action: inject or heal."""
    return [op for op in history.faults() if op.type == "info" and op.value.get("action") == action]


def recovery_budgets(history: History) -> list[float]:
    """The recovery budget(s) the runner wrote when the faults were healed (one per run)."""
    return [float(budget) for op in history.of("phase") if op.value.get("phase") == "faults_healed"
            and isinstance(budget := op.value.get("recovery_within_s"), (int, float))]


def pair_completions(history: History, kinds: Iterable[str]) -> list[tuple[Op, Op | None]]:
    """(invoke, its completion or None) for client ops of these kinds, pairing by process."""
    wanted = set(kinds)
    open_by_process: dict[str, Op] = {}
    pairs: dict[int, tuple[Op, Op | None]] = {}
    for op in history.of(*wanted):
        if op.type == "invoke":
            open_by_process[op.process] = op
            pairs[op.index] = (op, None)
        elif (invoke := open_by_process.pop(op.process, None)) is not None:
            pairs[invoke.index] = (invoke, op)
    return list(pairs.values())


class TruePrices:
    """The seeded true path: price of the last step at or before a time."""

    def __init__(self, prices: dict[str, Any]) -> None:
        self.times: dict[str, list[float]] = {}
        self.values: dict[str, list[str]] = {}
        for asset, path in prices.get("assets", {}).items():
            self.times[asset] = [float(t) for t, _ in path]
            self.values[asset] = [str(p) for _, p in path]

    def at(self, asset: str, t: float) -> str | None:
        times = self.times.get(asset)
        if not times:
            return None
        i = bisect.bisect_right(times, t + 1e-9) - 1
        return self.values[asset][i] if i >= 0 else None
