"""Records the runner's own ops (phases, faults, probes) and merges them with the load's.

Thread-safe, because the nemesis and the balance sampler run beside the main thread. Times are
wall-clock (comparable with the exchange's server times) plus monotonic seconds since the start.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from typing import Any

from msgspec.structs import force_setattr

from harness.history import History, Op, OpType

__all__ = ["Recorder", "merge"]


class Recorder:
    def __init__(self, start_mono: float) -> None:
        self.start_mono = start_mono
        self._ops: list[Op] = []
        self._lock = threading.Lock()

    def record(self, type_: OpType, f: str, process: str, value: dict[str, Any] | None = None, *,
               latency_ms: float | None = None, error: str | None = None) -> None:
        op = Op(index=-1, type=type_, f=f, process=process, time=time.time(), mono=time.monotonic() - self.start_mono,
                value=value or {}, latency_ms=latency_ms, error=error)
        with self._lock:
            self._ops.append(op)

    def phase(self, name: str, **extra: Any) -> None:
        self.record("info", "phase", "runner", {"phase": name, **extra})

    def extend(self, ops: Iterable[Op]) -> None:
        with self._lock:
            self._ops.extend(ops)

    def snapshot(self) -> list[Op]:
        with self._lock:
            return list(self._ops)


def merge(ops: list[Op]) -> History:
    """One history ordered by wall time (stable, so each process keeps its own order). An op's
    index is its place in that order, known only now: set in place, not by copying a million ops."""
    ordered = sorted(ops, key=lambda op: op.time)
    for i, op in enumerate(ordered):
        force_setattr(op, "index", i)
    return History(ordered)
