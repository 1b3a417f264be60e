"""The UM risk guard: a pure state machine over timed margin calls.

Matching reports every margin call (start, finish, failed) and ticks the guard often. The guard
halts UM when margin latency breaches the budget — p99 over the window above ``p99_ms``, any
call older than ``max_call_ms``, or margin unreachable — and resumes only after margin has been
healthy (p99 below the lower ``resume_p99_ms``, no failure) for ``healthy_for_ms``. The two
thresholds and the healthy period are the hysteresis that stops halt/resume flapping when
latency hovers at the budget. Calls still in flight count with their current age, so a black
hole is detected without waiting for a timeout.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

from targets.umref.config import RiskBudget

__all__ = ["Transition", "RiskGuard"]


@dataclass(frozen=True)
class Transition:
    kind: str  # "halt" | "resume"
    time: float
    reason: str


class RiskGuard:
    """Decides HALTED / running from margin-call timings; all times in seconds."""

    def __init__(self, budget: RiskBudget, *, never_halt: bool = False) -> None:
        self.budget = budget
        self.never_halt = never_halt  # the `no_halt` bug switch
        self.halted = False
        self.halted_since: float | None = None
        self.resumed_at: float | None = None
        self._done: deque[tuple[float, float]] = deque()  # (finish time, latency s)
        self._failures: deque[float] = deque()  # times of failed calls
        self._in_flight: dict[int, float] = {}  # token -> start time
        self._next_token = 0
        self._healthy_since: float | None = None

    def call_started(self, now: float) -> int:
        self._next_token += 1
        self._in_flight[self._next_token] = now
        return self._next_token

    def call_finished(self, token: int, now: float, *, ok: bool) -> None:
        started = self._in_flight.pop(token, now)
        if ok:
            self._done.append((now, now - started))
        else:
            self._failures.append(now)

    def _forget_before(self, horizon: float) -> None:
        while self._done and self._done[0][0] < horizon:
            self._done.popleft()
        while self._failures and self._failures[0] < horizon:
            self._failures.popleft()

    def p99_s(self, now: float) -> float:
        """p99 (nearest rank) of latencies finished in the window plus ages of calls in flight."""
        samples = [lat for _, lat in self._done] + [now - t for t in self._in_flight.values()]
        if not samples:
            return 0.0
        samples.sort()
        return samples[max(0, math.ceil(0.99 * len(samples)) - 1)]

    def breach(self, now: float) -> str | None:
        """Why the budget is breached now, or None."""
        self._forget_before(now - self.budget.window_ms / 1000)
        if self._failures:
            return "margin unreachable"
        oldest = min(self._in_flight.values(), default=now)
        if now - oldest > self.budget.max_call_ms / 1000:
            return f"margin call in flight for {1000 * (now - oldest):.0f} ms > {self.budget.max_call_ms} ms"
        p99 = self.p99_s(now)
        if p99 > self.budget.p99_ms / 1000:
            return f"margin p99 {1000 * p99:.0f} ms > {self.budget.p99_ms} ms over {self.budget.window_ms} ms"
        return None

    def carry_on_halt(self, since: float) -> None:
        """Take over a halt another engine declared and never lifted: it ends as any halt does,
        after margin has been healthy here for the budget's period."""
        self.halted, self.halted_since, self._healthy_since = True, since, None

    def tick(self, now: float) -> Transition | None:
        """Advance the machine; returns the transition that happened, if any."""
        reason = self.breach(now)
        if not self.halted:
            if reason and not self.never_halt:
                self.halted, self.halted_since, self._healthy_since = True, now, None
                return Transition("halt", now, reason)
            return None
        healthy = reason is None and self.p99_s(now) <= self.budget.resume_p99_ms / 1000
        if not healthy:
            self._healthy_since = None
            return None
        if self._healthy_since is None:
            self._healthy_since = now
        if now - self._healthy_since >= self.budget.healthy_for_ms / 1000:
            self.halted, self.resumed_at = False, now
            return Transition("resume", now, f"margin healthy for {self.budget.healthy_for_ms} ms")
        return None
