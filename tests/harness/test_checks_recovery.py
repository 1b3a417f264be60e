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
    h.fault("f1", 5.0, 15.0, expect_um_halt=False, fault="kill", target="ledger-a")  # not a margin breach ...
    h.phase(15.1, "faults_healed", recovery_within_s=10)
    h.request("um_order", 26.0, "ok", "r1")  # ... yet UM came back 11 s after the ledger did
    after_probe(h, 31.0, 1, ["ok"] * 10)
    result = check_fn("recovery")(h.build(), gated())
    assert result.valid is False and "11.01 s after fault f1 was healed" in result.summary
    assert "rto_from_loss_s" not in result.figures and "region_still_down" not in result.figures
    h = HistoryBuilder()
    h.fault("f1", 5.0, 10.0, expect_um_halt=False, fault="partition", target="ledger-a->ledger-b")
    h.fault("f2", 8.0, 20.0, expect_um_halt=False, fault="kill", target="ledger-a")
    h.phase(20.1, "faults_healed", recovery_within_s=10)
    h.request("um_order", 11.0, "fail", "r0", status=503)
    h.request("um_order", 22.0, "ok", "r1")  # one outage, 5..20 s: measured from f2's heal
    after_probe(h, 31.0, 1, ["ok"] * 10)
    result = check_fn("recovery")(h.build(), gated())
    assert result.valid is True and result.figures["outages"] == 1 and 1.9 < result.figures["rto_s"] < 2.1


# ---- a whole region lost: RTO from the loss, the region still down ------------------------------
def region_lost(heal_at: float | None, oks: list[float], *, landed: bool = True, refused: tuple[float, ...] = (8.0,),
                probe: bool = True) -> History:
    """Region A loses power at 5 s (landing 5.001 s), healed at ``heal_at``; UM orders acked at ``oks``
    (one before the loss too), refused at ``refused``; the after-recovery probe at 45 s passes."""
    h = HistoryBuilder()
    h.request("um_order", 2.0, "ok", "r-before")  # before the loss: never its recovery
    h.fault("f1", 5.0, heal_at, expect_um_halt=False, fault="region_power_loss", target="region A", landed=landed)
    h.phase((heal_at or 40.0) + 0.1, "faults_healed", recovery_within_s=10)
    for i, t in enumerate(refused):
        h.request("um_order", t, "info", f"r-down{i}", status=None, error="ConnectionResetError")
    for i, t in enumerate(oks):
        h.request("um_order", t, "ok", f"r{i}", via="gateway-b")
    if probe:
        after_probe(h, 45.0, 1, ["ok"] * 10)
    return h.build()


def test_a_failover_within_the_budget_of_the_loss_passes_the_region_still_down() -> None:
    result = check_fn("recovery")(region_lost(30.0, [9.0, 12.0]), gated())
    assert result.valid is True, result.summary
    assert result.figures["region_still_down"] is True and result.figures["rto_from_loss_s"] == 4.004
    assert result.figures["outages"] == 0 and result.figures["rto_s"] is None  # the loss is not timed from its heal
    assert "4.00 s after a region was lost, the region still down" in result.summary


def test_no_order_until_the_region_is_back_fails_the_rto_from_the_loss() -> None:
    history = region_lost(20.0, [21.0], refused=(8.0, 12.0, 16.0))
    result = check_fn("recovery")(history, gated())
    assert result.valid is False
    assert result.summary == ("UM accepted no order while fault f1 (region A) kept its region down (back 15.00 s "
                              "later): RTO from the loss not met; the first came 16.00 s after the loss, after the heal "
                              "(budget 10.0 s)")
    assert result.figures["region_still_down"] is False and result.figures["rto_from_loss_s"] == 16.004
    landing = next(op for op in history if op.f == "fault" and op.type == "info")
    first = next(op for op in history if op.type == "ok" and op.value["client_id"] == "r0")
    assert result.evidence[0].ops == (landing.index, first.index) and result.evidence[0].time == landing.time
    never = check_fn("recovery")(region_lost(None, [], probe=False), gated())
    assert never.valid is False and "(never back): RTO from the loss not met; none came" in never.summary
    assert never.figures["rto_from_loss_s"] is None and never.figures["region_still_down"] is False


def test_a_failover_slower_than_the_budget_fails_though_the_region_was_still_down() -> None:
    result = check_fn("recovery")(region_lost(30.0, [17.0]), gated())
    assert result.valid is False and result.figures["region_still_down"] is True
    assert "UM accepted orders again 12.00 s after fault f1 (region A) took its region down, the region still down" \
        in result.summary


def test_a_region_back_within_the_budget_and_um_with_it_meets_the_rto_without_a_failover() -> None:
    result = check_fn("recovery")(region_lost(8.0, [9.0], refused=(6.0,)), gated())
    assert result.valid is True and result.figures["region_still_down"] is False
    assert "after the region was back (no failover shown)" in result.summary


def test_a_region_loss_that_did_not_land_is_timed_from_its_heal_as_before() -> None:
    result = check_fn("recovery")(region_lost(20.0, [21.0], landed=False), gated())
    assert result.valid is True and result.figures["outages"] == 1 and 0.9 < result.figures["rto_s"] < 1.1
    assert "rto_from_loss_s" not in result.figures
