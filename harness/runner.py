"""The runner: one scenario, one seed, through every phase; it owns cleanup.

validate → backend up → wait ready → steady-state probe → load → fault timeline → heal →
recovery window → steady-state probe → collect audit → checks → reports → teardown.
Teardown (heal every fault, stop load, stop the target and Toxiproxy, close the journal) runs
whatever happened before: an exception, Ctrl-C, SIGTERM, the run's timeout (SIGUSR1 from the
watchdog), an abort condition of the scenario. A watchdog process outlives a SIGKILLed runner and
heals what its journal lists.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import logging
import os
import platform
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness import __version__
from harness.abort import Aborted, AbortMonitor, fault_windows, services_down_by
from harness.backends import PAPER_BACKENDS, check_backend, make_backend, preflight
from harness.backends.base import BackendSpec
from harness.checks.base import CheckResult, verdict_of
from harness.checks.common import fault_ops
from harness.collect import AuditSources, BalanceSampler, collect_audit, topology_facts
from harness.errors import (
    EXIT_BAD_INPUT,
    EXIT_PASS,
    EXIT_UNKNOWN,
    EXIT_VIOLATION,
    BadInput,
    HarnessError,
    Undecided,
)
from harness.faults.base import (
    BACKEND_FAULTS,
    FAULTS,
    Fault,
    FaultEnv,
    FaultError,
    build_fault,
    load_fault_kinds,
)
from harness.faults.fault_journal import FaultJournal, heal_leftovers, heal_run, stop_run_processes
from harness.history import History, Op
from harness.inputs import check_seed, run_folder_path
from harness.load.front import Failover
from harness.load.locust_process import LoadSpec, spawn_load
from harness.load.probe import ProbeClient, place_sentinels, probe
from harness.load.progress import ProgressDisplay
from harness.load.status_page import StatusPoller, status_poller
from harness.load.versions import VersionProbe
from harness.market import MarketFeed, PricePath
from harness.recorder import Recorder, merge
from harness.result import FaultSource, RunResult, RunStatus
from harness.safety import refuse_unsafe_target
from harness.scenario import KINDS, Scenario, load_scenario, services_touched, um_only
from harness.schedule import Schedule, ScheduledFault, build_schedule, expands_links
from harness.targets.base import FaultLimits
from harness.targets.client import load_client_api
from harness.watchdog import WatchdogSpec, start_watchdog
from harness.workload import WRITE_KINDS

if TYPE_CHECKING:
    from harness.backends.base import Backend, RunningTarget
    from harness.load.locust_process import LoadProcess
    from harness.report import PngAhead
    from harness.targets import Warm

__all__ = ["RunOptions", "LoadOverrides", "RunContext", "run_scenario"]

log = logging.getLogger("umchaos.runner")
STEADY_STATE_PROBES = 3
# The run ends its load when its window ends (load.finish); Locust's own --run-time, this much
# later, is the bound should the harness never say so.
LOAD_BOUND_SLACK_S = 10.0

WATCHDOG_MARGIN_S = 180.0  # start-up, readiness, probes, audit and teardown on a busy machine
RUN_ROLES = ("price_intake", "matching", "ledgers", "replication")  # what every run reaches the target by
POLL_S = 0.25  # how often abort conditions are looked at while waiting
LOAD_HISTORY = "load-history.jsonl"  # the load's ops as Locust writes them (".w<i>" per worker), until merged


@dataclass(frozen=True)
class RunOptions:
    seed: int | None = None
    backend: str = "local"
    report_dir: Path = Path("reports")
    state_dir: Path = Path(".umchaos")
    bugs: tuple[str, ...] | None = None  # overrides the scenario's target.bugs
    schedule: Schedule | None = None  # replay: use exactly this schedule
    timeout_s: float | None = None  # abort the run after this long (default: its duration + a margin)
    load: LoadOverrides | None = None  # `umchaos load`: the command line's users, rate, duration, workers
    no_faults: bool = False  # `umchaos load --no-faults`: load only, the timeline left out
    progress: bool = False  # live numbers while load flows (rich on a terminal, log lines otherwise)
    warm: Warm | None = None  # the default target's warm-up, begun early by the CLI; the first local run takes it
    target_file: Path | None = None  # run against the platform this topology file describes (backend external)
    dry_run: bool = False  # only prepared and shown: a paper backend (k8s) is taken too


@dataclass(frozen=True)
class LoadOverrides:
    """What ``umchaos load`` options replace in the scenario's ``load`` section (None keeps it)."""

    users: int | None = None
    spawn_rate: float | None = None
    duration_s: float | None = None
    workers: int = 0
    expect_workers: int = 0  # remote workers (`umchaos worker --master`) the master waits for
    master_bind: tuple[str, int] = ("127.0.0.1", 0)  # where that master listens; port 0: a free one
    workers_wait_s: float = 120.0  # how long it waits for them (then exit 3)


