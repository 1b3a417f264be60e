"""Live numbers while load flows: phase, current fault, req/s, p50/p99, error rate, halt state.

Reads the load's history files as Locust appends to them (the same ops the checks use, so the
live figures and the report agree), asks matching's ``/health`` whether UM is halted, and shows a
rich live table on a terminal or one plain log line per interval when stdout is not a terminal.
"""

from __future__ import annotations

import json
import logging
import math
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from harness.analysis import percentile
from harness.http import target_session

__all__ = ["Snapshot", "ProgressDisplay", "summarize"]

log = logging.getLogger("umchaos.load")
WINDOW_S = 5.0  # p50/p99 and error rate over the last few seconds


@dataclass(frozen=True)
class Snapshot:
    elapsed_s: float
    phase: str
    faults: str
    req_per_s: float
    p50_ms: float
    p99_ms: float
    error_rate: float
    halted: str
    requests: int

    def line(self) -> str:
        return (f"t={self.elapsed_s:5.1f}s phase={self.phase} fault={self.faults} req/s={self.req_per_s:.0f} "
                f"p50={self.p50_ms:.1f}ms p99={self.p99_ms:.1f}ms errors={self.error_rate:.2%} "
                f"um={self.halted} requests={self.requests}")


def summarize(window: list[tuple[float, float, bool]], seconds: float) -> tuple[float, float, float, float]:
    """(req/s, p50, p99, error rate) of (time, latency_ms, error) completions over ``seconds``."""
    if not window:
        return 0.0, math.nan, math.nan, 0.0
    latencies = sorted(lat for _, lat, _ in window)
    return (len(window) / seconds, percentile(latencies, 50), percentile(latencies, 99),
            sum(err for *_, err in window) / len(window))


class ProgressDisplay:
    """A daemon thread sampling once per interval until ``stop``; bounded by ``max_s``."""

    def __init__(self, *, files: list[Path], matching: str, status: Callable[[], tuple[str, str]],
                 max_s: float, interval_s: float = 1.0, tty: bool | None = None) -> None:
        self.files = files
        self.matching = matching
        self.status = status
        self.max_s = max_s
        self.interval_s = interval_s
        self.tty = sys.stdout.isatty() if tty is None else tty
        self._offsets: dict[Path, int] = {}
        self._recent: deque[tuple[float, float, bool]] = deque()
        self._count = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="umchaos-progress", daemon=True)
        self._session = target_session()
        self.snapshots: list[Snapshot] = []

    def start(self) -> ProgressDisplay:
        self._t0 = time.monotonic()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        self._session.close()

    def _read_new(self) -> None:
        for path in self.files:
            if not path.exists():
                continue
            with path.open("rb") as fh:
                fh.seek(self._offsets.get(path, 0))
                chunk = fh.read()
            end = chunk.rfind(b"\n") + 1  # a half-written last line waits for the next read
            self._offsets[path] = self._offsets.get(path, 0) + end
            for raw in chunk[:end].splitlines():
                try:
                    op: dict[str, Any] = json.loads(raw)
                except ValueError:
                    continue
                if op.get("type") == "invoke":
                    continue
                status = (op.get("value") or {}).get("status")
                error = op["type"] == "info" or (status is not None and status >= 500 and op.get("error") != "UM_HALTED")
                self._recent.append((time.monotonic(), float(op.get("latency_ms") or 0.0), error))
                self._count += 1

    def _halted(self) -> str:
        try:
            answer = self._session.get(self.matching + "/health", timeout=0.5).json()
        except (requests.RequestException, ValueError):
            return "unreachable"
        return "HALTED" if answer.get("halted") else "trading"

    def sample(self) -> Snapshot:
        self._read_new()
        now = time.monotonic()
        while self._recent and self._recent[0][0] < now - WINDOW_S:
            self._recent.popleft()
        elapsed = now - self._t0
        rate, p50, p99, errors = summarize(list(self._recent), min(WINDOW_S, max(elapsed, 1e-3)))
        phase, faults = self.status()
        snap = Snapshot(elapsed, phase, faults or "-", rate, p50, p99, errors, self._halted(), self._count)
        self.snapshots.append(snap)
        return snap

    def _loop(self) -> None:
        if self.tty:
            self._loop_rich()
            return
        while not self._stop.wait(self.interval_s) and time.monotonic() - self._t0 < self.max_s:
            log.info("%s", self.sample().line())

    def _loop_rich(self) -> None:
        from rich.live import Live
        from rich.table import Table

        def table(s: Snapshot) -> Table:
            t = Table(title=f"umchaos  t={s.elapsed_s:.0f}s", show_header=True)
            for column in ("phase", "fault", "req/s", "p50 ms", "p99 ms", "errors", "UM", "requests"):
                t.add_column(column)
            t.add_row(s.phase, s.faults, f"{s.req_per_s:.0f}", f"{s.p50_ms:.1f}", f"{s.p99_ms:.1f}",
                      f"{s.error_rate:.2%}", f"[red]{s.halted}[/red]" if s.halted == "HALTED" else s.halted,
                      str(s.requests))
            return t

        with Live(table(self.sample()), refresh_per_second=2, transient=False) as live:
            while not self._stop.wait(self.interval_s) and time.monotonic() - self._t0 < self.max_s:
                live.update(table(self.sample()))
