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
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from harness.errors import EXIT_PASS, EXIT_UNKNOWN, EXIT_VIOLATION
from harness.procs import stop_group

if TYPE_CHECKING:
    from harness.targets.external import ExternalTarget

__all__ = ["CORRECT", "Cell", "CellResult", "Outcome", "Matrix", "plan_cells", "verdict", "run_cell", "run_matrix",
           "SwitchedPlatform"]

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


def run_cell(cell: Cell, out_dir: Path, state_dir: Path, timeout_s: float, backend: str = "local",
             target_file: Path | None = None) -> CellResult:
    """One ``umchaos run`` in its own process group; a hang is stopped (SIGTERM, so it heals) and
    counts as unknown. With ``target_file`` the run is against that running platform, which the
    caller brought up with the cell's switch."""
    folder = out_dir / "runs" / cell.key
    folder.mkdir(parents=True, exist_ok=True)
    where = ["--target-file", str(target_file)] if target_file is not None else \
        ["--bugs", cell.bug or "", "--backend", backend]
    command = [sys.executable, "-m", "harness.cli", "-q", "--state-dir", str(state_dir), "run", cell.path,
               "--seed", str(cell.seed), "--report-dir", str(folder), *where]
    started = time.monotonic()
    with (folder / "umchaos.log").open("wb") as log:
        proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            stop_group(proc, grace_s=60)
            return CellResult(cell, "unknown", (), None, f"no verdict within {timeout_s:.0f} s",
                              time.monotonic() - started)
    try:
        status, failed, run_dir, reason = _read_result(folder)
    except (OSError, ValueError) as exc:
        status, failed, run_dir, reason = "unknown", (), None, f"unreadable result: {exc}"
    return CellResult(cell, status, failed, run_dir, reason, round(time.monotonic() - started, 1))


def run_matrix(cells: Sequence[Cell], *, out_dir: Path, state_dir: Path, jobs: int, timeout_s: float,
               on_result: Callable[[CellResult, int, int], None], backend: str = "local",
               platform: SwitchedPlatform | None = None) -> list[CellResult]:
    """Run every cell, ``jobs`` at a time, reporting each result as it comes. With ``platform``
    (a running platform the harness did not start) the cells run one at a time, grouped by switch,
    the platform restarted with each."""
    done: list[CellResult] = []  # first runs, counted for the progress line (appended from the pool's threads)

    def one(cell: Cell, folder: Path = out_dir) -> CellResult:
        if platform is not None and (why := platform.switch_to(cell.bug)) is not None:
            result = CellResult(cell, "unknown", (), None, why)
        else:
            result = run_cell(cell, folder, state_dir, timeout_s, backend,
                              platform.target.file if platform is not None else None)
        if folder == out_dir:
            done.append(result)
        on_result(result, len(done), len(cells))
        return result

    if platform is not None:  # one restart per switch: the cells grouped by it, reported in plan order
        by_index = {i: one(cells[i]) for i in sorted(range(len(cells)), key=lambda i: (cells[i].bug or "", i))}
        results = [by_index[i] for i in range(len(cells))]
    else:
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            results = list(pool.map(one, cells))
    # A cell left undecided (most often: two runs at once on a small machine, too busy for the
    # steady state) says nothing yet about the exchange: run it again, alone, before the matrix is
    # decided. What stays undecided alone is reported as such.
    for i, result in enumerate(results):
        if result.status not in ("pass", "fail"):
            results[i] = one(result.cell, out_dir / "rerun")
    return results


class SwitchedPlatform:
    """A platform the harness did not start, restarted by the self-test with one bug switch on at
    a time (its topology file's ``switches.up``). The command runs in its own session and is the
    only thing started; ``close`` stops it (SIGTERM to its group, SIGKILL if it lingers)."""

    READY_S = 180.0

    def __init__(self, target: ExternalTarget, log: Path) -> None:
        self.target, self.log = target, log
        self.proc: subprocess.Popen[bytes] | None = None
        self.bug: str | None = None

    def switch_to(self, bug: str | None) -> str | None:
        """The platform up with ``bug`` on (None: none); None once it is ready, else why not."""
        if self.proc is not None and self.proc.poll() is None and bug == self.bug:
            return None
        self.close()
        self.bug = bug
        argv = [a.replace("{bugs}", bug or "").replace("{python}", sys.executable) for a in self.target.switch_up]
        started = time.time()
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(argv, cwd=self.target.switch_cwd, stdout=out, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True)
        return self._ready(started)

    def _ready(self, started: float) -> str | None:
        from harness.http import target_session

        accounts = self.target.accounts_file
        deadline = time.monotonic() + self.READY_S
        with target_session() as http:
            while time.monotonic() < deadline:
                if self.proc is not None and self.proc.poll() is not None:
                    return f"switches.up exited with {self.proc.returncode} (see {self.log})"
                fresh = accounts is not None and accounts.exists() and accounts.stat().st_mtime >= started
                if fresh and all(self._healthy(http, s) for s in self.target.topology.services):
                    return None
                time.sleep(0.5)
        return f"the platform was not ready within {self.READY_S:.0f} s of switches.up (see {self.log})"

    def _healthy(self, http: Any, service: str) -> bool:
        try:
            return bool(http.get(self.target.urls[service] + self.target.health[service], timeout=2).status_code == 200)
        except OSError:
            return False

    def close(self) -> None:
        if self.proc is not None:
            stop_group(self.proc, grace_s=60)
