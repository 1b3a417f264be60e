"""Everything a run reads besides the scenario, checked as strictly as the scenario file.

A run folder (``result.json``, ``schedule.json``) is user input: it may be edited by hand or by a
careless script, and replay and shrink build a new run from it. Options and write targets (the
report folder, a JUnit file, the state folder) are user input too. Each is checked here before
anything starts, and every problem is one ``BadInput`` line, ``what, where``: exit 3, never a
traceback and never a run that fails half way (exit 2) or writes outside ``--report-dir``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, get_args

from harness.errors import BadInput
from harness.untrusted import printable, read_json

if TYPE_CHECKING:  # imported where used: the CLI imports this module before its heavy imports
    from harness.schedule import Schedule

__all__ = [
    "MAX_SEED",
    "RunFolder",
    "check_seed",
    "check_writable_dir",
    "check_writable_file",
    "read_run_folder",
    "run_folder_path",
]

MAX_SEED = 2**31 - 1  # a scenario's seed range: a run with any other seed could not be replayed
_SHA256 = re.compile(r"[0-9a-f]{64}")
_CHECK = re.compile(r"[a-z0-9_]{1,64}")


def check_seed(seed: object, where: str) -> int:
    """A seed a scenario could hold (0..2**31-1), so that the run it names can be replayed."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise BadInput(f"{where}: seed must be a whole number from 0 to {MAX_SEED}, not {_short(seed)}")
    return seed


def known_bugs() -> tuple[str, ...]:
    """The default target's bug switches (a run folder does not yet record its target)."""
    from harness.targets import DEFAULT_TARGET, killed_by, load_target

    return tuple(killed_by(load_target(DEFAULT_TARGET)))


def check_bugs(bugs: object, where: str) -> tuple[str, ...]:
    """A list of known bug switch names (a string is refused: it is not split into characters)."""
    known = known_bugs()
    if not isinstance(bugs, list) or not all(isinstance(b, str) for b in bugs):
        raise BadInput(f"{where}: bugs must be a list of bug switch names, not {_short(bugs)}")
    if unknown := sorted({b for b in bugs if b not in known}):
        raise BadInput(f"{where}: unknown bug switch(es) {', '.join(map(_short, unknown))}; known: {', '.join(known)}")
    if len(set(bugs)) != len(bugs):
        raise BadInput(f"{where}: bugs lists a switch twice")
    return tuple(bugs)


def _short(value: object) -> str:
    text = printable(repr(value))
    return text if len(text) <= 40 else text[:37] + "..."


@dataclass(frozen=True)
class RunFolder:
    """What replay and shrink take from a run folder, each value checked."""

    path: Path
    scenario_file: Path
    scenario_hash: str | None  # sha256 of the scenario file when it ran; None if not stored
    seed: int
    bugs: tuple[str, ...]
    backend: str
    status: str
    failing: tuple[str, ...]  # the checks that failed
    schedule: Schedule


