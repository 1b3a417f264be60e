"""The mutation self-test: does the gating suite catch every bug switch, and only bugs?

A harness earns trust two ways at once: each realistic defect of the reference exchange (a bug
switch, i.e. a mutant) must make some scenario fail — "killed" — and the correct exchange must pass
every scenario on every seed, since a false alarm teaches people to ignore the gate as surely as a
miss lets a defect through. The matrix logic here is pure (``Matrix``, ``verdict``); running the
cells is ``run_matrix``, each cell one ``umchaos run`` in its own process, so that cells can run
side by side (``--jobs``) and a cell that crashes or hangs is an ``unknown`` cell, not a dead
self-test.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from harness.errors import EXIT_PASS, EXIT_UNKNOWN, EXIT_VIOLATION

__all__ = ["CORRECT", "Cell", "CellResult", "Outcome", "Matrix", "plan_cells", "verdict", "run_cell", "run_matrix"]

CORRECT = "correct"  # the row of the exchange with no bug switch on
# killed: failed by a check expected to catch that bug; wrong_killer: failed, but only by other checks
# (the bug was caught for a reason nobody predicted: the table or the check is wrong, so it is shown)
Outcome = Literal["killed", "wrong_killer", "survived", "unknown", "pass", "false_alarm"]


@dataclass(frozen=True)
class Cell:
    """One run of the matrix: a scenario, a seed, and a bug switch (None: the correct exchange)."""

    scenario: str  # scenario name
    path: str
    seed: int
    bug: str | None
    expected: tuple[str, ...] = ()  # the checks expected to kill this bug (empty: any check counts)

    @property
    def key(self) -> str:
        return f"{self.scenario}-{self.seed}-{self.bug or CORRECT}"


@dataclass(frozen=True)
class CellResult:
    cell: Cell
    status: str  # the run's status: pass / fail / unknown / aborted / error
    failed_checks: tuple[str, ...] = ()
    run_dir: str | None = None
    reason: str | None = None
    seconds: float = 0.0

    @property
    def outcome(self) -> Outcome:
        """What the run says about the harness: a failing mutant is killed, a failing correct run a false alarm."""
        if self.cell.bug is None:
            return {"pass": "pass", "fail": "false_alarm"}.get(self.status, "unknown")  # type: ignore[return-value]
        if self.status == "fail" and self.cell.expected and not set(self.failed_checks) & set(self.cell.expected):
            return "wrong_killer"
        return {"pass": "survived", "fail": "killed"}.get(self.status, "unknown")  # type: ignore[return-value]


def plan_cells(scenarios: Sequence[tuple[str, str, int, tuple[str, ...]]], bugs: Mapping[str, tuple[str, ...]],
               seeds: int) -> list[Cell]:
    """The correct exchange on ``seeds`` seeds per scenario, then every bug on at least two seeds.

    ``scenarios`` are (name, path, base seed, its checks); ``bugs`` maps each bug switch to the
    checks expected to kill it. A bug runs on the scenarios that run one of its expected checks
    (on all of them when it names none): a defect caught only on some seeds shows up per seed."""
    cells = [Cell(name, path, base + i, None) for name, path, base, _ in scenarios for i in range(seeds)]
    for bug, expected in bugs.items():
        chosen = [s for s in scenarios if not expected or set(expected) & set(s[3])] or list(scenarios)
        cells += [Cell(name, path, base + i, bug, expected) for name, path, base, _ in chosen
                  for i in range(max(2, seeds))]
    return cells


@dataclass(frozen=True)
class Matrix:
    """All cell results, and the views the reports need."""

    scenarios: tuple[str, ...]
    bugs: tuple[str, ...]
    results: tuple[CellResult, ...]

    def row(self, bug: str | None) -> dict[str, list[CellResult]]:
        cells: dict[str, list[CellResult]] = {s: [] for s in self.scenarios}
        for r in self.results:
            if r.cell.bug == bug:
                cells[r.cell.scenario].append(r)
        return cells

    def bug_status(self, bug: str) -> Outcome:
        """killed (by an expected check) in any cell; else wrong_killer if some other check failed it;
        survived when every cell passed; otherwise unknown."""
        outcomes = {r.outcome for rs in self.row(bug).values() for r in rs}
        for status in ("killed", "wrong_killer"):
            if status in outcomes:
                return status  # type: ignore[return-value]
        return "survived" if outcomes == {"survived"} else "unknown"

    def kills(self, bug: str) -> tuple[int, int]:
        """(cells that killed the bug, cells that ran it): the per-seed view of one row."""
        cells = [r for rs in self.row(bug).values() for r in rs]
        return sum(r.outcome == "killed" for r in cells), len(cells)

    def false_alarms(self) -> list[CellResult]:
        return [r for r in self.results if r.outcome == "false_alarm"]

    def correct_unknown(self) -> list[CellResult]:
        return [r for r in self.results if r.cell.bug is None and r.outcome == "unknown"]


def verdict(matrix: Matrix) -> tuple[int, str]:
    """Exit code and one line: 1 for a surviving mutant or a false alarm, 2 when something is
    undecided, 0 when every mutant is killed and the correct exchange passed everywhere."""
    survivors = [b for b in matrix.bugs if matrix.bug_status(b) in ("survived", "wrong_killer")]
    undecided = [b for b in matrix.bugs if matrix.bug_status(b) == "unknown"]
    alarms, unsure = matrix.false_alarms(), matrix.correct_unknown()
    killed = sum(matrix.bug_status(b) == "killed" for b in matrix.bugs)
    correct_runs = sum(r.cell.bug is None for r in matrix.results)
    parts = [f"{killed}/{len(matrix.bugs)} bug switches killed",
             f"{len(alarms)} false alarm(s) in {correct_runs} run(s) of the correct exchange"]
    if survivors:
        parts.append("not killed by an expected check: " + ", ".join(
            f"{b} ({matrix.bug_status(b)})" for b in survivors))
    if alarms:
        parts.append("false alarms: " + ", ".join(f"{r.cell.scenario} seed {r.cell.seed} "
                                                  f"({', '.join(r.failed_checks)})" for r in alarms))
    if undecided or unsure:
        parts.append(f"undecided: {', '.join(undecided + [r.cell.key for r in unsure])}")
    code = EXIT_VIOLATION if survivors or alarms else EXIT_UNKNOWN if undecided or unsure else EXIT_PASS
    return code, ("PASS " if code == EXIT_PASS else "FAIL " if code == EXIT_VIOLATION else "UNKNOWN ") + "; ".join(parts)


# ---- running the cells ---------------------------------------------------------------------------

def _read_result(folder: Path) -> tuple[str, tuple[str, ...], str | None, str | None]:
    """status, failed checks, run folder, reason — from the one result.json a cell's run wrote."""
    found = sorted(folder.glob("*/result.json"))
    if not found:
        return "unknown", (), None, "the run wrote no result.json"
    data = json.loads(found[-1].read_text())
    failed = tuple(c["name"] for c in data.get("checks", []) if c.get("status") == "fail")
    return str(data.get("status", "unknown")), failed, str(found[-1].parent), data.get("reason")