@dataclass
class Interrupts:
    """Signals that end a run (Ctrl-C, SIGTERM, the watchdog's timeout) raise KeyboardInterrupt
    where they land. Python swallows an exception raised inside a finalizer (a socket closed by
    the GC, say), so each is also kept here until it is taken: at the next phase at the latest."""

    pending: str | None = None

    def handler(self, why: str) -> Callable[..., None]:
        def interrupt(*_: Any) -> None:
            self.pending = why
            raise KeyboardInterrupt(why)
        return interrupt

    def take(self) -> None:
        """Raise a signal that arrived but was swallowed; forget one that was handled."""
        why, self.pending = self.pending, None
        if why is not None:
            raise KeyboardInterrupt(why)


SIGNALS = {signal.SIGINT: "", signal.SIGTERM: "SIGTERM",  # "" reads "SIGINT, Ctrl-C" in the reason
           signal.SIGUSR1: "run timeout: the watchdog's deadline passed"}


@dataclass
class RunContext:
    """The composition root of one run, passed explicitly to every phase."""

    run_id: str
    run_dir: Path
    scenario_path: Path
    scenario: Scenario
    schedule: Schedule
    options: RunOptions
    bugs: tuple[str, ...]
    journal: FaultJournal
    recorder: Recorder
    phases: list[dict[str, Any]] = field(default_factory=list)
    landed: dict[str, bool] = field(default_factory=dict)
    monitor: AbortMonitor | None = None
    interrupts: Interrupts = field(default_factory=Interrupts)

    def phase(self, name: str) -> None:
        if name != "teardown":
            self.interrupts.take()
        now = time.time()
        if self.phases and "end" not in self.phases[-1]:
            self.phases[-1]["end"] = now
        self.phases.append({"phase": name, "start": now})
        self.recorder.phase(name)
        log.info("phase: %s", name)


def wait_until(ctx: RunContext, deadline_mono: float) -> None:
    """Sleep until ``deadline_mono``, looking at the abort conditions every POLL_S."""
    while (left := deadline_mono - time.monotonic()) > 0:
        time.sleep(min(POLL_S, left))
        if ctx.monitor is not None:
            ctx.monitor.poll(time.monotonic() - ctx.recorder.start_mono)


def prepare(scenario_path: Path, options: RunOptions) -> RunContext:
    """Validate everything before touching anything."""
    check_backend(options.backend, paper=options.dry_run)
    stand_in = None
    if options.target_file is not None:
        from harness.targets.external import load_topology_file

        if options.backend != "external":
            raise BadInput(f"--target-file: the platform is already running; --backend {options.backend} "
                           "would start another (leave --backend out)")
        stand_in = load_topology_file(options.target_file)
        if options.bugs:
            raise BadInput(f"--bugs: {stand_in.name} from --target-file runs with the switches it was started with; "
                           "the harness sets none (umchaos selftest restarts it with each: switches.up)")
    elif options.backend == "external":
        raise BadInput("--backend external: needs --target-file, the topology file of the running platform")
    scenario = load_scenario(scenario_path, stand_in=stand_in)
    refuse_unsafe_target(scenario)
    preflight(options.backend, tuple(scenario.allow_targets))
    if stand_in is not None and scenario.target.bugs:
        line = next((n for n, text in enumerate(scenario.source.lines, 1) if "bugs" in text), 1)
        raise BadInput(f"{scenario_path}:{line}: target.bugs: {stand_in.name} runs with the switches it was started "
                       "with; the harness sets none")
    if stand_in is not None and scenario.abort_when is not None and scenario.abort_when.target_process_gone:
        if blind := [s for s in stand_in.topology.services if s not in stand_in.controls]:
            line = next((n for n, text in enumerate(scenario.source.lines, 1) if "target_process_gone" in text), 1)
            raise BadInput(f"{scenario_path}:{line}: abort_when.target_process_gone: {stand_in.file} gives no control "
                           f"of {', '.join(blind)}: whether its process is gone cannot be told")
    seed = options.seed if options.seed is not None else scenario.seed
    schedule = options.schedule or build_schedule(scenario, seed)
    if options.no_faults:
        schedule = replace(schedule, faults=())
    if options.load is not None and options.load.duration_s is not None:
        # cut short before the last heal plus recovery.within, the run would judge a recovery it never allowed
        needed = max((f.end_s + schedule.recovery_within_s for f in schedule.faults), default=0.0)
        if options.load.duration_s < needed:
            raise BadInput(f"--duration {options.load.duration_s:g}s: ends before the last fault has healed and "
                           f"recovery.within has passed; the shortest that works is {needed:g}s (or --no-faults)")
        schedule = replace(schedule, duration_s=options.load.duration_s)
    if isinstance(limits := scenario.target_system, FaultLimits):
        for fault in schedule.faults:
            touched = services_touched(fault.kind, fault.target, scenario.topology)
            if why := limits.refusal(fault.kind, KINDS[fault.kind].process_need, touched):
                raise BadInput(f"{scenario_path}:{fault.lines[0] or 1}: timeline ({fault.kind}): {why}")
    if missing := [role for role in RUN_ROLES if role not in scenario.topology.roles]:
        raise BadInput(f"{scenario_path}: target {scenario.target.system} names no {', '.join(missing)} in its "
                       "topology's roles: a run publishes prices and fetches the audit through them")
    _refuse_unsupported_kinds(scenario_path, schedule, options.backend)
    bugs = tuple(options.bugs if options.bugs is not None else scenario.target.bugs)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    run_id = f"uc{os.getpid():x}{int(time.time() * 1000) % 10**6:06d}"
    run_dir = run_folder_path(options.report_dir, stamp, scenario.name, check_seed(seed, "--seed"), bugs)
    return RunContext(run_id=run_id, run_dir=run_dir, scenario_path=scenario_path, scenario=scenario,
                      schedule=schedule, options=options, bugs=bugs,
                      journal=FaultJournal(options.state_dir, run_id), recorder=Recorder(time.monotonic()))


