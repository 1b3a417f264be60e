"""``umchaos``: validate, run, load, worker, list, list-targets, replay, selftest, shrink, trend, setup,
cleanup, proxies, conformance.

Every error a user can cause is one line on stderr and an exit code: 0 pass, 1 an invariant was
violated, 2 unknown, 3 bad input. Never a traceback (it goes to the log file instead).
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
import time
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from harness.errors import (
    EXIT_BAD_INPUT,
    EXIT_PASS,
    EXIT_UNKNOWN,
    EXIT_VIOLATION,
    BadInput,
    HarnessError,
)
from harness.untrusted import printable

if TYPE_CHECKING:
    from typing import TypeAlias

    from harness.result import RunResult
    from harness.runner import RunContext
    from harness.scenario import Scenario
    from harness.targets import Warm

    Subparsers: TypeAlias = "argparse._SubParsersAction[_Parser]"

__all__ = ["main"]

log = logging.getLogger("umchaos")
SEVERITY = {EXIT_PASS: 0, EXIT_UNKNOWN: 1, EXIT_VIOLATION: 2}


class _Parser(argparse.ArgumentParser):
    """Bad options are bad input: one line and exit 3 (argparse alone would exit 2, 'unknown')."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_BAD_INPUT, f"umchaos: {message} (see umchaos --help)\n")


def _seed(text: str) -> int:
    """--seed: a seed a scenario could hold, or the run it names could not be replayed."""
    try:
        seed = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid int value: {text!r}") from None
    if not 0 <= seed <= 2**31 - 1:
        raise argparse.ArgumentTypeError(f"{seed}: a seed is from 0 to {2**31 - 1}")
    return seed


def _dns_label(text: str) -> str:
    """--namespace: a Kubernetes namespace name (DNS-1123 label)."""
    if not re.fullmatch(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", text):
        raise argparse.ArgumentTypeError(f"{text!r}: a namespace is lower-case letters, digits and '-', at most 63")
    return text


def _count(text: str) -> int:
    """--seeds, --jobs: at least one (0 would silently mean one, -1 none)."""
    try:
        count = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid int value: {text!r}") from None
    if count < 1:
        raise argparse.ArgumentTypeError(f"{count}: must be at least 1")
    return count


TARGET_FILE_HELP = ("run against a platform already running, described by this topology file "
                    "(backend external: nothing is started or stopped)")


def _backend(args: argparse.Namespace) -> str:
    """--target-file means the external backend; any other --backend with it is refused by prepare."""
    backend = str(getattr(args, "backend", "local"))  # `load` runs on the local backend only
    return "external" if getattr(args, "target_file", None) is not None and backend == "local" else backend


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="umchaos", description="Chaos experiments with safety checks for Unified Margin platforms.")
    p.add_argument("-q", "--quiet", action="store_true", help="only the verdict lines")
    p.add_argument("--state-dir", type=Path, default=Path(".umchaos"), help="fault journal folder (default .umchaos)")
    sub = p.add_subparsers(dest="command", required=True)
    for add in (_validate_and_run, _selftest_command, _load_command, _library_commands, _platform_commands):
        add(sub)
    return p


def _validate_and_run(sub: Subparsers) -> None:
    """validate and run: the same scenario options, one touching nothing."""
    v = sub.add_parser("validate", help="check scenario files as `run` would; touches nothing")
    v.add_argument("scenarios", nargs="+", type=Path)
    v.add_argument("--backend", default="local", help="the backend the scenarios will run on (local)")
    v.add_argument("--target-file", type=Path, default=None, help=TARGET_FILE_HELP)

    r = sub.add_parser("run", help="run scenarios against the target")
    r.add_argument("scenarios", nargs="+", type=Path)
    r.add_argument("--seed", type=_seed, default=None, help="override the scenario's seed")
    r.add_argument("--seeds", type=_count, default=None, help="run each scenario with N seeds (seed, seed+1, ...)")
    r.add_argument("--backend", default="local", help="where the target runs (local)")
    r.add_argument("--report-dir", type=Path, default=Path("reports"))
    r.add_argument("--bugs", default=None, help="comma-separated bug switches, overriding the scenario's")
    r.add_argument("--junit", type=Path, default=None, help="also write one combined JUnit file here")
    r.add_argument("--metrics", type=Path, default=None,
                   help="also write every run's verdict and figures here as OpenMetrics text (a textfile collector's file)")
    r.add_argument("--push-gateway", default=None, metavar="URL",
                   help="also push them to this Prometheus Pushgateway (job umchaos)")
    r.add_argument("--timeout", type=float, default=None,
                   help="abort a run (healed, status aborted) after this many seconds; default: its duration + 180 s")
    r.add_argument("--dry-run", action="store_true", help="print the seeded schedule and touch nothing")
    r.add_argument("--live", action=argparse.BooleanOptionalAction, default=None,
                   help="live numbers while load flows: phase, fault, req/s, p50/p99, errors, UM halted or trading "
                        "(default: on a terminal; elsewhere one log line a second)")
    r.add_argument("--tag", default=None, help="only the scenarios with this tag (e.g. gate)")
    r.add_argument("--target-file", type=Path, default=None, help=TARGET_FILE_HELP)
    r.add_argument("--namespace", type=_dns_label, default=None,
                   help="--backend k8s: the platform's Kubernetes namespace (default: the target's name)")


