"""Abort conditions: the scenario's ``abort_when``, watched while load and faults run.

A run that keeps hammering a target that is plainly broken outside any fault, or whose processes
die on their own, proves nothing and may do harm: the runner stops it early, heals, and reports
``aborted`` with the reason. The monitor reads only what the run records anyway (the load's
history files, the backend's process table); it never changes the target.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import HarnessError
from harness.scenario import KINDS, AbortWhen, services_touched
from harness.schedule import ScheduledFault
from harness.targets import Topology

__all__ = ["Aborted", "AbortMonitor", "fault_windows", "services_down_by"]

MIN_REQUESTS = 20  # fewer completions than this in the window decide nothing


class Aborted(HarnessError):
    """An abort condition of the scenario held: the run stops, heals and reports ``aborted``."""


def fault_windows(faults: Iterable[ScheduledFault], load_start_mono: float, end_mono: float,
                  recovery_s: float) -> list[tuple[float, float]]:
    """(start, end) of each fault plus its recovery budget, in the recorder's monotonic seconds.

    An open-ended fault lasts to the end. The recovery budget is included: errors while the target
    is still allowed to recover are the fault's, not a reason to abort.
    """
    return [(load_start_mono + f.at_s,
             load_start_mono + f.at_s + f.duration_s + recovery_s if f.duration_s is not None else end_mono)
            for f in faults if not KINDS[f.kind].instant]


def services_down_by(kind: str, target: dict[str, object], topology: Topology) -> set[str]:
    """The services a fault is meant to take down (their death is then not a surprise)."""
    return set(services_touched(kind, target, topology)) if KINDS[kind].takes_down else set()


@dataclass
class AbortMonitor:
    """Checks ``abort_when`` each time it is polled; raises ``Aborted`` with the reason once one holds."""

    spec: AbortWhen
    history_files: list[Path]
    windows: list[tuple[float, float]]
    services: tuple[str, ...]
    alive: Callable[[str], bool]
    expected_down: Callable[[], set[str]]  # services an active fault took down, asked at each poll
    _offsets: dict[Path, int] = field(default_factory=dict)
    _recent: deque[tuple[float, bool]] = field(default_factory=deque)

    def poll(self, now_mono: float) -> None:
        if self.spec.target_process_gone:
            expected = self.expected_down()
            if gone := [s for s in self.services if s not in expected and not self.alive(s)]:
                raise Aborted(f"abort_when.target_process_gone: {', '.join(gone)} died and no fault killed it")
        if self.spec.error_rate_above is not None:
            self._read_new()
            since = now_mono - self.spec.for_
            while self._recent and self._recent[0][0] < since:
                self._recent.popleft()
            if now_mono - min((t for t, _ in self._recent), default=now_mono) < 0.8 * self.spec.for_:
                return  # not yet a whole window of evidence
            if len(self._recent) >= MIN_REQUESTS:
                rate = sum(err for _, err in self._recent) / len(self._recent)
                if rate > self.spec.error_rate_above:
                    where = " outside fault windows" if self.spec.outside_faults else ""
                    raise Aborted(f"abort_when.error_rate_above: {rate:.2f} of {len(self._recent)} requests failed "
                                  f"over {self.spec.for_:g} s{where} (limit {self.spec.error_rate_above:g})")

    def _in_fault(self, mono: float) -> bool:
        return any(start <= mono <= end for start, end in self.windows)

    def _read_new(self) -> None:
        for path in self.history_files:
            try:
                with path.open("rb") as lines:
                    lines.seek(self._offsets.get(path, 0))
                    chunk = lines.read(4 << 20)  # bounded per poll
            except OSError:
                continue
            complete = chunk[:chunk.rfind(b"\n") + 1]  # a line still being written waits for the next poll
            self._offsets[path] = self._offsets.get(path, 0) + len(complete)
            for line in complete.splitlines():
                try:
                    op = json.loads(line)
                    kind, mono = op["type"], float(op["mono"])
                except (ValueError, KeyError, TypeError):
                    continue
                if kind == "invoke" or (self.spec.outside_faults and self._in_fault(mono)):
                    continue
                self._recent.append((mono, kind != "ok"))
