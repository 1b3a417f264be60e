"""Run Locust as a subprocess in its own process group, bounded by ``--run-time``.

A subprocess, because Locust's gevent monkey-patching must never touch the harness's threads.
``workers > 0`` uses Locust's own master/worker mode on this machine; each worker writes its
own history file and ``read_ops`` merges them.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["LoadSpec", "LoadProcess", "start_load"]

LOCUSTFILE = Path(__file__).with_name("locustfile.py")


@dataclass(frozen=True)
class LoadSpec:
    users: int
    spawn_rate: float
    mix: dict[str, float]
    duration_s: float
    timeout_s: float = 5.0
    workers: int = 0


@dataclass
class LoadProcess:
    procs: list[subprocess.Popen[bytes]]
    history_file: Path
    log: Path
    history_files: list[Path] = field(default_factory=list)

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

    def stop(self) -> None:
        """SIGTERM each process group, SIGKILL after a grace period; idempotent."""
        for proc in self.procs:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    continue
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait(timeout=5)

    def read_ops(self) -> list[dict[str, Any]]:
        ops: list[dict[str, Any]] = []
        for path in self.history_files:
            if path.exists():
                with path.open() as lines:
                    for line in lines:
                        try:
                            ops.append(json.loads(line))
                        except ValueError:
                            continue  # a line cut short by a kill: the op is lost, the rest is kept
        return sorted(ops, key=lambda op: op["time"])


def start_load(spec: LoadSpec, *, accounts_file: Path, history_file: Path, run_id: str, out_dir: Path,
               start_mono: float) -> LoadProcess:
    gateway = json.loads(accounts_file.read_text())["gateway"]
    config = out_dir / "load-config.json"
    config.write_text(json.dumps({"accounts_file": str(accounts_file), "history_file": str(history_file),
                                  "run_id": run_id, "start_mono": start_mono, "mix": spec.mix,
                                  "timeout_s": spec.timeout_s}))
    run_time = f"{max(1, math.ceil(spec.duration_s))}s"
    base = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--host", gateway, "--loglevel", "WARNING"]
    log = out_dir / "locust.log"
    env = {**os.environ, "UMCHAOS_LOAD_CONFIG": str(config), "UMCHAOS_RUN_ID": run_id}
    procs, files = [], []
    with log.open("ab") as out:
        def spawn(args: list[str], worker: str = "") -> None:
            procs.append(subprocess.Popen(base + args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                          start_new_session=True, env={**env, "UMCHAOS_WORKER": worker}))
            files.append(Path(str(history_file) + worker))

        common = ["--headless", "--only-summary", "-u", str(spec.users), "-r", str(spec.spawn_rate),
                  "--run-time", run_time, "--stop-timeout", "3"]
        if spec.workers <= 0:
            spawn(common)
        else:
            spawn([*common, "--master", "--expect-workers", str(spec.workers), "--master-bind-host", "127.0.0.1"])
            files.pop()  # the master sends no requests
            for i in range(spec.workers):
                spawn(["--worker", "--master-host", "127.0.0.1"], worker=f".w{i}")
    return LoadProcess(procs, history_file, log, files)
