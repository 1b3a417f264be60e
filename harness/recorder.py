"""Records the runner's own ops (phases, faults, probes) and merges them with the load's.

Thread-safe, because the nemesis and the balance sampler run beside the main thread. Times are
wall-clock (comparable with the exchange's server times) plus monotonic seconds since the start.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from harness.history import History, Op, OpType

__all__ = ["Recorder", "merge"]


class Recorder:
    def __init__(self, start_mono: float) -> None:
        self.start_mono = start_mono
        self._ops: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def record(self, type_: OpType, f: str, process: str, value: dict[str, Any] | None = None, *,
               latency_ms: float | None = None, error: str | None = None) -> None:
        op = {"index": -1, "type": type_, "f": f, "process": process, "time": time.time(),
              "mono": time.monotonic() - self.start_mono, "value": value or {}, "latency_ms": latency_ms,
              "error": error}
        with self._lock:
            self._ops.append(op)

    def phase(self, name: str, **extra: Any) -> None:
        self.record("info", "phase", "runner", {"phase": name, **extra})

    def extend(self, ops: list[dict[str, Any]]) -> None:
        with self._lock:
            self._ops.extend(ops)

    def snapshot(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._ops)


def merge(ops: list[dict[str, Any]]) -> History:
    """One history ordered by wall time (stable, so each process keeps its own order)."""
    ordered = sorted(ops, key=lambda op: op["time"])
    return History(Op.from_dict({**op, "index": i}) for i, op in enumerate(ordered))