def _refuse_unsupported_kinds(scenario_path: Path, schedule: Schedule, backend: str) -> None:
    """Each fault kind of the schedule runs on ``backend`` (a paper backend checks its own way)."""
    load_fault_kinds()
    if backend in PAPER_BACKENDS:
        importlib.import_module(PAPER_BACKENDS[backend]).check_schedule(scenario_path, schedule)
    elif unsupported := sorted({f.kind for f in schedule.faults} - set(FAULTS) - set(BACKEND_FAULTS.get(backend, {}))):
        line = next(f.lines[0] for f in schedule.faults if f.kind in unsupported) or 1
        raise BadInput(f"{scenario_path}:{line}: fault kind(s) {', '.join(unsupported)} not supported by the "
                       f"{backend} backend")


def run_scenario(scenario_path: Path, options: RunOptions) -> RunResult:
    """Run one scenario end to end; always heals and tears down; returns the written result."""
    heal_leftovers(options.state_dir)
    ctx = prepare(scenario_path, options)
    ctx.run_dir.mkdir(parents=True, exist_ok=True)
    (ctx.run_dir / "schedule.json").write_text(json.dumps(ctx.schedule.to_dict(), indent=1))
    on_main = threading.current_thread() is threading.main_thread()
    ctx.journal.open(signals=on_main)
    timeout_s = options.timeout_s or ctx.schedule.duration_s + WATCHDOG_MARGIN_S
    watchdog = start_watchdog(WatchdogSpec(options.state_dir, ctx.run_id, deadline_s=timeout_s))
    started = time.time()
    status: RunStatus = "unknown"
    reason: str | None = None
    checks: list[CheckResult] = []
    audit: dict[str, Any] = {"errors": []}
    png_ahead = checked = None
    bad_input = False  # the environment is not what the command line said (e.g. its workers never came): exit 3
    previous = {sig: signal.signal(sig, ctx.interrupts.handler(why)) for sig, why in SIGNALS.items()} if on_main else {}
    try:
        with ExitStack() as teardown:
            try:
                judged = _phases(ctx, teardown)
                audit, checks, status, reason, checked = (judged.audit, judged.results, judged.status, judged.reason,
                                                          judged.history)
                ctx.interrupts.take()  # one that landed in a finalizer during the last phase
            except KeyboardInterrupt as exc:
                ctx.interrupts.pending = None
                status, reason = "aborted", f"interrupted ({str(exc) or 'SIGINT, Ctrl-C'}) during phase {ctx.phases[-1]['phase'] if ctx.phases else 'start'}"
            except Aborted as exc:
                status, reason = "aborted", f"{exc} (during phase {ctx.phases[-1]['phase'] if ctx.phases else 'start'})"
            except HarnessError as exc:
                status, reason, bad_input = "unknown", str(exc), isinstance(exc, BadInput)
            except Exception as exc:  # noqa: BLE001 - garbage from the target must not skip the report
                log.exception("internal error")
                status, reason = "unknown", (f"internal error during phase {ctx.phases[-1]['phase'] if ctx.phases else 'start'}: "
                                             f"{exc.__class__.__name__}: {exc}")
            ctx.phase("teardown")
            if checked is not None:
                png_ahead = draw_png_ahead(ctx, checked, audit, status, started)
    except KeyboardInterrupt as exc:
        again = "again " if status == "aborted" else ""
        status, reason = "aborted", (f"{reason + '; ' if reason else ''}interrupted {again}"
                                     f"({str(exc) or 'SIGINT, Ctrl-C'}) during teardown")
    except HarnessError as exc:  # a teardown step failed: say so (after the first error), the journal still lists it
        status, reason = "unknown", f"{reason + '; ' if reason else ''}teardown: {exc}"
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    status, reason = _close_journal(ctx, watchdog, status, reason)
    if ctx.phases and "end" not in ctx.phases[-1]:
        ctx.phases[-1]["end"] = time.time()
    history = merge(ctx.recorder.snapshot())
    result = _result(ctx, status, reason, checks, started, history, bad_input)
    result, html = _write_reports(ctx.run_dir, result, history, audit, png_ahead)
    _wait_watchdog(watchdog)
    from harness.report.summary import summary_line

    print(summary_line(result, html), flush=True)
    return result