def _selftest_command(sub: Subparsers) -> None:
    """selftest: the mutation matrix."""
    st = sub.add_parser("selftest", help="mutation matrix: each bug switch against the gating scenarios, "
                                         "and the correct exchange over several seeds")
    st.add_argument("scenarios", nargs="*", type=Path, default=[Path("scenarios")])
    st.add_argument("--tag", default="gate", help="only scenarios with this tag (default gate; '' for all)")
    st.add_argument("--seeds", type=int, default=3, help="seeds per scenario for the correct exchange (default 3)")
    st.add_argument("--jobs", type=int, default=1, help="runs at once (default 1; each run is a whole topology)")
    st.add_argument("--bugs", default=None, help="comma-separated bug switches (default: all; '' for none)")
    st.add_argument("--backend", default="local", help="backend of every run: local or docker (parity: same matrix)")
    st.add_argument("--target-file", type=Path, default=None,
                    help="a running platform (topology file with switches:), restarted with each bug switch")
    st.add_argument("--report-dir", type=Path, default=Path("reports"))


def _load_command(sub: Subparsers) -> None:
    """load: a scenario's load sized from the command line."""
    ld = sub.add_parser("load", help="run a scenario's load (with or without its faults), with live numbers")
    ld.add_argument("scenario", type=Path)
    ld.add_argument("--users", type=int, default=None, help="Locust users (default: the scenario's)")
    ld.add_argument("--spawn-rate", type=float, default=None, help="users started per second")
    ld.add_argument("--duration", default=None, help="how long load flows, e.g. 60s or 2m")
    ld.add_argument("--workers", type=int, default=0, help="Locust worker processes (master/worker mode)")
    ld.add_argument("--expect-workers", type=int, default=0,
                    help="run only the Locust master and wait for this many `umchaos worker` processes "
                         "(other machines with the same checkout) instead of local workers")
    ld.add_argument("--master-bind", default="127.0.0.1:5557", metavar="HOST:PORT",
                    help="--expect-workers: where the master listens (default 127.0.0.1:5557)")
    ld.add_argument("--workers-wait", type=float, default=120.0, metavar="SECONDS",
                    help="--expect-workers: how long to wait for them once the target is up (default 120; "
                         "then exit 3)")
    ld.add_argument("--report-dir", type=Path, default=Path("reports"))
    ld.add_argument("--seed", type=_seed, default=None, help="override the scenario's seed")
    ld.add_argument("--no-faults", action="store_true", help="load only: leave the scenario's timeline out")
    ld.add_argument("--junit", type=Path, default=None, help="also write a JUnit file here")

    wk = sub.add_parser("worker", help="join a `umchaos load --expect-workers` master from this machine as one "
                                       "Locust worker; exits when that run ends or the master goes away")
    wk.add_argument("--master", required=True, metavar="HOST:PORT", help="the master's --master-bind")
    wk.add_argument("--wait", type=float, default=600.0, metavar="SECONDS",
                    help="how long to wait for the master to listen (default 600; then exit 3)")


