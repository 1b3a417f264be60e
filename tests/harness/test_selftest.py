"""The mutation matrix: planning, verdicts and reports are pure; one small real self-test runs it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.errors import EXIT_PASS, EXIT_UNKNOWN, EXIT_VIOLATION
from harness.report.selftest_matrix import matrix_rows, render_html, write_matrix
from harness.selftest import Cell, CellResult, Matrix, plan_cells, verdict

SCENARIOS = (("halt", "scenarios/halt.yaml", 42, ("safe_halt", "rollback")),
             ("auth", "scenarios/auth.yaml", 17, ("auth_fail_closed", "rollback")))
KILLERS = {"no_halt": ("safe_halt",), "fail_open_auth": ("auth_fail_closed",)}
BUGS = tuple(KILLERS)
ANY = {"no_halt": (), "fail_open_auth": ()}  # no expectation: every scenario, any check


def results(status: dict[tuple[str, int, str | None], str]) -> Matrix:
    """A matrix where every planned cell passed unless ``status`` says otherwise."""
    cells = plan_cells(SCENARIOS, ANY, seeds=2)
    made = [CellResult(c, status.get((c.scenario, c.seed, c.bug), "pass"),
                       ("safe_halt",) if status.get((c.scenario, c.seed, c.bug)) == "fail" else ()) for c in cells]
    return Matrix(tuple(s[0] for s in SCENARIOS), BUGS, tuple(made))


def test_plan_runs_the_correct_exchange_on_each_seed_and_each_bug_on_two_seeds_where_it_is_expected() -> None:
    cells = plan_cells(SCENARIOS, KILLERS, seeds=1)
    correct = [c for c in cells if c.bug is None]
    assert [(c.scenario, c.seed) for c in correct] == [("halt", 42), ("auth", 17)]
    assert {(c.scenario, c.bug, c.seed) for c in cells if c.bug} == {
        ("halt", "no_halt", 42), ("halt", "no_halt", 43), ("auth", "fail_open_auth", 17), ("auth", "fail_open_auth", 18)}
    cells = plan_cells(SCENARIOS, ANY, seeds=3)  # no expectation: every scenario
    assert len([c for c in cells if c.bug == "no_halt"]) == 6
    assert len({c.key for c in cells}) == len(cells)  # each cell has its own run folder


def test_a_kill_by_a_check_nobody_expected_is_flagged_not_counted() -> None:
    cells = plan_cells(SCENARIOS, KILLERS, seeds=1)
    made = tuple(CellResult(c, "fail" if c.bug else "pass", ("rollback",) if c.bug == "no_halt" else
                            ("auth_fail_closed",) if c.bug else ()) for c in cells)
    matrix = Matrix(("halt", "auth"), BUGS, made)
    assert matrix.bug_status("no_halt") == "wrong_killer" and matrix.bug_status("fail_open_auth") == "killed"
    assert matrix.kills("fail_open_auth") == (2, 2) and matrix.kills("no_halt") == (0, 2)
    code, line = verdict(matrix)
    assert code == EXIT_VIOLATION and "not killed by an expected check: no_halt (wrong_killer)" in line


def test_every_bug_killed_and_no_false_alarm_passes() -> None:
    matrix = results({("halt", 42, "no_halt"): "fail", ("auth", 17, "fail_open_auth"): "fail"})
    code, line = verdict(matrix)
    assert code == EXIT_PASS and line.startswith("PASS 2/2 bug switches killed; 0 false alarm(s) in 4 run(s)")
    assert matrix.bug_status("no_halt") == "killed"


def test_a_bug_that_survives_every_scenario_fails_the_selftest() -> None:
    code, line = verdict(results({("halt", 42, "no_halt"): "fail"}))
    assert code == EXIT_VIOLATION and "not killed by an expected check: fail_open_auth (survived)" in line


def test_a_false_alarm_on_any_seed_fails_the_selftest_even_when_every_bug_is_killed() -> None:
    code, line = verdict(results({("halt", 42, "no_halt"): "fail", ("auth", 17, "fail_open_auth"): "fail",
                                  ("auth", 18, None): "fail"}))
    assert code == EXIT_VIOLATION and "false alarms: auth seed 18 (safe_halt)" in line


def test_undecided_runs_make_the_selftest_unknown_not_pass() -> None:
    killed = {("halt", 42, "no_halt"): "fail"}
    code, line = verdict(results({**killed, ("halt", 42, "fail_open_auth"): "unknown"}))
    assert code == EXIT_UNKNOWN and "undecided: fail_open_auth" in line  # never killed, not all survived
    code, line = verdict(results({**killed, ("auth", 17, "fail_open_auth"): "fail", ("halt", 43, None): "aborted"}))
    assert code == EXIT_UNKNOWN and "halt-43-correct" in line


def test_reports_show_each_cell_and_escape_what_they_print(tmp_path: Path) -> None:
    matrix = results({("halt", 42, "no_halt"): "fail", ("auth", 18, None): "fail"})
    rows = {label: (texts, status) for label, texts, status in matrix_rows(matrix)}
    assert rows["correct"] == (["pass 2/2", "pass 1/2, 1 FALSE ALARM"], "false alarm")
    assert rows["no_halt"] == (["killed 1/2, survived 1/2 (safe_halt)", "survived 2/2"], "killed")
    assert rows["fail_open_auth"][1] == "survived"
    hostile = Matrix(("<script>x</script>",), (), (CellResult(Cell("<script>x</script>", "p", 1, None), "pass"),))
    assert "<script>x" not in render_html(hostile, "PASS <b>")
    json_path, html_path = write_matrix(tmp_path, matrix, verdict(matrix)[1])
    data = json.loads(json_path.read_text())
    assert data["bug_status"] == {"no_halt": "killed", "fail_open_auth": "survived"}
    assert data["false_alarms"] == ["auth-18-correct"]
    assert data["kills"]["no_halt"] == {"killed": 1, "cells": 4}
    assert len(data["cells"]) == 12 and html_path.read_text().count("<tr>") == 4


def test_bad_options_are_one_line_and_exit_3(tmp_path: Path) -> None:
    for args in (["--seeds", "0"], ["--bugs", "no_such_bug"], ["--tag", "no-such-tag"]):
        proc = subprocess.run([sys.executable, "-m", "harness.cli", "--state-dir", str(tmp_path), "selftest", *args],
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 3 and len(proc.stderr.strip().splitlines()) == 1, (args, proc.stderr)


@pytest.mark.integration
@pytest.mark.slow
def test_a_real_selftest_kills_a_bug_on_two_seeds_and_passes_the_correct_exchange(tmp_path: Path) -> None:
    # auth-partition cut short (3 s of auth down instead of 8 s): the self-test's machinery is what is tested here
    scenario = Path(__file__).parent / "scenarios_extra" / "short-auth-partition.yaml"
    proc = subprocess.run([sys.executable, "-m", "harness.cli", "--state-dir", str(tmp_path / "state"), "selftest",
                           str(scenario), "--tag", "", "--seeds", "1", "--bugs", "fail_open_auth",
                           "--jobs", "2", "--report-dir", str(tmp_path / "reports")],
                          capture_output=True, text=True, timeout=400)
    assert proc.returncode == EXIT_PASS, proc.stdout + proc.stderr
    data = json.loads(next((tmp_path / "reports").glob("selftest-*/selftest.json")).read_text())
    assert data["bug_status"] == {"fail_open_auth": "killed"} and data["false_alarms"] == []
    assert data["kills"]["fail_open_auth"] == {"killed": 2, "cells": 2}  # each bug on two seeds
    assert {c["outcome"] for c in data["cells"] if c["bug"] is None} == {"pass"}
    killed = next(c for c in data["cells"] if c["bug"] == "fail_open_auth")
    assert killed["expected"] == ["auth_fail_closed"] and data["expected_killers"] == {"fail_open_auth": ["auth_fail_closed"]}
    assert "auth_fail_closed" in killed["failed_checks"] and Path(killed["run_dir"], "report.html").exists()
    assert "PASS 1/1 bug switches killed" in proc.stdout