def _write_reports(run_dir: Path, result: RunResult, history: History, audit: dict[str, Any],
                   png_ahead: PngAhead | None) -> tuple[RunResult, Path]:
    """The run folder's reports; a run that could not write them all (disk full, folder gone)
    cannot claim a verdict it could not record: unknown, and written again as such."""
    from harness.report import write_reports

    try:
        html = write_reports(run_dir, result, history, audit, png_ahead)
        _drop_load_history(run_dir)
    except Undecided as exc:
        before = f"; the run itself: {result.status}" + (f" ({result.reason})" if result.reason else "")
        result = replace(result, status="unknown", exit_code=EXIT_UNKNOWN, reason=f"{exc}{before}")
        try:
            html = write_reports(run_dir, result, history, audit)
            _drop_load_history(run_dir)
        except Undecided:
            html = run_dir / "report.html"
    return result, html


def _drop_load_history(run_dir: Path) -> None:
    """The load's own op files, once history.jsonl (which holds every op of them) is on disk: a run
    folder keeps one history. A run that could not write its reports keeps them."""
    for path in run_dir.glob(LOAD_HISTORY + "*"):
        path.unlink(missing_ok=True)


def _close_journal(ctx: RunContext, watchdog: subprocess.Popen[bytes], status: RunStatus,
                   reason: str | None) -> tuple[RunStatus, str | None]:
    """After teardown: heal from the journal what teardown could not (e.g. Toxiproxy died), sweep stray processes.

    The journal goes only when nothing is left; then the watchdog, seeing it gone, exits. If a fault
    is still listed, the watchdog retries once this process is gone, and so does ``umchaos cleanup``.
    """
    leftovers = ctx.journal.faults()
    if leftovers:
        done = heal_run(ctx.journal.path, json.loads(ctx.journal.path.read_text()))
        log.warning("healed from the journal: %s", "; ".join(done))
        if ctx.journal.path.exists():
            return "unknown", f"faults not healed: {', '.join(leftovers)} (run `umchaos cleanup`)"
        status = "aborted" if status == "aborted" else "unknown"
        reason = f"{reason}; healed from the journal afterwards: {', '.join(leftovers)}"
    else:
        if stray := stop_run_processes(ctx.run_id):  # e.g. a second Ctrl-C cut a stop short
            log.warning("stopped %d process(es) of run %s that teardown left", stray, ctx.run_id)
        ctx.journal.close()
    if not ctx.journal.path.exists():  # look now, not at the next poll (before its handler is set, it just ends)
        watchdog.send_signal(signal.SIGUSR2)
    return status, reason


def _wait_watchdog(watchdog: subprocess.Popen[bytes]) -> None:
    """After the reports (it exits while they are written): it has seen the journal gone."""
    try:
        watchdog.wait(timeout=5)
    except subprocess.TimeoutExpired:
        log.warning("watchdog %d still running; it exits when it notices the run is over", watchdog.pid)


@dataclass(frozen=True)
class Judgement:
    """What the checks phase decided, with the history and audit it decided on."""

    audit: dict[str, Any]
    results: list[CheckResult]
    status: RunStatus
    reason: str | None
    history: History


@dataclass
class Live:
    """What a run has running between its phases; each part is set by the phase that starts it and
    stopped by the teardown callback that phase registers."""

    backend: Backend
    target_down: TargetDown
    load: LoadProcess
    target: RunningTarget
    market: MarketFeed
    trader: Mapping[str, Any]
    client: ProbeClient  # the harness's own requests (probes, sentinels), as the trader
    sources: AuditSources
    keep_load_ops: Callable[[], None]  # once: after load.stop in teardown, or at the end of recovery
    sampler: BalanceSampler | None = None
    progress: ProgressDisplay | None = None
    status: StatusPoller | None = None  # the target's status page, read while load flows (None: it has none)
    load_started: float = 0.0


def _phases(ctx: RunContext, teardown: ExitStack) -> Judgement:
    live = _up(ctx, teardown)
    _steady_state_before(ctx, live)
    _load_and_faults(ctx, teardown, live)
    _recovery(ctx, live)
    audit = _collect(ctx, live)
    return _checks(ctx, audit)


def _load_spec(ctx: RunContext) -> LoadSpec:
    scenario, over = ctx.scenario, ctx.options.load or LoadOverrides()
    return LoadSpec(users=over.users or scenario.load.users, spawn_rate=over.spawn_rate or scenario.load.spawn_rate,
                    mix={str(k): v for k, v in scenario.load.mix.items()},
                    duration_s=ctx.schedule.duration_s + LOAD_BOUND_SLACK_S, timeout_s=5.0, workers=over.workers,
                    expect_workers=over.expect_workers, master_bind=over.master_bind,
                    classes={str(k): v for k, v in scenario.load.classes.items()} if scenario.load.classes else None,
                    client_api=scenario.target_system.client_api)