def _library_commands(sub: Subparsers) -> None:
    """The library and the run folders (list, shrink, replay) and the machine (setup, cleanup)."""
    sub.add_parser("list", help="list the scenario library").add_argument("folder", nargs="?", type=Path, default=Path("scenarios"))
    sub.add_parser("list-targets", help="the installed target systems: services by region, links, bug switches")

    sh = sub.add_parser("shrink", help="find a smaller schedule that still fails; write it as a scenario file")
    sh.add_argument("run_dir", type=Path)
    sh.add_argument("--max-runs", type=int, default=12, help="re-runs at most (default 12; each is a whole run)")
    sh.add_argument("--out", type=Path, default=None, help="the scenario file to write (default RUN_DIR/shrunk.yaml)")

    rp = sub.add_parser("replay", help="re-run a run folder's scenario with the same seed and schedule")
    rp.add_argument("run_dir", type=Path)
    rp.add_argument("--report-dir", type=Path, default=Path("reports"))

    tr = sub.add_parser("trend", help="many run folders over nights: a verdict grid and each scenario's figures, "
                                      "as one HTML page and its JSON")
    tr.add_argument("reports_dirs", nargs="+", type=Path, metavar="REPORTS_DIR",
                    help="a folder of run folders (or a run folder); folders that are not runs are named and skipped")
    tr.add_argument("--out", type=Path, default=None,
                    help="the page to write (default: trend.html in the first REPORTS_DIR); its JSON beside it, "
                         "same name with .json; nothing else is written")

    su = sub.add_parser("setup", help="install the pinned Toxiproxy server into the project's bin folder")
    su.add_argument("--docker", action="store_true",
                    help="also start a Docker engine if none answers and build the umref and Toxiproxy images")
    sub.add_parser("cleanup", help="heal faults and stop processes that killed runs left behind")


def _platform_commands(sub: Subparsers) -> None:
    """A platform the harness does not start: its proxies, its conformance."""
    px = sub.add_parser("proxies", help="make the pass-through proxies a topology file's links dial, on its "
                                        "own Toxiproxy server (toxiproxy:), before the platform starts")
    px.add_argument("topology", type=Path)
    cf = sub.add_parser("conformance", help="check a running platform (a topology file) against the audit contract",
                        description="Schemathesis sends the contract's GET operations (docs/audit-contract.yaml) to "
                        "each role's service, at most --max-examples requests per operation and service, each "
                        "within --request-timeout, all within --max-time (POST /intake is never sent); then "
                        "probes: an acknowledged transfer is journaled with balanced legs, a forged key is "
                        "refused, a slowdown of the margin link halts UM (held at most the risk budget's halt "
                        "time + 2 s) and UM resumes after the heal (within window_ms + healthy_for_ms + 2 s). "
                        "Loopback only. Exit 0 every clause holds, 1 one is violated, 2 undecided, 3 bad input.")
    cf.add_argument("topology", type=Path)
    cf.add_argument("--junit", type=Path, default=None, help="also write a JUnit file: one testcase per clause")
    cf.add_argument("--max-examples", type=_count, default=5, help="generated requests per operation and service (5)")
    cf.add_argument("--request-timeout", type=float, default=5.0, help="seconds each request may take (5)")
    cf.add_argument("--max-time", type=float, default=60.0, help="seconds for all generated requests (60)")
    cf.add_argument("--seed", type=_seed, default=0, help="Hypothesis seed of the generated requests (0)")


def expand(paths: list[Path]) -> list[Path]:
    """Scenario files, a folder standing for its *.yaml files."""
    out: list[Path] = []
    for path in paths:
        out += sorted(path.glob("*.yaml")) if path.is_dir() else [path]
    return out


def _validate(paths: list[Path], backend: str, target_file: Path | None = None) -> int:
    """Every check ``run`` makes before it starts (``prepare``): target safety, the backend's fault
    kinds, the run folder's name; all files first, so that one bad file is not found half way."""
    from harness.runner import RunOptions, prepare

    files = expand(paths)
    if not files:
        raise BadInput(f"no scenario (*.yaml) in {', '.join(map(str, paths))}")
    contexts = [(path, prepare(path, RunOptions(backend=backend, target_file=target_file))) for path in files]
    for path, ctx in contexts:
        print(printable(f"ok {path}: {ctx.scenario.name}, {len(ctx.schedule.faults)} fault(s), "
                        f"{ctx.schedule.duration_s:.0f} s"))
    return EXIT_PASS


def _proxies(path: Path) -> int:
    from harness.backends.external import PERSISTENT, ensure_proxies
    from harness.faults.network import ProxyNet
    from harness.targets.external import load_topology_file

    platform = load_topology_file(path, accounts=False)
    if platform.toxiproxy is None:
        raise BadInput(f"{path}: no toxiproxy: server named; without one each run makes its own proxies")
    made = ensure_proxies(ProxyNet(platform.toxiproxy, run_id=PERSISTENT), platform)
    print(f"{len(made)} proxy(ies) made, {len(platform.dial) - len(made)} already there, on {platform.toxiproxy}")
    return EXIT_PASS


