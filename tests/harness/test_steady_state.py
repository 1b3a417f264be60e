"""The per-phase steady-state check: pure, over hand-made histories."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.checks import check_fn
from harness.checks.steady_state import percentile, steady_state
from harness.errors import BadInput
from harness.scenario import load_scenario
from tests.harness.factories import HistoryBuilder, audit

TOLERANCE = {"before": {"p99_ms": {"max": 50}, "error_rate": {"max": 0.01}},
             "during": {"error_rate": {"max": 0.5}},
             "after": {"p99_ms": {"max": 50}, "um_order_success_rate": {"min": 0.9}}}


def history(*, during_latency: float = 5.0, after_latency: float = 5.0, during_outcome: str = "fail",
            during_status: int | None = 503, during_error: str | None = "UM_HALTED") -> HistoryBuilder:
    h = HistoryBuilder()
    for i in range(40):  # before: 0..4 s
        h.request("um_order", i * 0.1, "ok", f"b{i}", process=f"u{i % 4}")
    h.fault("f1", 5.0, 10.0)
    h.phase(10.01, "faults_healed", recovery_within_s=2.0)
    for i in range(40):  # during: 5..9 s
        h.request("um_order", 5.1 + i * 0.1, during_outcome, f"d{i}", process=f"u{i % 4}", status=during_status,
                  error=during_error, latency_ms=during_latency)
    for i in range(40):  # recovery window 10..12 s is in no phase; after: 12.5.. s
        h.request("um_order", 12.5 + i * 0.1, "ok", f"a{i}", process=f"u{i % 4}", latency_ms=after_latency)
    return h


def test_registered() -> None:
    assert check_fn("steady_state") is steady_state


def test_within_tolerance_in_every_phase_passes_with_figures() -> None:
    result = steady_state(history().build(), audit(config={"steady_state": TOLERANCE}))
    assert result.valid is True, result.summary
    assert result.figures["before.requests"] == 40 and result.figures["during.requests"] == 40
    assert result.figures["after.requests"] == 40
    # halt refusals are refusals, not errors: the during phase's error rate is 0
    assert result.figures["during.error_rate"] == 0.0 and result.figures["during.um_order_success_rate"] == 0.0


def test_p99_over_the_bound_after_recovery_fails() -> None:
    result = steady_state(history(after_latency=80.0).build(), audit(config={"steady_state": TOLERANCE}))
    assert result.valid is False
    assert result.summary == "after: p99_ms 80.0 > 50"
    assert result.figures["after.p99_ms"] == 80.0


def test_unknown_outcomes_during_the_fault_count_as_errors() -> None:
    h = history(during_outcome="info", during_status=None, during_error="ReadTimeout")
    result = steady_state(h.build(), audit(config={"steady_state": TOLERANCE}))
    assert result.valid is False and result.summary == "during: error_rate 1.0 > 0.5"


def test_ops_in_the_recovery_window_belong_to_no_phase() -> None:
    h = history()
    h.request("um_order", 11.0, "ok", "slow", latency_ms=900.0)  # inside heal + recovery.within
    result = steady_state(h.build(), audit(config={"steady_state": TOLERANCE}))
    assert result.valid is True and result.figures["after.requests"] == 40


def test_too_few_requests_is_unknown_not_pass() -> None:
    h = HistoryBuilder()
    for i in range(3):
        h.request("um_order", i * 0.1, "ok", f"b{i}")
    result = steady_state(h.build(), audit(config={"steady_state": {"before": {"p99_ms": {"max": 50}}}}))
    assert result.valid == "unknown"


def test_a_bound_on_requests_that_never_ran_is_unknown() -> None:
    result = steady_state(history().build(), audit(config={"steady_state": {"before": {"spot_success_rate": {"min": 0.9}}}}))
    assert result.valid == "unknown" and "spot" in result.summary


def test_without_a_fault_everything_is_before() -> None:
    h = HistoryBuilder()
    for i in range(20):
        h.request("spot_order", i * 0.1, "ok", f"s{i}", latency_ms=7.0)
    result = steady_state(h.build(), audit(config={"steady_state": TOLERANCE}))
    assert result.valid is True and result.figures["before.requests"] == 20
    assert "during.requests" not in result.figures


def test_no_tolerance_is_vacuous() -> None:
    assert steady_state(history().build(), audit()).valid is True


def test_percentile_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 99) == 99.0 and percentile(values, 50) == 50.0 and percentile([3.0], 99) == 3.0


def test_top_level_keys_fill_before_and_after(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("name: s\nsteady_state: {p99_ms: {max: 50}, during: {error_rate: {max: 0.2}}}\n")
    per_phase = load_scenario(path).steady_state.per_phase()
    assert per_phase == {"before": {"p99_ms": {"max": 50.0}}, "during": {"error_rate": {"max": 0.2}},
                         "after": {"p99_ms": {"max": 50.0}}}


@pytest.mark.parametrize(("text", "message"), [
    ("steady_state:\n  during: {error_rate: {max: 2}}\n", "s.yaml:3: steady_state.during.error_rate.max: must be at least 0 and at most 1"),
    ("steady_state:\n  durin: {}\n", "s.yaml:3: steady_state: unknown field 'durin'"),
    ("load:\n  classes: {market_maker: 0}\n", "s.yaml:3: load.classes: at least one user class weight must be above 0"),
    ("load:\n  classes: {whale: 1}\n", "s.yaml:3: load.classes"),
])
def test_bad_phase_or_class_is_one_line_with_file_and_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("name: s\n" + text)
    with pytest.raises(BadInput) as caught:
        load_scenario(path)
    assert message in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize(("args", "message"), [
    (["--users", "0"], "--users 0: must be from 1 to 10000"),
    (["--duration", "soon"], "--duration soon:"),
    (["--workers", "-1"], "--workers -1: must be from 0 to 64"),
    (["--duration", "3s"], "--duration 3s: ends before the last fault has healed and recovery.within has passed"),
])
def test_umchaos_load_bad_options_exit_3_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                       args: list[str], message: str) -> None:
    from harness.cli import main

    code = main(["--state-dir", str(tmp_path / "state"), "load", "scenarios/margin-latency-halt.yaml",
                 "--report-dir", str(tmp_path), *args])
    err = capsys.readouterr().err.strip()
    assert code == 3 and message in err and len(err.splitlines()) == 1
