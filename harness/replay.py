"""``umchaos replay RUN_DIR``: the same scenario, seed, bugs and schedule again, planned before
anything starts.

A run folder is user input. Everything replay takes from it is checked (``read_run_folder``),
then the new run is prepared exactly as ``run`` prepares one, so an edited folder ends as one
line and exit 3, never as a run that fails half way or writes outside ``--report-dir``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.inputs import RunFolder, check_writable_dir, read_run_folder
from harness.runner import RunOptions, prepare

__all__ = ["ReplayPlan", "plan_replay"]


@dataclass(frozen=True)
class ReplayPlan:
    folder: RunFolder  # what the run folder said, checked
    options: RunOptions  # the new run's options
    run_dir: Path  # where the new run writes (its time stamp is taken again when it starts)


def plan_replay(run_dir: Path, *, report_dir: Path, state_dir: Path) -> ReplayPlan:
    """Check the run folder and plan the new run inside ``report_dir``; ``BadInput`` if either fails."""
    folder = read_run_folder(run_dir)
    options = RunOptions(seed=folder.seed, report_dir=report_dir, state_dir=state_dir, bugs=folder.bugs,
                         schedule=folder.schedule, backend=folder.backend)
    planned = prepare(folder.scenario_file, options).run_dir
    check_writable_dir(report_dir, "--report-dir")
    return ReplayPlan(folder, options, planned)