def _list(folder: Path) -> int:
    from harness.scenario import load_scenario

    if not folder.is_dir():
        raise BadInput(f"{folder}: not a folder")
    for path in sorted(folder.glob("*.yaml")):
        scenario = load_scenario(path)
        tags = f"[{','.join(scenario.tags)}]" if scenario.tags else ""
        first = scenario.description.strip().splitlines()[0] if scenario.description.strip() else ""
        print(printable(f"{scenario.name:<26} {tags:<9} {path}  {first}"))
    return EXIT_PASS


def _list_targets() -> int:
    """Each installed target as the harness sees it; one that does not load is named, not hidden."""
    from harness.targets import installed_targets, killed_by, load_target

    code = EXIT_PASS
    for name in installed_targets():
        try:
            target = load_target(name)
        except BadInput as exc:
            print(f"{name}: {exc}")
            code = EXIT_BAD_INPUT
            continue
        topology = target.topology
        print(f"{name}: {target.description}")
        for region in topology.regions:
            print(f"  region {region}: {', '.join(topology.in_region(region))}")
        print(f"  links: {len(topology.links)}; UM-only services: {', '.join(topology.um_only) or 'none'}")
        print(f"  bug switches: {', '.join(killed_by(target)) or 'none'}")
    return code


def _bugs(option: str | None, scenarios: list[tuple[Path, Scenario]]) -> tuple[str, ...] | None:
    """--bugs a,b: checked against the switches of each scenario's target; None when not given."""
    if option is None:
        return None
    from harness.targets import killed_by

    bugs = tuple(b for b in option.split(",") if b)
    for target in {s.target.system: s.target_system for _, s in scenarios}.values():
        known = killed_by(target)
        if unknown := sorted(set(bugs) - set(known)):
            raise BadInput(f"--bugs: unknown bug switch(es) {', '.join(unknown)} of target {target.name}; "
                           f"known: {', '.join(known)}")
    return bugs


def _scenarios(paths: list[Path], tag: str | None) -> list[tuple[Path, Scenario]]:
    """Every scenario file loaded (so all are valid before anything runs), kept if it has ``tag``."""
    from harness.scenario import load_scenario

    loaded = [(path, load_scenario(path)) for path in expand(paths)]
    chosen = [(path, s) for path, s in loaded if not tag or tag in s.tags]
    if not chosen:
        raise BadInput(f"no scenario{' tagged ' + repr(tag) if tag else ''} in {', '.join(map(str, paths))}")
    return chosen


def _early_warm_up(args: argparse.Namespace) -> Warm | None:
    """Begin the default target's warm-up (umref: a fork server importing its services) before
    the harness's own imports, so that both proceed at once on two cores; the first local run of
    that target takes it."""
    if _backend(args) != "local" or getattr(args, "dry_run", False):
        return None
    from harness.targets import warm_up

    return warm_up()


