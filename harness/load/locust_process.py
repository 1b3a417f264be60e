"""Run Locust as a subprocess in its own process group, bounded by ``--run-time``.

A subprocess, because Locust's gevent monkey-patching must never touch the harness's threads.
``workers > 0`` uses Locust's own master/worker mode on this machine; each worker writes its
own history file and ``read_ops`` merges them. ``expect_workers > 0`` runs only the master, bound
where other machines reach it; workers join with ``umchaos worker`` (``run_worker``) and send
their ops over Locust's messages into the master's history file (``harness.load.remote``).

Locust takes about a second to import. ``spawn_load`` starts it before the target is up; the
locustfile waits for its config file, which ``LoadProcess.configure`` writes once the target's
gateway and accounts are known, so that second overlaps the target's start instead of adding to
the run. Its users then wait for ``release`` (after the steady-state probe) to send anything.
"""

from __future__ import annotations

import json
import math
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import BadInput, Undecided
from harness.history import Op, read_ops
from harness.net import free_port
from harness.targets.base import STANDARD_CLIENT
from harness.workload import USER_CLASSES

__all__ = ["LoadSpec", "LoadProcess", "spawn_load", "start_load", "run_worker"]

LOCUSTFILE = Path(__file__).with_name("locustfile.py")


@dataclass(frozen=True)
class LoadSpec:
    users: int
    spawn_rate: float
    mix: dict[str, float]
    duration_s: float
    timeout_s: float = 5.0
    workers: int = 0  # local worker processes
    expect_workers: int = 0  # remote workers (`umchaos worker`), instead of local ones
    master_bind: tuple[str, int] = ("127.0.0.1", 0)  # where the master listens for them; port 0: a free one
    classes: dict[str, float] | None = None  # user-class weights; None: the mixed UmTrader only
    think_s: tuple[float, float] | None = None  # UmTrader's wait between requests; None: 50-200 ms
    client_api: str = STANDARD_CLIENT  # module:attr of the target's ClientApi (imported by the users)

    def class_names(self) -> list[str]:
        """The locustfile classes to run (Locust takes them as positional arguments)."""
        if not self.classes:
            return ["UmTrader"]
        return [USER_CLASSES[name] for name, weight in self.classes.items() if weight > 0]


@dataclass
class LoadProcess:
    procs: list[subprocess.Popen[bytes]]
    history_file: Path
    log: Path
    history_files: list[Path]
    config_file: Path  # written by ``configure``; the locustfile waits for it
    settings: dict[str, Any]  # the config's part known before the target is up
    terminated: set[int] = field(default_factory=set)  # pids sent SIGTERM
    expect_workers: int = 0
    master: str = ""  # HOST:PORT remote workers join

    def configure(self, accounts_file: Path) -> None:
        """Point the waiting Locust processes at the target named in ``accounts_file``: they set up
        their users, who send nothing until ``release``. Written to a temporary name and renamed: a
        reader never sees half a config."""
        tmp = self.config_file.with_suffix(".tmp")
        tmp.write_text(json.dumps({**self.settings, "accounts_file": str(accounts_file),
                                   "release_file": str(self.release_file)}))
        tmp.rename(self.config_file)

    def release(self) -> None:
        """Let the users send."""
        self.release_file.touch()

    @property
    def release_file(self) -> Path:
        return self.config_file.with_suffix(".go")

    @property
    def pid(self) -> int:
        return self.procs[0].pid

    @property
    def returncode(self) -> int | None:
        return self.procs[0].poll()

    def wait(self, timeout: float) -> None:
        try:
            self.procs[0].wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pass

    def finish(self) -> None:
        """End the load now, gracefully: Locust stops its users, writes their last ops and exits
        (``wait`` for that). Its own ``--run-time`` is only the bound should this never come."""
        for proc in self.procs:
            if proc.poll() is None and proc.pid not in self.terminated:
                self.terminated.add(proc.pid)
                try:
                    os.killpg(proc.pid, signal.SIGTERM)  # once: a second one restarts Locust's shutdown
                except ProcessLookupError:
                    continue

    def stop(self) -> None:
        """SIGTERM each process group, SIGKILL after a grace period; idempotent. The release file,
        a signal only, does not stay in the report folder."""
        self.finish()
        self.release_file.unlink(missing_ok=True)
        _reap(self.procs)

    def wait_first_op(self, timeout: float) -> bool:
        """Block until a user has written an op (Locust and its workers take seconds to start on a
        busy machine), so the fault timeline counts from when load really flows; bounded."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(p.exists() and p.stat().st_size > 0 for p in self.history_files):
                return True
            if self.returncode is not None:
                return False
            time.sleep(0.01)
        return False

    @property
    def workers_file(self) -> Path:
        """The master's record of each remote worker that joined (its clock mapping)."""
        return Path(str(self.history_file) + ".workers")

    def wait_workers(self, timeout: float) -> None:
        """Block until every expected remote worker has joined and mapped its clock (none expected:
        at once). Workers that do not come are the environment's fault: BadInput, exit 3."""
        deadline = time.monotonic() + timeout
        while (joined := self.joined_workers()) < self.expect_workers:
            if self.returncode is not None:
                raise Undecided(f"the Locust master exited while waiting for workers (see {self.log})")
            if time.monotonic() > deadline:
                raise BadInput(f"--expect-workers {self.expect_workers}: {joined} worker(s) joined the Locust master "
                               f"at {self.master} within {timeout:g} s (start each with `umchaos worker --master "
                               f"{self.master}` on a machine that reaches it and the target)")
            time.sleep(0.1)

    def joined_workers(self) -> int:
        try:
            return self.workers_file.read_bytes().count(b"\n")
        except FileNotFoundError:
            return 0

    def read_ops(self) -> list[Op]:
        """Every worker's ops (a line cut short by a kill is lost, the rest kept); ``merge`` orders them."""
        ops: list[Op] = []
        for path in (*self.history_files, self.workers_file):
            if path.exists():
                ops += read_ops(path)
        return ops


