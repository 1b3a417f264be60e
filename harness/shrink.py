"""``umchaos shrink RUN_DIR``: a smaller schedule that still fails the same way.

A failing random schedule is hard to read: most of its faults did nothing. Shrinking re-runs the
scenario with fewer faults (delta debugging over the schedule, as Hypothesis and QuickCheck shrink
their examples), then with shorter faults, and keeps each candidate that still violates one of the
run's failing checks. The search is pure (``ddmin``, ``shorter``) over a predicate; only
``shrink_run`` runs anything. Every re-run is a whole run, so the search is bounded by a budget.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

import yaml

from harness.errors import BadInput
from harness.inputs import RunFolder, read_run_folder
from harness.scenario import load_scenario
from harness.schedule import SETTLE_S, Schedule, ScheduledFault

__all__ = ["Budget", "ddmin", "shorter", "ShrinkResult", "failed_run", "shrink_run", "scenario_text"]

T = TypeVar("T")
MIN_FAULT_S = 0.5  # no shorter fault than this: below it a fault is mostly its own set-up


class Budget:
    """How many more candidates may be tried; an exhausted budget answers "does not fail"."""

    def __init__(self, runs: int, test: Callable[[Any], bool]) -> None:
        self.left = runs
        self._test = test
        self._seen: dict[str, bool] = {}

    def __call__(self, candidate: Any, key: str) -> bool:
        if key in self._seen:
            return self._seen[key]
        if self.left <= 0:
            return False
        self.left -= 1
        self._seen[key] = verdict = self._test(candidate)
        return verdict


def ddmin(items: Sequence[T], fails: Callable[[list[T]], bool]) -> list[T]:
    """The smallest sublist found that still fails (Zeller's delta debugging: try each chunk
    alone, then each complement, refining the chunks when neither fails)."""
    current, n = list(items), 2
    while len(current) >= 2:
        size = math.ceil(len(current) / n)
        chunks = [current[i:i + size] for i in range(0, len(current), size)]
        smaller = next((c for c in chunks if fails(c)), None)
        if smaller is not None:
            current, n = smaller, 2
            continue
        complements = ([x for c2 in chunks if c2 is not c for x in c2] for c in chunks) if n > 2 else iter(())
        smaller = next((c for c in complements if fails(c)), None)
        if smaller is not None:
            current, n = smaller, max(n - 1, 2)
            continue
        if n >= len(current):
            break
        n = min(len(current), 2 * n)
    return current


def shorter(faults: Sequence[ScheduledFault], fails: Callable[[list[ScheduledFault]], bool]) -> list[ScheduledFault]:
    """Halve each fault's duration while the shorter schedule still fails."""
    current = list(faults)
    for i in range(len(current)):
        while (length := current[i].duration_s) is not None and length / 2 >= MIN_FAULT_S:
            candidate = [*current[:i], replace(current[i], duration_s=round(length / 2, 1)), *current[i + 1:]]
            if not fails(candidate):
                break
            current = candidate
    return current


def _key(faults: Sequence[ScheduledFault]) -> str:
    return ";".join(f"{f.id}:{f.duration_s}" for f in faults)


def schedule_of(faults: Sequence[ScheduledFault], original: Schedule) -> Schedule:
    """A candidate schedule: these faults, and a run just long enough for them and the recovery."""
    last_end = max((f.end_s for f in faults), default=0.0)
    duration = min(original.duration_s, last_end + original.recovery_within_s + SETTLE_S)
    return Schedule(original.seed, tuple(faults), max(duration, 1.0), original.recovery_within_s)


@dataclass(frozen=True)
class ShrinkResult:
    original: Schedule
    smallest: Schedule
    checks: tuple[str, ...]  # the failing checks the smallest schedule still violates
    runs: int
    written: Path