def backend_spec(ctx: RunContext) -> BackendSpec:
    """The narrow view of the run a backend gets."""
    scenario, topology = ctx.scenario, ctx.scenario.topology
    return BackendSpec(run_id=ctx.run_id, run_dir=ctx.run_dir,
                       private_dir=(ctx.options.state_dir / "runs" / ctx.run_id).resolve(),
                       system=scenario.target_system, host=scenario.target.host,
                       allow_targets=tuple(scenario.allow_targets), seed=ctx.schedule.seed, bugs=ctx.bugs,
                       risk=scenario.risk_budget,
                       proxied_links=tuple(sorted({link for fault in ctx.schedule.faults
                                                   for link in expands_links(fault, topology)})),
                       resources=ctx.journal, warm=ctx.options.warm, releases=_releases(ctx))


def _releases(ctx: RunContext) -> tuple[tuple[str, str], ...]:
    """(service, build) of each release the schedule makes (the kinds whose services' versions
    are probed): the backend checks it can start each build, the probe asks those services."""
    return tuple(sorted({(service, str(f.params["build"])) for f in ctx.schedule.faults if KINDS[f.kind].probes_versions
                         for service in services_touched(f.kind, f.target, ctx.scenario.topology)}))


def _up(ctx: RunContext, teardown: ExitStack) -> Live:
    """backend_up, wait_ready: the target, Locust (importing meanwhile, sending nothing yet) and
    the harness's market feeding the target's price intake."""
    scenario, schedule = ctx.scenario, ctx.schedule
    ctx.phase("backend_up")
    backend = make_backend(ctx.options.backend, backend_spec(ctx))
    target_down = TargetDown(backend.down)
    teardown.callback(target_down.finish)  # registered first, so it runs last: load stops before the target goes
    load = spawn_load(_load_spec(ctx), history_file=ctx.run_dir / LOAD_HISTORY, run_id=ctx.run_id,
                      out_dir=ctx.run_dir, start_mono=ctx.recorder.start_mono)
    kept: list[bool] = []

    def keep_load_ops() -> None:
        """An aborted or failed run still reports the load it sent (runs after load.stop)."""
        if not kept:
            kept.append(True)
            ctx.recorder.extend(load.read_ops())

    teardown.callback(keep_load_ops)
    teardown.callback(load.stop)
    ctx.journal.add_resource("locust", {"pgids": [proc.pid for proc in load.procs]})
    if load.expect_workers:
        log.info("Locust master for %d remote worker(s) at %s once the target is up: on each, "
                 "`umchaos worker --master %s`", load.expect_workers, load.master, load.master)
    target = backend.up()
    # The harness is the market: its seeded ticks reach every price intake from now until the audit
    # is in (bounded by the run's own watchdog margin should teardown never come).
    intakes = {name: target.services[name] + "/intake" for name in scenario.topology.role_all("price_intake")}
    market = MarketFeed(PricePath(seed=schedule.seed), intakes, ctx.recorder,
                        max_s=schedule.duration_s + WATCHDOG_MARGIN_S).start()
    teardown.callback(market.stop)
    ctx.phase("wait_ready")
    backend.wait_ready(deadline_s=30)
    trader = next(a for a in target.accounts if a["role"] == "trader")
    client = ProbeClient(Failover(target.front), trader["account"], trader["api_key"],
                         load_client_api(scenario.target_system.client_api))
    return Live(backend=backend, target_down=target_down, load=load, target=target, market=market, trader=trader,
                client=client,
                sources=AuditSources.of(scenario.topology, target.services), keep_load_ops=keep_load_ops)


def _steady_state_before(ctx: RunContext, live: Live) -> None:
    """The steady state holds before any fault, and the sentinel orders rest in the book."""
    ctx.phase("steady_state_before")
    live.load.configure(live.target.accounts_file)
    if (why := probe_until_steady(ctx, live.client, "before")) is not None:
        raise Undecided(f"steady state not met before faults ({STEADY_STATE_PROBES} probes): {why}")
    sentinels = place_sentinels(live.client, start_mono=ctx.recorder.start_mono)
    ctx.recorder.extend(Op.from_dict({**op, "value": {**op["value"], "phase": "sentinel"}}) for op in sentinels)


def _start_readers(ctx: RunContext, teardown: ExitStack, live: Live) -> None:
    """What reads the target beside the load until it stops: its status page (if its client API
    reads one) and, for the services a release of the schedule touches, the version they answer."""
    max_s = ctx.schedule.duration_s + LOAD_BOUND_SLACK_S
    live.status = status_poller(live.client.front, live.client.api, ctx.recorder, max_s=max_s)
    if live.status is not None:
        teardown.callback(live.status.start().stop)
    if released := {service for service, _ in _releases(ctx)}:
        probe = VersionProbe(released, live.target.services, ctx.recorder, max_s=max_s)
        teardown.callback(probe.start().stop)


