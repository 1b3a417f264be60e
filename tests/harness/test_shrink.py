"""Shrinking: the search is pure and tested on predicates; one real failing run shrinks to its cause."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.errors import BadInput
from harness.scenario import load_scenario
from harness.schedule import Schedule, ScheduledFault, build_schedule
from harness.shrink import Budget, ddmin, schedule_of, shorter, shrink_run


def fault(n: int, at: float = 1.0, length: float | None = 8.0, kind: str = "latency") -> ScheduledFault:
    return ScheduledFault(f"f{n}", kind, at, length, {"link": "matching->margin"}, {"latency_ms": 800}, (0, 0))


def test_ddmin_finds_the_one_essential_item_among_many() -> None:
    calls: list[list[int]] = []

    def fails(items: list[int]) -> bool:
        calls.append(items)
        return 13 in items

    assert ddmin(list(range(20)), fails) == [13]
    assert len(calls) < 20  # halving, not one item at a time


def test_ddmin_keeps_a_pair_that_only_fails_together() -> None:
    assert sorted(ddmin(list(range(8)), lambda items: 2 in items and 6 in items)) == [2, 6]


def test_ddmin_keeps_everything_when_nothing_smaller_fails() -> None:
    assert ddmin([1, 2, 3], lambda items: len(items) == 3) == [1, 2, 3]


def test_shorter_halves_durations_while_the_failure_holds_and_not_below_half_a_second() -> None:
    shortened = shorter([fault(1, length=8.0), fault(2, length=None, kind="price_shock")],
                        lambda fs: (fs[0].duration_s or 0) >= 2.0)
    assert [f.duration_s for f in shortened] == [2.0, None]
    assert [f.duration_s for f in shorter([fault(1, length=1.0)], lambda fs: True)] == [0.5]


def test_the_budget_caps_runs_and_remembers_answers() -> None:
    runs: list[str] = []
    budget = Budget(2, lambda c: runs.append(c) or True)
    assert budget("a", "a") and budget("a", "a") and budget("b", "b")
    assert not budget("c", "c")  # exhausted: "does not fail", so the search stops shrinking
    assert runs == ["a", "b"]


def test_a_candidate_run_is_only_as_long_as_its_faults_need() -> None:
    original = Schedule(7, (fault(1, at=5.0, length=10.0), fault(2, at=30.0, length=10.0)), 60.0, 10.0)
    assert schedule_of([original.faults[0]], original).duration_s == 5.0 + 10.0 + 10.0 + 5.0


def test_a_run_that_did_not_fail_is_bad_input(tmp_path: Path) -> None:
    (tmp_path / "result.json").write_text(json.dumps({"status": "pass", "checks": [], "scenario_file": "x",
                                                      "seed": 1, "scenario_hash": "0" * 64}))
    (tmp_path / "schedule.json").write_text(json.dumps(
        {"seed": 1, "duration_s": 10, "recovery_within_s": 5, "faults": []}))
    with pytest.raises(BadInput, match="did not fail"):
        shrink_run(tmp_path, max_runs=3, out=None, run=lambda s: (), say=print)
    proc = subprocess.run([sys.executable, "-m", "harness.cli", "--state-dir", str(tmp_path / "s"), "shrink",
                           str(tmp_path / "missing")], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 3 and len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr


def test_a_scenario_file_changed_since_the_run_is_bad_input(tmp_path: Path) -> None:
    scenario = tmp_path / "s.yaml"
    scenario.write_text("name: s\ntimeline:\n  - {at: 1s, fault: latency, link: matching->margin, "
                        "params: {latency_ms: 800}, for: 2s}\n")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "result.json").write_text(json.dumps({
        "status": "fail", "checks": [{"name": "safe_halt", "status": "fail"}], "scenario_file": str(scenario),
        "scenario_hash": "0" * 64, "seed": 1, "bugs": ["no_halt"]}))
    (run_dir / "schedule.json").write_text(json.dumps(build_schedule(load_scenario(scenario), 1).to_dict()))
    ran: list[Schedule] = []
    with pytest.raises(BadInput, match="changed since .* ran"):
        shrink_run(run_dir, max_runs=3, out=None, run=lambda s: ran.append(s) or ("safe_halt",), say=print)
    assert not ran  # refused before any re-run


PLANTED = """\
# Three faults; with no_halt only the slow margin link makes safe_halt fail.
name: planted
seed: 3
load: {users: 10, spawn_rate: 10, mix: {um_order: 6, cancel: 2, spot_order: 3}}
timeline:
  - {at: 1s, fault: latency, link: gateway->auth, params: {latency_ms: 20}, for: 2s}
  - {at: 2s, fault: latency, link: matching->margin, params: {latency_ms: 800}, for: 3s}
  - {at: 3s, fault: price_shock, params: {asset: ETH, move_pct: 1}}
recovery: {within: 2s}
duration: 7s
checks: [safe_halt, rollback]
"""


@pytest.mark.integration
@pytest.mark.slow
def test_a_planted_failing_schedule_shrinks_to_its_one_essential_fault(tmp_path: Path) -> None:
    scenario = tmp_path / "planted.yaml"
    scenario.write_text(PLANTED)
    base = [sys.executable, "-m", "harness.cli", "-q", "--state-dir", str(tmp_path / "state")]
    failed = subprocess.run([*base, "run", str(scenario), "--bugs", "no_halt", "--report-dir", str(tmp_path / "r")],
                            capture_output=True, text=True, timeout=300)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    run_dir = next((tmp_path / "r").glob("*/result.json")).parent
    proc = subprocess.run([*base, "shrink", str(run_dir), "--max-runs", "4", "--out", str(tmp_path / "small.yaml")],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "shrunk 3 fault(s)" in proc.stdout and "to 1 fault(s)" in proc.stdout and "still fails safe_halt" in proc.stdout
    small = load_scenario(tmp_path / "small.yaml")
    assert [(f.fault, f.target) for f in small.timeline] == [("latency", {"link": "matching->margin"})]
    assert small.target.bugs == ("no_halt",) and small.seed == 3
    assert "Shrunk by `umchaos shrink` from" in (tmp_path / "small.yaml").read_text()