def _run(args: argparse.Namespace, warm: Warm | None) -> int:
    from harness.backends import check_backend
    from harness.inputs import MAX_SEED, check_writable_dir, check_writable_file
    from harness.runner import RunOptions, prepare, run_scenario
    from harness.schedule import format_schedule

    backend = _backend(args)
    check_backend(backend, paper=args.dry_run)
    if args.namespace is not None and backend != "k8s":
        raise BadInput("--namespace: only with --backend k8s")
    if args.timeout is not None and not 0 < args.timeout <= 86400:
        raise BadInput(f"--timeout {args.timeout:g}: must be above 0 and at most 86400 seconds")
    chosen = _scenarios(args.scenarios, args.tag)
    bugs = _bugs(args.bugs, chosen)
    plans = []
    for path, scenario in chosen:
        base = args.seed if args.seed is not None else scenario.seed
        if base + (args.seeds or 1) - 1 > MAX_SEED:
            raise BadInput(f"--seeds {args.seeds}: seeds from {base} would pass {MAX_SEED}, the largest seed")
        plans += [(path, scenario, base + i) for i in range(args.seeds or 1)]
    # every check a run makes before it starts, for every run, before the first starts
    contexts = [prepare(path, RunOptions(seed=seed, backend=backend, report_dir=args.report_dir, state_dir=args.state_dir,
                                         bugs=bugs, target_file=args.target_file, dry_run=args.dry_run))
                for path, _, seed in plans]
    check_writable_dir(args.report_dir, "--report-dir")
    for path, option in ((args.junit, "--junit"), (args.metrics, "--metrics")):
        if path is not None:
            check_writable_file(path, option)
    if args.push_gateway is not None:
        from harness.report.metrics import check_push_gateway

        check_push_gateway(args.push_gateway)
    if args.dry_run:
        for ctx in contexts:
            print(printable(f"# {ctx.scenario_path} ({ctx.scenario.name}) seed={ctx.schedule.seed}"))
            print(format_schedule(ctx.schedule) if backend != "k8s" else _manifests(ctx, args.namespace))
        return EXIT_PASS
    results = []
    live = args.live if args.live is not None else sys.stdout.isatty() and not args.quiet
    for path, _, seed in plans:
        options = RunOptions(seed=seed, backend=backend, report_dir=args.report_dir, state_dir=args.state_dir, bugs=bugs,
                             timeout_s=args.timeout, warm=warm, target_file=args.target_file, progress=live)
        results.append(run_scenario(path, options))
        warm = None
    if args.junit:  # imported here: the reports' imports are not start-up's
        from harness.report.junit import write_junit

        write_junit(args.junit, results)
    if args.metrics is not None or args.push_gateway is not None:
        _metrics(args.metrics, args.push_gateway, results)
    return max((r.exit_code for r in results), key=lambda c: SEVERITY.get(c, 1))


def _manifests(ctx: RunContext, namespace: str | None) -> str:
    """A run's Chaos Mesh resources and Locust Job (``--backend k8s --dry-run``), as YAML."""
    from harness.backends.k8s import manifests, manifests_yaml

    return manifests_yaml(manifests(ctx.scenario, ctx.schedule, namespace or ctx.scenario.target.system))


def _metrics(path: Path | None, gateway: str | None, results: list[RunResult]) -> None:
    """The runs' metrics to a file and/or a Pushgateway. A gateway that does not take them is one
    line on stderr: the verdict stands, and the file (if asked for) is written first."""
    from harness.report.json_report import result_dict
    from harness.report.metrics import push_metrics, write_metrics

    data = [result_dict(r) for r in results]
    if path is not None:
        write_metrics(path, data)
    if gateway is not None:
        try:
            push_metrics(gateway, data)
        except OSError as exc:  # URLError and HTTPError are OSErrors
            print(printable(f"umchaos: metrics not pushed to {gateway}: {exc}"), file=sys.stderr)


def _selftest(args: argparse.Namespace) -> int:
    from harness.backends import check_backend
    from harness.inputs import check_writable_dir
    from harness.selftest import plan_cells
    from harness.targets import killed_by

    if args.seeds < 1 or args.jobs < 1:
        raise BadInput("--seeds and --jobs must be at least 1")
    check_backend(args.backend)
    check_writable_dir(args.report_dir, "--report-dir")
    out_dir = args.report_dir / f"selftest-{time.strftime('%Y%m%d-%H%M%S')}"
    platform = _switched_platform(args, out_dir) if args.target_file is not None else None
    try:
        chosen = _scenarios(args.scenarios, args.tag) if platform is None else _runnable(args)
        if len(systems := sorted({s.target.system for _, s in chosen})) > 1:
            raise BadInput(f"selftest: the scenarios name several targets ({', '.join(systems)}); "
                           "one target's bug switches at a time")
        table = killed_by(chosen[0][1].target_system)  # which checks should catch each bug switch
        bugs = tuple(table) if args.bugs is None else _bugs(args.bugs, chosen) or ()  # --bugs '': the correct one only
        cells = plan_cells([(s.name, str(path), s.seed, s.checks) for path, s in chosen],
                           {bug: table[bug] for bug in bugs}, args.seeds)
        return _selftest_matrix(args, chosen, bugs, cells, out_dir, platform)
    finally:
        if platform is not None:
            platform.close()