def _load_and_faults(ctx: RunContext, teardown: ExitStack, live: Live) -> None:
    """load, faults: Locust released, balances sampled, the abort conditions watched, the timeline
    played and every fault healed."""
    scenario, schedule, target = ctx.scenario, ctx.schedule, live.target
    env = FaultEnv(run_id=ctx.run_id, proxies=target.proxies, processes=live.backend, services=target.services,
                   regions=target.regions, risk=target.risk, backend=live.backend.name, market=live.market,
                   topology=scenario.topology)
    faults = [build_fault(spec, env) for spec in schedule.faults]
    active: dict[str, Fault] = {}

    ctx.phase("load")
    live.load.wait_workers((ctx.options.load or LoadOverrides()).workers_wait_s)
    live.load.release()
    live.sampler = BalanceSampler(live.sources.ledgers).start()
    teardown.callback(live.sampler.stop)
    if not live.load.wait_first_op(timeout=30):
        log.warning("no load op within 30 s of starting Locust (see %s)", live.load.log)
    live.load_started = time.monotonic()
    ctx.recorder.phase("load_start")
    _start_readers(ctx, teardown, live)
    if scenario.abort_when is not None:
        start = live.load_started - ctx.recorder.start_mono
        windows = fault_windows(schedule.faults, start, start + schedule.duration_s + 60, schedule.recovery_within_s)
        ctx.monitor = AbortMonitor(scenario.abort_when, live.load.history_files, windows, tuple(target.services),
                                   live.backend.alive, lambda: set().union(*(
                                       services_down_by(f.spec.kind, f.spec.target, scenario.topology)
                                       for f in active.values())))
    if ctx.options.progress:
        live.progress = ProgressDisplay(
            files=live.load.history_files, matching=live.sources.matching[0], max_s=schedule.duration_s + 30,
            status=lambda: (ctx.phases[-1]["phase"] if ctx.phases else "-",
                            ", ".join(f"{f.spec.kind} {target_label(f.spec)}" for f in list(active.values()))))
        teardown.callback(live.progress.start().stop)

    ctx.phase("faults")
    warm_late_imports()
    teardown.callback(lambda: heal_all(ctx, active))
    run_timeline(ctx, faults, active, live.load_started)
    heal_all(ctx, active)
    ctx.recorder.phase("faults_healed", recovery_within_s=schedule.recovery_within_s)


def _recovery(ctx: RunContext, live: Live) -> None:
    """recovery, steady_state_after: the rest of the window, then a probe (judged by the recovery
    check) while Locust finishes its last requests and exits."""
    ctx.phase("recovery")
    wait_until(ctx, live.load_started + ctx.schedule.duration_s)
    ctx.monitor = None  # load is ending: errors from here on are not the target's
    live.load.finish()
    ctx.phase("steady_state_after")
    probe_until_steady(ctx, live.client, "after")
    live.load.wait(timeout=15)
    live.load.stop()
    if live.status is not None:
        live.status.stop()
    if live.progress is not None:
        live.progress.stop()
    live.keep_load_ops()
    ctx.recorder.phase("load_end")


def _collect(ctx: RunContext, live: Live) -> dict[str, Any]:
    """collect_audit; then the target goes down beside the checks (the rest needs only data)."""
    ctx.phase("collect_audit")
    samples = live.sampler.stop() if live.sampler is not None else []
    scenario = ctx.scenario
    # Nothing about bug switches: a check judges what happened, never what the target was told to do.
    config = {"risk": dict(live.target.risk), "seed": ctx.schedule.seed,
              "steady_state": scenario.steady_state.per_phase(), "probe_gate": scenario.steady_state.probe_gate(),
              "topology": topology_facts(scenario.topology), "run_started": ctx.phases[0]["start"]}
    audit = collect_audit(live.sources, config=config, samples=samples)
    live.market.stop()  # after the audit: every decision it holds was made while ticks flowed
    live.target_down.start()
    return audit


def _checks(ctx: RunContext, audit: dict[str, Any]) -> Judgement:
    """checks, and the run's verdict: a violation fails it; a fault that did not land, an audit
    that could not be collected whole or an undecided check leaves it unknown."""
    ctx.phase("checks")
    history = merge(ctx.recorder.snapshot())
    from harness.checks import run_checks

    results = run_checks(list(ctx.scenario.checks), history, audit)
    verdict = verdict_of(results)
    not_landed = [fid for fid, ok in ctx.landed.items() if not ok]
    status: RunStatus = "pass"
    reason: str | None = None
    if verdict is False:
        status, reason = "fail", "violated: " + ", ".join(r.name for r in results if r.valid is False)
    elif not_landed:
        status, reason = "unknown", f"fault(s) did not land: {', '.join(not_landed)}"
    elif audit["errors"] and verdict is True:  # what could not be collected may hold the violation
        status, reason = "unknown", f"audit incomplete: {'; '.join(audit['errors'][:3])}"
    elif verdict == "unknown":
        status, reason = "unknown", "undecided: " + ", ".join(r.name for r in results if r.valid == "unknown")
    return Judgement(audit, results, status, reason, history)