def failed_run(run_dir: Path) -> RunFolder:
    """A run folder, checked as replay checks it, that failed with faults to shrink, and whose
    scenario file is unchanged since (re-runs of a changed file would not test the run's load)."""
    folder = read_run_folder(run_dir, need_hash=True)
    if folder.status != "fail" or not folder.failing:
        raise BadInput(f"{run_dir}: the run did not fail (status {folder.status or 'not stored'}): nothing to shrink")
    if not folder.schedule.faults:
        raise BadInput(f"{run_dir}: the failing run had no faults: nothing to shrink")
    source = folder.scenario_file
    load_scenario(source)  # still a valid scenario: the shrunk file is made from it
    if folder.scenario_hash != hashlib.sha256(source.read_bytes()).hexdigest():
        raise BadInput(f"{source}: changed since {run_dir} ran (its sha256 differs): re-runs would not test "
                       "the run's load and checks")
    return folder


def scenario_text(source: Path, saved: dict[str, Any], smallest: Schedule, checks: Sequence[str], run_dir: Path) -> str:
    """The original scenario with the smallest schedule written out as an explicit timeline."""
    data = yaml.safe_load(source.read_text())
    data.pop("random", None)
    data.pop("duration", None)
    data.get("load", {}).pop("duration", None)
    data["name"] = f"{data['name']}-shrunk"[:64]
    data["seed"] = smallest.seed
    data.setdefault("target", {})["bugs"] = list(saved.get("bugs", []))
    data["duration"] = f"{smallest.duration_s:g}s"
    data["timeline"] = [{"at": f"{f.at_s:g}s", "fault": f.kind, **f.target,
                         **({"params": dict(f.params)} if f.params else {}),
                         **({"for": f"{f.duration_s:g}s"} if f.duration_s is not None else {})}
                        for f in smallest.faults]
    data.pop("tags", None)
    header = (f"# Shrunk by `umchaos shrink` from {run_dir} ({source.name}, seed {smallest.seed}"
              f"{', bugs ' + ','.join(saved['bugs']) if saved.get('bugs') else ''}).\n"
              f"# It still fails: {', '.join(checks)}. Run it with `umchaos run <this file>`.\n")
    return header + yaml.safe_dump(data, sort_keys=False, width=110)


def shrink_run(run_dir: Path, *, max_runs: int, out: Path | None,
               run: Callable[[Schedule], tuple[str, ...]], say: Callable[[str], None]) -> ShrinkResult:
    """Shrink a failed run. ``run(schedule)`` runs the scenario on that schedule and returns the
    checks that failed; a candidate "still fails" when one of the original failing checks does."""
    folder = failed_run(run_dir)
    original, failing, source = folder.schedule, folder.failing, folder.scenario_file
    saved = {"bugs": list(folder.bugs)}
    tried = 0
    violations: dict[str, tuple[str, ...]] = {}

    def test(faults: list[ScheduledFault]) -> bool:
        nonlocal tried
        tried += 1
        candidate = schedule_of(faults, original)
        violated = violations[_key(faults)] = tuple(c for c in run(candidate) if c in failing)
        say(f"shrink: run {tried}/{max_runs}: {len(faults)} fault(s) [{', '.join(f.id for f in faults)}], "
            f"run {candidate.duration_s:g} s → {'still fails (' + ', '.join(violated) + ')' if violated else 'passes'}")
        return bool(violated)

    budget = Budget(max_runs, test)
    fewest = ddmin(original.faults, lambda faults: budget(faults, _key(faults)))
    smallest_faults = shorter(fewest, lambda faults: budget(faults, _key(faults)))
    smallest = schedule_of(smallest_faults, original)
    # every accepted candidate failed when it ran; the untouched original has its own run as evidence
    still = violations.get(_key(smallest_faults)) or failing
    target = out or run_dir / "shrunk.yaml"
    target.write_text(scenario_text(source, saved, smallest, still, run_dir))
    load_scenario(target)  # what we wrote must load
    return ShrinkResult(original, smallest, still, tried, target)
