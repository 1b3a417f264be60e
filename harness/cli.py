"""``umchaos``: validate, run, list, replay, setup, cleanup.

Every error a user can cause is one line on stderr and an exit code: 0 pass, 1 an invariant was
violated, 2 unknown, 3 bad input. Never a traceback (it goes to the log file instead).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import traceback
from pathlib import Path
from typing import NoReturn

from harness.errors import (
    EXIT_BAD_INPUT,
    EXIT_PASS,
    EXIT_UNKNOWN,
    EXIT_VIOLATION,
    BadInput,
    HarnessError,
)

__all__ = ["main"]

log = logging.getLogger("umchaos")
SEVERITY = {EXIT_PASS: 0, EXIT_UNKNOWN: 1, EXIT_VIOLATION: 2}


class _Parser(argparse.ArgumentParser):
    """Bad options are bad input: one line and exit 3 (argparse alone would exit 2, 'unknown')."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_BAD_INPUT, f"umchaos: {message} (see umchaos --help)\n")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="umchaos", description="Chaos experiments with safety checks for Unified Margin platforms.")
    p.add_argument("-q", "--quiet", action="store_true", help="only the verdict lines")
    p.add_argument("--state-dir", type=Path, default=Path(".umchaos"), help="fault journal folder (default .umchaos)")
    sub = p.add_subparsers(dest="command", required=True)

    v = sub.add_parser("validate", help="check scenario files; touches nothing")
    v.add_argument("scenarios", nargs="+", type=Path)

    r = sub.add_parser("run", help="run scenarios against the target")
    r.add_argument("scenarios", nargs="+", type=Path)
    r.add_argument("--seed", type=int, default=None, help="override the scenario's seed")
    r.add_argument("--seeds", type=int, default=None, help="run each scenario with N seeds (seed, seed+1, ...)")
    r.add_argument("--backend", default="local", help="where the target runs (local)")
    r.add_argument("--report-dir", type=Path, default=Path("reports"))
    r.add_argument("--bugs", default=None, help="comma-separated bug switches, overriding the scenario's")
    r.add_argument("--junit", type=Path, default=None, help="also write one combined JUnit file here")
    r.add_argument("--dry-run", action="store_true", help="print the seeded schedule and touch nothing")

    sub.add_parser("list", help="list the scenario library").add_argument("folder", nargs="?", type=Path, default=Path("scenarios"))

    rp = sub.add_parser("replay", help="re-run a run folder's scenario with the same seed and schedule")
    rp.add_argument("run_dir", type=Path)
    rp.add_argument("--report-dir", type=Path, default=Path("reports"))

    sub.add_parser("setup", help="install the pinned Toxiproxy server into the project's bin folder")
    sub.add_parser("cleanup", help="heal faults and stop processes that killed runs left behind")
    return p


def expand(paths: list[Path]) -> list[Path]:
    """Scenario files, a folder standing for its *.yaml files."""
    out: list[Path] = []
    for path in paths:
        out += sorted(path.glob("*.yaml")) if path.is_dir() else [path]
    return out


def _validate(paths: list[Path]) -> int:
    from harness.scenario import load_scenario
    from harness.schedule import build_schedule

    for path in expand(paths):
        scenario = load_scenario(path)
        schedule = build_schedule(scenario, scenario.seed)
        print(f"ok {path}: {scenario.name}, {len(schedule.faults)} fault(s), {schedule.duration_s:.0f} s")
    return EXIT_PASS


def _list(folder: Path) -> int:
    from harness.scenario import load_scenario

    if not folder.is_dir():
        raise BadInput(f"{folder}: not a folder")
    for path in sorted(folder.glob("*.yaml")):
        scenario = load_scenario(path)
        print(f"{scenario.name:<28} {path}  {scenario.description.strip().splitlines()[0] if scenario.description else ''}")
    return EXIT_PASS