def spawn_load(spec: LoadSpec, *, history_file: Path, run_id: str, out_dir: Path, start_mono: float) -> LoadProcess:
    """Start Locust (and its workers), waiting for ``configure`` and ``release``; stop it with ``stop``
    either way."""
    config = out_dir / "load-config.json"
    config.unlink(missing_ok=True)
    settings = {"history_file": str(history_file), "run_id": run_id, "start_mono": start_mono, "mix": spec.mix,
                "classes": spec.classes, "think_s": spec.think_s, "timeout_s": spec.timeout_s,
                "client_api": spec.client_api, "remote_workers": spec.expect_workers}
    run_time = f"{max(1, math.ceil(spec.duration_s))}s"
    base = [sys.executable, "-m", "harness.load.locust_main", "-f", str(LOCUSTFILE), "--loglevel", "WARNING"]
    log = out_dir / "locust.log"
    env = {**os.environ, "UMCHAOS_LOAD_CONFIG": str(config), "UMCHAOS_RUN_ID": run_id}
    procs, files = [], []
    master = ""
    with log.open("ab") as out:
        def spawn(args: list[str], worker: str = "") -> None:
            procs.append(subprocess.Popen(base + args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                          start_new_session=True, env={**env, "UMCHAOS_WORKER": worker}))
            files.append(Path(str(history_file) + worker))

        common = ["--headless", "--only-summary", "-u", str(spec.users), "-r", str(spec.spawn_rate),
                  "--run-time", run_time, "--stop-timeout", "3", *spec.class_names()]
        if spec.expect_workers > 0:
            host, port = spec.master_bind
            master = f"{host}:{port or free_port(host)}"
            spawn([*common, "--master", "--expect-workers", str(spec.expect_workers), "--master-bind-host", host,
                   "--master-bind-port", master.rpartition(":")[2]])  # remote workers' ops land in its history file
        elif spec.workers <= 0:
            spawn(common)
        else:
            port = free_port()  # not Locust's default 5557: two runs at once must not share a master
            spawn([*common, "--master", "--expect-workers", str(spec.workers), "--master-bind-host", "127.0.0.1",
                   "--master-bind-port", str(port)])
            files.pop()  # the master sends no requests
            for i in range(spec.workers):
                spawn(["--worker", "--master-host", "127.0.0.1", "--master-port", str(port), *spec.class_names()],
                      worker=f".w{i}")
    load = LoadProcess(procs, history_file, log, files, config, settings, expect_workers=spec.expect_workers,
                       master=master)
    load.release_file.unlink(missing_ok=True)  # users wait for it only once configured
    return load


def start_load(spec: LoadSpec, *, accounts_file: Path, history_file: Path, run_id: str, out_dir: Path,
               start_mono: float) -> LoadProcess:
    """Spawn and release at once: for callers whose target is already up."""
    load = spawn_load(spec, history_file=history_file, run_id=run_id, out_dir=out_dir, start_mono=start_mono)
    load.configure(accounts_file)
    load.release()
    return load


def run_worker(host: str, port: int, wait_s: float) -> int:
    """``umchaos worker``: wait (bounded) for a master at ``host:port``, then run one Locust worker
    with the harness's locustfile until the master ends the run (0) or goes away (2); it needs
    nothing from this machine but the checkout. Stopped with this process, whatever ends it."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            socket.create_connection((host, port), timeout=1).close()
            break
        except OSError:
            if time.monotonic() > deadline:
                raise BadInput(f"--master {host}:{port}: no Locust master listening there within {wait_s:g} s") from None
            time.sleep(0.5)
    proc = subprocess.Popen([sys.executable, "-m", "harness.load.locust_main", "-f", str(LOCUSTFILE), "--worker",
                             "--master-host", host, "--master-port", str(port), "--loglevel", "WARNING"],
                            stdin=subprocess.DEVNULL, start_new_session=True,
                            env={**os.environ, "UMCHAOS_MASTER": f"{host}:{port}"})
    try:
        return proc.wait()
    finally:
        if proc.poll() is None:  # interrupted: Ctrl-C, SIGTERM
            os.killpg(proc.pid, signal.SIGTERM)
        _reap([proc])


def _reap(procs: list[subprocess.Popen[bytes]]) -> None:
    """Wait for processes sent SIGTERM; SIGKILL their group after a grace period."""
    for proc in procs:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(timeout=5)