def read_run_folder(run_dir: Path, *, need_hash: bool = False) -> RunFolder:
    """``result.json`` and ``schedule.json`` of a run folder, checked as a whole; ``need_hash``
    (shrink): the scenario's hash must be there, or "the scenario changed" could not be told."""
    from harness.backends import BACKENDS
    from harness.result import RunStatus
    from harness.schedule import Schedule

    result_file, schedule_file = run_dir / "result.json", run_dir / "schedule.json"
    saved = read_json(result_file)
    if not isinstance(saved, dict):
        raise BadInput(f"{result_file}: not a run folder's result (a JSON object)")
    where = str(result_file)
    scenario_file = saved.get("scenario_file")
    if not isinstance(scenario_file, str) or not scenario_file or "\0" in scenario_file or len(scenario_file) > 4096:
        raise BadInput(f"{where}: scenario_file must be the path of the scenario file, not {_short(scenario_file)}")
    scenario_hash = saved.get("scenario_hash")
    if scenario_hash is None and need_hash:
        raise BadInput(f"{where}: no scenario_hash: cannot tell whether {printable(scenario_file)} changed since "
                       "the run (add the file's sha256 as scenario_hash)")
    if scenario_hash is not None and not (isinstance(scenario_hash, str) and _SHA256.fullmatch(scenario_hash)):
        raise BadInput(f"{where}: scenario_hash must be a sha256 (64 hex digits), not {_short(scenario_hash)}")
    if "seed" not in saved:
        raise BadInput(f"{where}: no seed")
    seed = check_seed(saved["seed"], where)
    bugs = check_bugs(saved.get("bugs", []), where)
    backend = saved.get("backend", "local")
    if not isinstance(backend, str) or backend not in BACKENDS:
        raise BadInput(f"{where}: unknown backend {_short(backend)}; known: {', '.join(BACKENDS)}")
    status, checks, statuses = saved.get("status", ""), saved.get("checks", []), get_args(RunStatus)
    if status not in ("", *statuses):
        raise BadInput(f"{where}: status must be one of {', '.join(statuses)}, not {_short(status)}")
    if not isinstance(checks, list) or not all(
            isinstance(c, dict) and isinstance(c.get("name"), str) and _CHECK.fullmatch(c["name"]) for c in checks):
        raise BadInput(f"{where}: checks must be a list of {{name, status}} with check names, not {_short(checks)}")
    try:
        schedule = Schedule.from_dict(read_json(schedule_file))
    except BadInput as exc:
        text = str(exc)
        raise BadInput(text if text.startswith(str(schedule_file)) else f"{schedule_file}: {text}") from None
    if schedule.seed != seed:
        raise BadInput(f"{schedule_file}: seed {schedule.seed} differs from the run's seed {seed} in {result_file}")
    failing = tuple(c["name"] for c in checks if c.get("status") == "fail")
    return RunFolder(run_dir, Path(scenario_file), scenario_hash, seed, bugs, backend, status, failing, schedule)


def run_folder_path(report_dir: Path, stamp: str, scenario: str, seed: int, bugs: Sequence[str]) -> Path:
    """The folder a run writes to, always inside ``report_dir`` (no part of the name may lead out)."""
    name = f"{stamp}-{scenario}-{seed}{'-' + '+'.join(bugs) if bugs else ''}"
    path = report_dir / name
    if os.sep in name or (os.altsep and os.altsep in name) or name in (".", "..") or \
            path.resolve().parent != report_dir.resolve():
        raise BadInput(f"run folder {printable(name)!r} would not be inside --report-dir {report_dir}")
    return path


def _first_existing(path: Path) -> tuple[Path, list[Path]]:
    """The nearest ancestor (or ``path`` itself) that exists, and the folders missing below it."""
    missing: list[Path] = []
    current = path
    while not os.path.lexists(current) and current.parent != current:
        missing.append(current)
        current = current.parent
    return current, missing


def check_writable_dir(path: Path, what: str) -> None:
    """``path`` is, or can be made, a folder this process can write in. Tried for real (root ignores
    permission bits, /proc refuses whatever they say) with a nameless file in the nearest folder that
    exists, the one the run's own ``mkdir`` would write in: nothing is made, so two runs starting
    at once cannot trip over each other's try."""
    import tempfile  # here: the CLI imports this module at start-up, and it is needed by few commands

    existing, _ = _first_existing(path)
    if not existing.is_dir():
        raise BadInput(f"{what} {printable(str(path))}: {printable(str(existing))} is not a folder")
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as exc:
        raise BadInput(f"{what} {printable(str(path))}: cannot write there ({exc.strerror or exc})") from None


def check_writable_file(path: Path, what: str) -> None:
    """A file this process can create or replace: its folder is writable, and it is no folder."""
    if path.is_dir():
        raise BadInput(f"{what} {printable(str(path))}: is a folder, not a file")
    if path.exists() and not os.access(path, os.W_OK):
        raise BadInput(f"{what} {printable(str(path))}: not writable")
    try:
        check_writable_dir(path.parent, "its folder")
    except BadInput as exc:
        raise BadInput(f"{what} {printable(str(path))}: {exc}") from None