def _run(args: argparse.Namespace) -> int:
    from harness.report.junit import write_junit
    from harness.runner import RunOptions, run_scenario
    from harness.scenario import load_scenario
    from harness.schedule import build_schedule, format_schedule

    bugs = tuple(b for b in args.bugs.split(",") if b) if args.bugs is not None else None
    if bugs:
        from targets.umref.config import BUG_SWITCHES

        if unknown := sorted(set(bugs) - set(BUG_SWITCHES)):
            raise BadInput(f"--bugs: unknown bug switch(es) {', '.join(unknown)}; known: {', '.join(BUG_SWITCHES)}")
    from harness.backends import BACKENDS

    if args.backend not in BACKENDS:
        raise BadInput(f"--backend {args.backend}: unknown backend; known: {', '.join(BACKENDS)}")
    plans = []
    for path in expand(args.scenarios):
        scenario = load_scenario(path)  # validate every file before running any
        base = args.seed if args.seed is not None else scenario.seed
        plans += [(path, scenario, base + i) for i in range(args.seeds or 1)]
    if args.dry_run:
        for path, scenario, seed in plans:
            print(f"# {path} ({scenario.name}) seed={seed}")
            print(format_schedule(build_schedule(scenario, seed)))
        return EXIT_PASS
    results = []
    for path, _, seed in plans:
        options = RunOptions(seed=seed, backend=args.backend, report_dir=args.report_dir, state_dir=args.state_dir, bugs=bugs)
        results.append(run_scenario(path, options))
    if args.junit:
        write_junit(args.junit, results)
    return max((r.exit_code for r in results), key=lambda c: SEVERITY.get(c, 1))


def _replay(args: argparse.Namespace) -> int:
    from harness.runner import RunOptions, run_scenario
    from harness.schedule import Schedule

    result_file = args.run_dir / "result.json"
    try:
        saved = json.loads(result_file.read_text())
        schedule = Schedule.from_dict(json.loads((args.run_dir / "schedule.json").read_text()))
        scenario_file = Path(saved["scenario_file"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise BadInput(f"{result_file}: not a run folder's result ({exc.__class__.__name__}: {exc})") from None
    options = RunOptions(seed=saved["seed"], report_dir=args.report_dir, state_dir=args.state_dir,
                         bugs=tuple(saved.get("bugs", ())), schedule=schedule, backend=saved.get("backend", "local"))
    return run_scenario(scenario_file, options).exit_code


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "validate":
        return _validate(args.scenarios)
    if args.command == "list":
        return _list(args.folder)
    if args.command == "setup":
        from harness.setup import install_toxiproxy

        print(f"toxiproxy-server: {install_toxiproxy()}")
        return EXIT_PASS
    from harness.faults.journal import heal_leftovers

    healed = heal_leftovers(args.state_dir)
    if args.command == "cleanup":
        print("\n".join(healed) if healed else "nothing left behind")
        return EXIT_PASS
    for line in healed:
        log.warning("left behind by an earlier run: %s", line)
    if args.command == "run":
        return _run(args)
    return _replay(args)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO,
                        format="%(asctime)s %(name)s %(message)s", datefmt="%H:%M:%S", stream=sys.stderr)
    try:
        return _dispatch(args)
    except BadInput as exc:
        print(f"umchaos: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except HarnessError as exc:
        print(f"umchaos: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("umchaos: interrupted", file=sys.stderr)
        return EXIT_UNKNOWN
    except Exception as exc:  # noqa: BLE001 - one line for the user, the traceback in a file
        crash = args.state_dir / "crash.log"
        crash.parent.mkdir(parents=True, exist_ok=True)
        crash.write_text(traceback.format_exc())
        print(f"umchaos: internal error: {exc.__class__.__name__}: {exc} (traceback in {crash})", file=sys.stderr)
        return EXIT_UNKNOWN


if __name__ == "__main__":
    sys.exit(main())