def _switched_platform(args: argparse.Namespace, out_dir: Path) -> Any:
    """The running platform of ``--target-file``, brought up (correct) by its ``switches.up``."""
    from harness.selftest import SwitchedPlatform
    from harness.targets.external import load_topology_file

    if args.backend != "local" or args.jobs != 1:
        raise BadInput("selftest --target-file: one platform, one run at a time (leave --backend and --jobs out)")
    target = load_topology_file(args.target_file, accounts=False)
    if not target.switch_up:
        raise BadInput(f"{args.target_file}: no switches: the self-test needs the command that restarts the "
                       "platform with one bug switch on (switches: {up, names})")
    out_dir.mkdir(parents=True, exist_ok=True)
    platform = SwitchedPlatform(target, out_dir / "platform.log")
    if (why := platform.switch_to(None)) is not None:
        platform.close()
        raise HarnessError(f"selftest --target-file: {why}")
    return platform


def _runnable(args: argparse.Namespace) -> list[tuple[Path, Scenario]]:
    """The scenarios a running platform can take, each validated as ``run --target-file`` would;
    those it cannot (a fault it refuses) are skipped with their one line."""
    from harness.runner import RunOptions, prepare

    chosen = []
    for path, _ in _scenarios(args.scenarios, args.tag):
        try:
            chosen.append((path, prepare(path, RunOptions(backend="external", target_file=args.target_file)).scenario))
        except BadInput as exc:
            print(f"selftest: skipped, the platform cannot take it: {printable(str(exc))}", file=sys.stderr)
    if not chosen:
        raise BadInput(f"selftest: no scenario the platform of {args.target_file} can take")
    return chosen


def _selftest_matrix(args: argparse.Namespace, chosen: list[tuple[Path, Scenario]], bugs: tuple[str, ...],
                     cells: list[Any], out_dir: Path, platform: Any) -> int:
    from harness.report.selftest_matrix import print_matrix, write_matrix
    from harness.schedule import build_schedule
    from harness.selftest import Matrix, run_matrix, verdict

    longest = max(build_schedule(s, s.seed).duration_s for _, s in chosen)
    print(f"selftest: {len(cells)} runs ({len(chosen)} scenario(s) × {args.seeds} seed(s), then {len(bugs)} bug switches "
          f"on {max(2, args.seeds)} seeds of each scenario that runs a check expected to catch them), "
          f"{args.jobs} at a time; results in {out_dir}", file=sys.stderr)

    def progress(result: Any, done: int, total: int) -> None:
        cell = result.cell
        print(f"[{done}/{total}] {cell.scenario} seed={cell.seed} {cell.bug or 'correct'}: {result.outcome}"
              f"{' (' + ', '.join(result.failed_checks) + ')' if result.failed_checks else ''}"
              f"{' - ' + result.reason if result.reason and result.outcome == 'unknown' else ''} {result.seconds:.0f}s",
              file=sys.stderr, flush=True)

    results = run_matrix(cells, out_dir=out_dir, state_dir=args.state_dir, jobs=args.jobs,
                         timeout_s=3 * longest + 180, on_result=progress, backend=args.backend, platform=platform)
    matrix = Matrix(tuple(dict.fromkeys(s.name for _, s in chosen)), tuple(bugs), tuple(results))
    code, line = verdict(matrix)
    json_path, html_path = write_matrix(out_dir, matrix, line)
    print_matrix(matrix, line)
    print(f"selftest: {html_path} {json_path}")
    return code


