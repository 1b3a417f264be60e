"""recovery: RTO after each outage, and the steady state restored after recovery (the after-probe)."""

from __future__ import annotations

from typing import Any

from harness.checks import check_fn
from harness.history import History
from tests.harness.factories import HistoryBuilder, audit

GATE = {"um_order_success_rate": {"min": 0.99}, "p99_ms": {"max": 50.0}}


def gated(**parts: Any) -> dict[str, Any]:
    return audit(config={"risk": {}, "probe_gate": GATE}, **parts)


def after_probe(h: HistoryBuilder, t: float, attempt: int, outcomes: list[str], latency_ms: float = 5.0) -> None:
    """One after-recovery probe attempt: UM orders as the runner records them (phase, attempt)."""
    marks = {"phase": "after", "attempt": attempt}
    for i, outcome in enumerate(outcomes):
        at = t + i * 0.01
        h.add("invoke", "um_order", "probe", at, {"client_id": f"pa{attempt}-{i}", **marks})
        h.add(outcome, "um_order", "probe", at + latency_ms / 1000,
              {"client_id": f"pa{attempt}-{i}", "status": 200 if outcome == "ok" else 503, **marks}, latency_ms)


def healed_at_15(first_ok_at: float | None, probes: list[tuple[int, list[str], float]] | None = None) -> History:
    h = HistoryBuilder()
    h.fault("f1", 5.0, 15.0)
    h.phase(15.1, "faults_healed", recovery_within_s=10)
    h.request("um_order", 16.0, "fail", "r0", status=503, error="UM_HALTED")
    if first_ok_at is not None:
        h.request("um_order", first_ok_at, "ok", "r1")
    for attempt, outcomes, latency in probes if probes is not None else [(1, ["ok"] * 10, 5.0)]:
        after_probe(h, 30.0 + attempt, attempt, outcomes, latency)
    return h.build()


def test_recovery_true_false_unknown() -> None:
    assert check_fn("recovery")(healed_at_15(19.0), gated()).valid is True
    assert check_fn("recovery")(healed_at_15(27.0), gated()).valid is False
    assert check_fn("recovery")(healed_at_15(None), gated()).valid is False
    h = HistoryBuilder()
    h.fault("f1", 5.0, None)
    assert check_fn("recovery")(h.build(), gated()).valid == "unknown"


def test_recovery_judges_the_last_after_probe_against_the_gate() -> None:
    slow_then_fine = [(1, ["ok"] * 10, 80.0), (2, ["ok"] * 10, 5.0)]
    assert check_fn("recovery")(healed_at_15(19.0, slow_then_fine), gated()).valid is True
    refused = [(1, ["ok"] * 5 + ["fail"] * 5, 5.0), (2, ["ok"] * 5 + ["fail"] * 5, 5.0), (3, ["ok"] * 9 + ["fail"], 5.0)]
    result = check_fn("recovery")(healed_at_15(19.0, refused), gated())
    assert result.valid is False and "steady state not restored" in result.summary and "0.90 < 0.99" in result.summary
    slow = [(1, ["ok"] * 10, 80.0), (2, ["ok"] * 10, 90.0), (3, ["ok"] * 10, 70.0)]
    result = check_fn("recovery")(healed_at_15(19.0, slow), gated())  # a busy machine looks the same
    assert result.valid == "unknown" and "p99 70.0 ms > 50.0 ms" in result.summary


def test_recovery_without_after_probe_or_gate_is_unknown() -> None:
    assert check_fn("recovery")(healed_at_15(19.0, []), gated()).valid == "unknown"
    result = check_fn("recovery")(healed_at_15(19.0), audit())
    assert result.valid == "unknown" and "probe gate" in result.summary


def test_recovery_counts_every_healed_fault_and_overlapping_faults_as_one_outage() -> None:
    h = HistoryBuilder()
    h.fault("f1", 5.0, 15.0, expect_um_halt=False, fault="region_power_loss", target="A")  # not a margin breach ...
    h.phase(15.1, "faults_healed", recovery_within_s=10)
    h.request("um_order", 26.0, "ok", "r1")  # ... yet UM came back 11 s after the region did
    after_probe(h, 31.0, 1, ["ok"] * 10)
    result = check_fn("recovery")(h.build(), gated())
    assert result.valid is False and "11.01 s after fault f1 was healed" in result.summary
    h = HistoryBuilder()
    h.fault("f1", 5.0, 10.0, expect_um_halt=False, fault="partition", target="ledger-a->ledger-b")
    h.fault("f2", 8.0, 20.0, expect_um_halt=False, fault="kill", target="ledger-a")
    h.phase(20.1, "faults_healed", recovery_within_s=10)
    h.request("um_order", 11.0, "fail", "r0", status=503)
    h.request("um_order", 22.0, "ok", "r1")  # one outage, 5..20 s: measured from f2's heal
    after_probe(h, 31.0, 1, ["ok"] * 10)
    result = check_fn("recovery")(h.build(), gated())
    assert result.valid is True and result.figures["outages"] == 1 and 1.9 < result.figures["rto_s"] < 2.1