class TargetDown:
    """The backend's ``down``, started on a side thread once a run needs the target no more (its
    services exit on the other core while checks and reports are computed), finished by teardown;
    run there in full if it was never started. Its error, if any, is teardown's."""

    def __init__(self, down: Callable[[], None]) -> None:
        self.down = down
        self.thread: threading.Thread | None = None
        self.error: BaseException | None = None

    def start(self) -> None:
        self.thread = threading.Thread(target=self._down, name="target-down", daemon=True)
        self.thread.start()

    def _down(self) -> None:
        try:
            self.down()
        except BaseException as exc:  # noqa: BLE001 - raised again by finish, on the main thread
            self.error = exc

    def finish(self) -> None:
        if self.thread is None:
            self.down()
            return
        self.thread.join()
        if self.error is not None:
            raise self.error


def draw_png_ahead(ctx: RunContext, history: History, audit: dict[str, Any], status: RunStatus,
                   started: float) -> PngAhead:
    """Start drawing report.png, as the run stands before teardown, while teardown runs."""
    from harness.report import PngAhead
    from harness.report.load_charts import chart_title, load_chart

    title, ended = chart_title(status, ctx.scenario.name, ctx.schedule.seed), ctx.phases[-1]["start"]  # teardown's
    return PngAhead(ctx.run_dir, lambda: load_chart(history, audit, started=started, ended=ended, title=title))


def warm_late_imports() -> None:
    """Import what only a run's end needs (checks, reports, matplotlib and its first drawing: half
    a second of CPU) on a side thread while the run waits out its faults: start-up, CPU-bound on
    two cores, does not pay for it, and the end pays only for its work."""
    def imports() -> None:
        import harness.checks  # noqa: F401
        from harness.report.load_charts import warm_png

        warm_png()  # matplotlib's imports, fonts and caches

    threading.Thread(target=imports, name="warm-imports", daemon=True).start()


def probe_until_steady(ctx: RunContext, client: ProbeClient, phase: str) -> str | None:
    """Probe up to STEADY_STATE_PROBES times until the steady-state gate holds; None once it does,
    else the last reason. A freshly started (or just recovered) target on a busy machine may need
    a moment, so one slow probe does not decide. Every probe's requests are real and stay in the
    history, each op marked with its phase and attempt."""
    from harness.checks.steady_state import probe_violation

    gate = ctx.scenario.steady_state.probe_gate()
    why = None
    for attempt in range(1, STEADY_STATE_PROBES + 1):
        raw = probe(client, count=ctx.scenario.steady_state.probe_rounds, start_mono=ctx.recorder.start_mono,
                    tag=f"p{phase[0]}{attempt}")
        ops = [Op.from_dict({**op, "value": {**op["value"], "phase": phase, "attempt": attempt}}) for op in raw]
        ctx.recorder.extend(ops)
        if (why := probe_violation(ops, gate)) is None:
            return None
        if attempt < STEADY_STATE_PROBES:
            log.info("steady state not met %s the faults yet (%s); probing again", phase, why)
            time.sleep(1.0)
    return why


def run_timeline(ctx: RunContext, faults: list[Fault], active: dict[str, Fault], t0: float) -> None:
    """Inject and heal each fault at its scheduled time (seconds after load start)."""
    events: list[tuple[float, int, str, Fault]] = []
    for fault in faults:
        events.append((fault.spec.at_s, 1, "inject", fault))
        if fault.spec.duration_s is not None and not KINDS[fault.spec.kind].instant:  # a drift: nothing to heal
            events.append((fault.spec.at_s + fault.spec.duration_s, 0, "heal", fault))
    for at, _, action, fault in sorted(events, key=lambda e: (e[0], e[1])):
        wait_until(ctx, t0 + at)
        if action == "inject":
            inject(ctx, fault, active)
        else:
            heal(ctx, fault, active)
    wait_until(ctx, t0 + max((e[0] for e in events), default=0.0))


def inject(ctx: RunContext, fault: Fault, active: dict[str, Fault]) -> None:
    spec = fault.spec
    base = {"id": spec.id, "fault": spec.kind, "target": target_label(spec), "action": "inject",
            "expect_um_halt": fault.expect_um_halt(),
            "um_only": um_only(spec.kind, spec.target, ctx.scenario.topology), "params": dict(spec.params)}
    ctx.journal.add_fault(spec.id, fault.journal_entry())  # on disk before it is applied
    instant = KINDS[spec.kind].instant  # an event (a price shock or drift): nothing to heal
    if not instant:
        active[spec.id] = fault
    ctx.recorder.record("invoke", "fault", "nemesis", base)
    try:
        landing = fault.inject()
    except FaultError as exc:
        ctx.landed[spec.id] = False
        ctx.recorder.record("info", "fault", "nemesis", {**base, "landed": False, "detail": str(exc)})
        log.error("fault %s did not land: %s", spec.id, exc)
        return
    ctx.landed[spec.id] = landing.landed
    ctx.recorder.record("info", "fault", "nemesis", {**base, "landed": landing.landed, "detail": landing.detail})
    if instant:
        ctx.journal.remove_fault(spec.id)
    log.info("fault %s %s: %s", spec.id, fault.describe(), landing.detail)