def _shrink(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from harness.inputs import check_writable_dir, check_writable_file
    from harness.runner import RunOptions, prepare, run_scenario
    from harness.schedule import Schedule
    from harness.shrink import failed_run, shrink_run

    if args.max_runs < 1:
        raise BadInput("--max-runs must be at least 1")
    folder = failed_run(args.run_dir)
    options = RunOptions(seed=folder.seed, report_dir=args.run_dir / "shrink", state_dir=args.state_dir,
                         bugs=folder.bugs, schedule=folder.schedule, backend=folder.backend)
    prepare(folder.scenario_file, options)  # every check a re-run makes, before the first
    check_writable_dir(options.report_dir, "shrink's report folder")
    check_writable_file(args.out or args.run_dir / "shrunk.yaml", "--out")

    def run(schedule: Schedule) -> tuple[str, ...]:
        return tuple(c.name for c in run_scenario(folder.scenario_file, replace(options, schedule=schedule)).checks
                     if c.valid is False)

    result = shrink_run(args.run_dir, max_runs=args.max_runs, out=args.out, run=run,
                        say=lambda line: print(line, file=sys.stderr, flush=True))
    print(f"shrunk {len(result.original.faults)} fault(s) / {result.original.duration_s:g} s to "
          f"{len(result.smallest.faults)} fault(s) / {result.smallest.duration_s:g} s in {result.runs} run(s); "
          f"still fails {', '.join(result.checks)}: {result.written}")
    return EXIT_PASS


def _load(args: argparse.Namespace, warm: Warm | None) -> int:
    """Load as the point: the same phases and checks as ``run``, sized from the command line."""
    from harness.runner import LoadOverrides, RunOptions, run_scenario
    from harness.scenario import parse_duration

    if args.users is not None and not 1 <= args.users <= 10_000:
        raise BadInput(f"--users {args.users}: must be from 1 to 10000")
    if args.spawn_rate is not None and not 0 < args.spawn_rate <= 10_000:
        raise BadInput(f"--spawn-rate {args.spawn_rate:g}: must be above 0 and at most 10000")
    if not 0 <= args.workers <= 64:
        raise BadInput(f"--workers {args.workers}: must be from 0 to 64")
    if not 0 <= args.expect_workers <= 64:
        raise BadInput(f"--expect-workers {args.expect_workers}: must be from 0 to 64")
    if args.workers and args.expect_workers:
        raise BadInput("--workers and --expect-workers: local or remote workers, not both")
    if not 0 < args.workers_wait <= 3600:
        raise BadInput(f"--workers-wait {args.workers_wait:g}: must be above 0 and at most 3600")
    master_bind = _master(args.master_bind, "--master-bind")
    duration = None
    if args.duration is not None:
        try:
            duration = parse_duration(args.duration)
        except ValueError as exc:
            raise BadInput(f"--duration {args.duration}: {exc}") from None
        if not 0 < duration <= 3600:
            raise BadInput(f"--duration {args.duration}: must be above 0 and at most 1h")
    if not args.scenario.is_file():
        raise BadInput(f"{args.scenario}: no such scenario file")
    options = RunOptions(seed=args.seed, report_dir=args.report_dir, state_dir=args.state_dir,
                         load=LoadOverrides(users=args.users, spawn_rate=args.spawn_rate, duration_s=duration,
                                            workers=args.workers, expect_workers=args.expect_workers,
                                            master_bind=master_bind, workers_wait_s=args.workers_wait),
                         no_faults=args.no_faults, progress=True, warm=warm)
    result = run_scenario(args.scenario, options)
    if args.junit:
        from harness.report.junit import write_junit

        write_junit(args.junit, [result])
    return result.exit_code


def _master(text: str, option: str) -> tuple[str, int]:
    from harness.load.remote import parse_master

    try:
        return parse_master(text)
    except ValueError as exc:
        raise BadInput(f"{option} {exc}") from None


def _worker(args: argparse.Namespace) -> int:
    """One Locust worker for a master elsewhere: 0 once the run it served ended, 2 if the master
    went away, 3 if none was there (or it sent no config)."""
    from harness.load.locust_process import run_worker

    if not 0 < args.wait <= 86400:
        raise BadInput(f"--wait {args.wait:g}: must be above 0 and at most 86400")
    code = run_worker(*_master(args.master, "--master"), wait_s=args.wait)
    return code if code in (EXIT_PASS, EXIT_BAD_INPUT) else EXIT_UNKNOWN


def _trend(reports_dirs: list[Path], out: Path | None) -> int:
    """Read every run folder first (a bad REPORTS_DIR is exit 3), then write the page and its JSON."""
    from harness.inputs import check_writable_file
    from harness.report.trend import build_trend, read_runs, write_trend

    page = out if out is not None else reports_dirs[0] / "trend.html"
    if page.suffix == ".json":
        raise BadInput(f"--out {printable(str(page))}: the page's JSON goes beside it with .json; name the page .html")
    skipped: list[str] = []

    def say(line: str) -> None:
        skipped.append(line)
        print(f"umchaos trend: {line}", file=sys.stderr)

    runs = read_runs(reports_dirs, say)
    check_writable_file(page, "--out")
    check_writable_file(page.with_suffix(".json"), "--out's JSON")
    trend = build_trend(runs, page.parent, skipped)
    data = write_trend(page, trend)
    print(printable(f"trend: {len(runs)} run(s) of {len(trend.scenarios)} scenario(s) over {len(trend.nights)} "
                    f"night(s), {len(skipped)} folder(s) skipped: {page} {data}"))
    return EXIT_PASS


def _replay(args: argparse.Namespace) -> int:
    from harness.replay import plan_replay
    from harness.runner import run_scenario

    plan = plan_replay(args.run_dir, report_dir=args.report_dir, state_dir=args.state_dir)
    return run_scenario(plan.folder.scenario_file, plan.options).exit_code


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "validate":
        return _validate(args.scenarios, _backend(args), args.target_file)
    if args.command == "list":
        return _list(args.folder)
    if args.command == "list-targets":
        return _list_targets()
    if args.command == "proxies":
        return _proxies(args.topology)
    if args.command == "worker":  # a Locust worker for a master elsewhere: no state of its own
        return _worker(args)
    if args.command == "trend":  # reads run folders, writes only its page: no state folder, no leftovers to heal
        return _trend(args.reports_dirs, args.out)
    from harness.inputs import check_writable_dir

    check_writable_dir(args.state_dir, "--state-dir")  # the fault journal goes there before anything starts
    if args.command == "setup":
        from harness.backends.go_tools import install_toxiproxy

        print(f"toxiproxy-server: {install_toxiproxy()}")
        if args.docker:
            from harness.backends.docker_install import ensure_engine, ensure_images

            print(f"docker engine: {ensure_engine(args.state_dir / 'docker')}")
            images = ensure_images()
            print(f"docker images: {' '.join((images.umref, images.toxiproxy, *images.builds))}")
        return EXIT_PASS
    from harness.faults.fault_journal import heal_leftovers

    healed = heal_leftovers(args.state_dir)
    if args.command == "cleanup":
        from harness.backends.docker import remove_dead_runs

        healed += remove_dead_runs()  # objects of dead runs whose journal is gone too
        print("\n".join(healed) if healed else "nothing left behind")
        return EXIT_PASS
    for line in healed:
        log.warning("left behind by an earlier run: %s", line)
    if args.command == "conformance":
        from harness.conformance import Bounds, conformance

        return conformance(args.topology, bounds=Bounds(args.max_examples, args.request_timeout, args.max_time,
                                                        args.seed), state_dir=args.state_dir, junit=args.junit)
    if args.command in ("run", "load"):
        warm = _early_warm_up(args)
        try:
            return _run(args, warm) if args.command == "run" else _load(args, warm)
        finally:
            if warm is not None:
                warm.close()  # a no-op once a run's target has taken and stopped it
    if args.command == "selftest":
        return _selftest(args)
    if args.command == "shrink":
        return _shrink(args)
    return _replay(args)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO,
                        format="%(asctime)s %(name)s %(message)s", datefmt="%H:%M:%S", stream=sys.stderr)
    try:
        return _dispatch(args)
    except BadInput as exc:
        print(printable(f"umchaos: {exc}"), file=sys.stderr)
        return EXIT_BAD_INPUT
    except HarnessError as exc:
        print(printable(f"umchaos: {exc}"), file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("umchaos: interrupted", file=sys.stderr)
        return EXIT_UNKNOWN
    except BrokenPipeError:  # `umchaos list | head`: the reader left; nothing more to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_PASS
    except Exception as exc:  # noqa: BLE001 - one line for the user, the traceback in a file
        where = _keep_traceback(args.state_dir)
        print(printable(f"umchaos: internal error: {exc.__class__.__name__}: {exc} ({where})"), file=sys.stderr)
        return EXIT_UNKNOWN


def _keep_traceback(state_dir: Path) -> str:
    """The traceback in the state folder, else in a temporary file; never an error of its own
    (a crash handler that crashes prints a traceback and exits 1, which CI reads as a violation)."""
    import tempfile

    text = traceback.format_exc()
    try:
        crash = state_dir / "crash.log"
        crash.parent.mkdir(parents=True, exist_ok=True)
        crash.write_text(text)
        return f"traceback in {crash}"
    except OSError:
        pass
    try:
        fd, name = tempfile.mkstemp(prefix="umchaos-crash-", suffix=".log")
        with os.fdopen(fd, "w") as out:
            out.write(text)
        return f"traceback in {name}"
    except OSError:
        return "no traceback kept: neither the state folder nor the temporary folder is writable"


def entry() -> NoReturn:
    """The console script: ``main``, then exit without the interpreter's teardown of every module
    loaded (matplotlib, pydantic, requests), a cost paid by every command. All work is done by then:
    reports closed, children stopped; only the standard streams and logging need flushing."""
    code = main()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    entry()
