"""The risk guard state machine: halts on a breach within budget, resumes with hysteresis."""

from __future__ import annotations

from targets.umref.config import RiskBudget
from targets.umref.riskguard import RiskGuard

BUDGET = RiskBudget()


def feed(guard: RiskGuard, start: float, end: float, latency: float, every: float = 0.1, tick: float = 0.025) -> list:
    """Simulate heartbeats of fixed latency between start and end, ticking the guard; return transitions."""
    transitions = []
    calls: list[tuple[float, int]] = []
    t = start
    next_call = start
    while t < end:
        if t >= next_call:
            calls.append((t + latency, guard.call_started(t)))
            next_call += every
        for done_at, token in [c for c in calls if c[0] <= t]:
            guard.call_finished(token, done_at, ok=True)
            calls.remove((done_at, token))
        if (tr := guard.tick(t)) is not None:
            transitions.append(tr)
        t = round(t + tick, 6)
    for done_at, token in calls:  # calls in flight complete after the window
        guard.call_finished(token, done_at, ok=True)
    return transitions


def test_fast_margin_never_halts() -> None:
    guard = RiskGuard(BUDGET)
    assert feed(guard, 0, 10, latency=0.005) == []
    assert not guard.halted


def test_latency_breach_halts_within_250ms_of_breach() -> None:
    guard = RiskGuard(BUDGET)
    feed(guard, 0, 2, latency=0.005)
    transitions = feed(guard, 2, 4, latency=0.8)
    assert transitions and transitions[0].kind == "halt"
    # first slow call starts at 2.0; breach when its age passes 200 ms (2.2); halt within 250 ms of that
    assert 2.2 <= transitions[0].time <= 2.2 + BUDGET.halt_within_ms / 1000
    assert guard.halted


def test_black_hole_detected_without_waiting_for_timeout() -> None:
    guard = RiskGuard(BUDGET)
    guard.call_started(0.0)  # never finishes
    assert guard.tick(0.1) is None
    tr = guard.tick(0.25)
    assert tr is not None and tr.kind == "halt"


def test_unreachable_margin_halts() -> None:
    guard = RiskGuard(BUDGET)
    token = guard.call_started(1.0)
    guard.call_finished(token, 1.001, ok=False)
    tr = guard.tick(1.01)
    assert tr is not None and "unreachable" in tr.reason


def test_resumes_only_after_healthy_period() -> None:
    guard = RiskGuard(BUDGET)
    feed(guard, 0, 2, latency=0.8)
    assert guard.halted
    transitions = feed(guard, 2, 4, latency=0.005)  # 2 s healthy < 3 s needed
    assert guard.halted and transitions == []
    transitions = feed(guard, 4, 8, latency=0.005)
    assert [t.kind for t in transitions] == ["resume"]
    assert guard.resumed_at is not None and guard.resumed_at >= 2.8 + BUDGET.healthy_for_ms / 1000


def test_no_flapping_when_latency_hovers_at_budget() -> None:
    """Latency alternating just above and just below the budget: one halt, no resume storm."""
    guard = RiskGuard(BUDGET)
    transitions = []
    for i in range(20):  # 20 s alternating 150 ms / 250 ms seconds
        transitions += feed(guard, i, i + 1, latency=0.25 if i % 2 else 0.15)
    kinds = [t.kind for t in transitions]
    assert kinds.count("halt") == 1 and kinds.count("resume") == 0


def test_no_halt_bug_never_halts() -> None:
    guard = RiskGuard(BUDGET, never_halt=True)
    assert feed(guard, 0, 3, latency=0.9) == []
    assert guard.breach(3.0) is not None  # it sees the breach and does nothing