def heal(ctx: RunContext, fault: Fault, active: dict[str, Fault]) -> None:
    spec = fault.spec
    base = {"id": spec.id, "fault": spec.kind, "target": target_label(spec), "action": "heal",
            "expect_um_halt": fault.expect_um_halt(),
            "um_only": um_only(spec.kind, spec.target, ctx.scenario.topology)}
    ctx.recorder.record("invoke", "fault", "nemesis", base)
    fault.heal()
    active.pop(spec.id, None)
    ctx.journal.remove_fault(spec.id)
    ctx.recorder.record("info", "fault", "nemesis", {**base, "landed": True, "detail": "healed"})


def heal_all(ctx: RunContext, active: dict[str, Fault]) -> None:
    errors = []
    for fault in list(active.values()):
        try:
            heal(ctx, fault, active)
        except Exception as exc:  # noqa: BLE001 - heal the others; the journal keeps this one
            errors.append(f"{fault.spec.id}: {exc}")
    if errors:
        raise FaultError("could not heal " + "; ".join(errors))


def target_label(spec: ScheduledFault) -> str:
    t = spec.target
    return str(t.get("link") or t.get("service") or (f"region {t['region']}" if "region" in t else None)
               or ",".join(t.get("links", ())) or "↔".join(t.get("regions", ())) or "market")


def _result(ctx: RunContext, status: RunStatus, reason: str | None, checks: list[CheckResult], started: float,
            history: History, bad_input: bool = False) -> RunResult:
    raw = ctx.scenario_path.read_bytes()
    lines = raw.decode(errors="replace").splitlines()
    sources = tuple(FaultSource(f.id, str(ctx.scenario_path), f.lines[0], f.lines[1],
                                "\n".join(lines[f.lines[0] - 1:f.lines[1]])) for f in ctx.schedule.faults)
    exit_code = EXIT_BAD_INPUT if bad_input else {"pass": EXIT_PASS, "fail": EXIT_VIOLATION}.get(status, EXIT_UNKNOWN)
    completions = history.completions(*WRITE_KINDS)
    return RunResult(
        run_id=ctx.run_id, scenario=ctx.scenario.name, scenario_file=str(ctx.scenario_path),
        scenario_hash=hashlib.sha256(raw).hexdigest(), seed=ctx.schedule.seed, backend=ctx.options.backend,
        bugs=ctx.bugs, status=status, exit_code=exit_code, started=started, ended=time.time(),
        checks=tuple(checks), schedule=tuple(ctx.schedule.to_dict()["faults"]), fault_sources=sources,
        reason=reason, versions=versions(), phases=tuple(ctx.phases),
        figures={"ops": len(history), "requests": len(completions),
                 "ok": sum(op.type == "ok" for op in completions), "fail": sum(op.type == "fail" for op in completions),
                 "info": sum(op.type == "info" for op in completions), **fault_figures(history),
                 **headline_figures(checks)},
    )


def fault_figures(history: History) -> dict[str, int]:
    """How many faults landed and how many heals took, as the harness recorded them."""
    return {f"faults_{stage}": sum(op.value.get("landed") is True for op in fault_ops(history, action))
            for stage, action in (("injected", "inject"), ("healed", "heal"))}


# The measurements a reader (and a trend across nights) looks for first: (figure, check, its figure).
HEADLINE = (("time_to_halt_s", "safe_halt", "detect_from_landing_s"),
            ("time_to_halt_from_client_breach_s", "safe_halt", "detect_from_client_breach_s"),
            ("rto_s", "recovery", "rto_s"),
            ("rto_from_loss_s", "recovery", "rto_from_loss_s"))


def headline_figures(checks: list[CheckResult]) -> dict[str, Any]:
    """Measured detection and recovery times, lifted from the checks that measured them."""
    by_name = {c.name: c.figures for c in checks}
    return {name: value for name, check, key in HEADLINE
            if (value := by_name.get(check, {}).get(key)) is not None}


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {"umchaos": __version__, "python": platform.python_version()}
    for pkg in ("locust", "aiohttp", "requests"):
        try:
            found[pkg] = version(pkg)
        except PackageNotFoundError:
            found[pkg] = "absent"
    from harness.backends.go_tools import TOXIPROXY_VERSION

    found["toxiproxy-server"] = TOXIPROXY_VERSION
    return found