def run_cell(cell: Cell, out_dir: Path, state_dir: Path, timeout_s: float, backend: str = "local") -> CellResult:
    """One ``umchaos run`` in its own process group; a hang is stopped (SIGTERM, so it heals) and
    counts as unknown."""
    folder = out_dir / "runs" / cell.key
    folder.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "harness.cli", "-q", "--state-dir", str(state_dir), "run", cell.path,
               "--seed", str(cell.seed), "--bugs", cell.bug or "", "--report-dir", str(folder), "--backend", backend]
    started = time.monotonic()
    with (folder / "umchaos.log").open("wb") as log:
        proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            return CellResult(cell, "unknown", (), None, f"no verdict within {timeout_s:.0f} s",
                              time.monotonic() - started)
    try:
        status, failed, run_dir, reason = _read_result(folder)
    except (OSError, ValueError) as exc:
        status, failed, run_dir, reason = "unknown", (), None, f"unreadable result: {exc}"
    return CellResult(cell, status, failed, run_dir, reason, round(time.monotonic() - started, 1))


def run_matrix(cells: Sequence[Cell], *, out_dir: Path, state_dir: Path, jobs: int, timeout_s: float,
               on_result: Callable[[CellResult, int, int], None], backend: str = "local") -> list[CellResult]:
    """Run every cell, ``jobs`` at a time, reporting each result as it comes."""
    done: list[CellResult] = []

    def one(cell: Cell) -> CellResult:
        result = run_cell(cell, out_dir, state_dir, timeout_s, backend)
        done.append(result)
        on_result(result, len(done), len(cells))
        return result

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        results = list(pool.map(one, cells))
    # A cell left undecided (most often: two runs at once on a small machine, too busy for the
    # steady state) says nothing yet about the exchange: run it again, alone, before the matrix is
    # decided. What stays undecided alone is reported as such.
    for i, result in enumerate(results):
        if result.status not in ("pass", "fail"):
            results[i] = run_cell(result.cell, out_dir / "rerun", state_dir, timeout_s, backend)
            on_result(results[i], len(done), len(cells))
    return results
