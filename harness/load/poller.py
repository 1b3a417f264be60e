"""A reader of the target that runs beside the load on its own daemon thread: one read every
``period_s`` on a fixed timetable (a slow read delays no later one), each read's ops recorded as
they come, bounded in count and in time so that it always stops by itself."""

from __future__ import annotations

import math
import threading
import time

import requests

from harness.history import Op
from harness.http import target_session
from harness.recorder import Recorder

__all__ = ["Poller"]


class Poller:
    """Calls ``read`` every ``period_s`` and records its ops in ``recorder`` until ``stop()``,
    ``max_s`` seconds, or ``max_s / period_s`` reads, whichever comes first."""

    name = "poller"

    def __init__(self, recorder: Recorder, *, max_s: float, period_s: float, timeout_s: float) -> None:
        self.recorder = recorder
        self.max_s = max_s
        self.period_s = period_s
        self.timeout_s = timeout_s
        self.reads = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)

    def start(self) -> Poller:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self.timeout_s + 1)

    def read(self, session: requests.Session) -> list[Op]:
        raise NotImplementedError

    def _run(self) -> None:
        start = time.monotonic()
        most = math.floor(self.max_s / self.period_s) + 1
        with target_session() as session:
            while self.reads < most and not self._stop.is_set() and time.monotonic() - start <= self.max_s:
                self.recorder.extend(self.read(session))
                self.reads += 1
                due = start + self.reads * self.period_s
                if self._stop.wait(max(0.0, due - time.monotonic())):
                    break
