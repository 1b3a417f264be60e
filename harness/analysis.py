"""What the checks and the reports both read off a history and an audit, computed one way: the
halts the target claims, nearest-rank percentiles, and the clients' completions per second.

Pure: data in, data out. A check judges with these; a report draws them; neither borrows the
other's internals.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from harness.history import History, is_probe
from harness.workload import WRITE_KINDS

if TYPE_CHECKING:
    Audit = Mapping[str, Any]

__all__ = ["Interval", "halt_intervals", "percentile", "KindSeries", "PerSecond", "per_second", "OUTCOMES", "PHASES"]

OUTCOMES = ("ok", "fail", "info")  # a completion's type: acknowledged, refused, outcome unknown
PHASES = ("before", "during", "after")  # the steady state's phases: before the first fault, during, after recovery


class Interval(NamedTuple):
    """A span of time. A tuple, so a sorted list of them is bisected by comparing tuples in C
    rather than by calling a key function per step (a soak bisects it per journal record)."""

    start: float
    end: float  # math.inf while still halted

    def holds(self, t: float) -> bool:
        return self.start < t < self.end


def halt_intervals(audit: Audit) -> list[Interval]:
    """The halts the target claims during this run. Its ``scope`` field is not read: whether spot
    was halted is judged from what spot clients saw, never from the target's word. A platform that
    outlives runs (``--target-file``) also reports earlier runs' halts: those over before this run
    started (the harness's own clock, in the config) are none of this run's."""
    since = float((audit.get("config") or {}).get("run_started") or -math.inf)
    return [h for h in _claimed_halts(audit) if h.end >= since]


def _claimed_halts(audit: Audit) -> list[Interval]:
    out: list[Interval] = []
    open_at: float | None = None
    for event in sorted(audit.get("halts") or [], key=lambda e: e["time"]):
        if event["type"] == "halt" and open_at is None:
            open_at = float(event["time"])
        elif event["type"] == "resume" and open_at is not None:
            out.append(Interval(open_at, float(event["time"])))
            open_at = None
    if open_at is not None:
        out.append(Interval(open_at, math.inf))
    return out


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted sequence (q in 0..100)."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


@dataclass(frozen=True)
class KindSeries:
    kind: str
    rate: tuple[int, ...]  # completions per second
    p50: tuple[float | None, ...]  # None: a second with no completion
    p99: tuple[float | None, ...]


@dataclass(frozen=True)
class PerSecond:
    """The clients' completions (probes excluded) per second from t0: by outcome, and per request
    kind with its latency percentiles (only the kinds that saw any)."""

    outcomes: Mapping[str, tuple[int, ...]]
    kinds: tuple[KindSeries, ...]


def per_second(history: History, t0: float, seconds: int) -> PerSecond:
    """One pass over the ops."""
    outcome = {k: [0] * seconds for k in OUTCOMES}
    rate = {k: [0] * seconds for k in WRITE_KINDS}
    lat: dict[str, list[list[float]]] = {k: [[] for _ in range(seconds)] for k in WRITE_KINDS}
    for op in history.ops:
        if op.type == "invoke" or op.f not in rate or is_probe(op):
            continue
        s = int(op.time - t0)
        if 0 <= s < seconds:
            outcome[op.type][s] += 1
            rate[op.f][s] += 1
            if op.latency_ms is not None:
                lat[op.f][s].append(op.latency_ms)
    kinds = tuple(KindSeries(k, tuple(rate[k]), tuple(_pct(v, 50) for v in lat[k]), tuple(_pct(v, 99) for v in lat[k]))
                  for k in WRITE_KINDS if any(rate[k]))
    return PerSecond({k: tuple(v) for k, v in outcome.items()}, kinds)


def _pct(values: list[float], q: float) -> float | None:
    return percentile(sorted(values), q) if values else None
