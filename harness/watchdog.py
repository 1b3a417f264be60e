"""The run's watchdog: a separate process that cleans up when the runner cannot.

Started by the runner right after its fault journal is opened, in its own session, so that a
SIGKILL of the runner (or of its process group, or a Ctrl-C in its terminal) does not reach it.
It polls three things:

- the journal is gone: the run finished and cleaned up by itself; the watchdog exits (the runner
  sends SIGUSR2 when it removed the journal, so that it looks at once instead of at its next poll);
- the runner is gone (pid dead or recycled): it heals what the journal lists and stops every
  process carrying the run id, then exits;
- the deadline (the scenario's longest run plus a margin) has passed: it asks the runner to
  abort (SIGUSR1 if the runner handles it, else SIGTERM), gives it ``grace_s`` to tear down, then
  kills it and heals as above.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from harness.faults.fault_journal import heal_run, owner_alive

__all__ = ["WatchdogSpec", "start_watchdog", "main"]

log = logging.getLogger("umchaos.watchdog")


@dataclass(frozen=True)
class WatchdogSpec:
    state_dir: Path
    run_id: str
    deadline_s: float  # after this many seconds the run is hung: abort it
    grace_s: float = 30.0  # how long an aborting runner may take to tear down before it is killed
    poll_s: float = 0.2


def start_watchdog(spec: WatchdogSpec) -> subprocess.Popen[bytes]:
    """Spawn the watchdog for a run whose journal is already open."""
    log_path = spec.state_dir / "watchdog" / f"{spec.run_id}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "harness.watchdog", "--state-dir", str(spec.state_dir.resolve()), "--run-id", spec.run_id,
             "--deadline-s", str(spec.deadline_s), "--grace-s", str(spec.grace_s)],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
            cwd=Path(__file__).resolve().parents[1],
            env={k: v for k, v in os.environ.items() if k != "UMCHAOS_RUN_ID"},  # it must not match its own run's scan
        )


def _read(path: Path) -> dict[str, object] | None:
    try:
        return dict(json.loads(path.read_text()))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {}  # mid-replace or unreadable: look again next poll


def watch(spec: WatchdogSpec) -> str:
    """Wait for the run to end one way or another; returns what happened (for the log)."""
    path = spec.state_dir / "journal" / f"{spec.run_id}.json"
    deadline = time.monotonic() + spec.deadline_s
    asked_at: float | None = None
    while True:
        data = _read(path)
        if data is None:
            return "run finished and cleaned up"
        if data and not owner_alive(data):
            return "; ".join(heal_run(path, data)) or "runner gone, nothing to heal"
        now = time.monotonic()
        if data and now >= deadline and asked_at is None:
            pid = int(str(data["owner_pid"]))
            sig = signal.SIGUSR1 if data.get("signals") else signal.SIGTERM
            log.warning("run %s exceeded %.0f s: sending %s to runner %d", spec.run_id, spec.deadline_s, sig.name, pid)
            _send(pid, sig)
            asked_at = now
        if data and asked_at is not None and now - asked_at > spec.grace_s:
            log.warning("runner %s did not tear down within %.0f s: killing it", data["owner_pid"], spec.grace_s)
            _send(int(str(data["owner_pid"])), signal.SIGKILL)
            time.sleep(spec.poll_s)
            return "; ".join(heal_run(path, data)) or "runner killed, nothing to heal"
        try:
            time.sleep(spec.poll_s)
        except LookAgain:
            pass


class LookAgain(Exception):
    """SIGUSR2: the runner says the run's state changed; cut the poll's sleep short."""


def _look_again(*_: object) -> None:
    raise LookAgain


def _send(pid: int, sig: signal.Signals) -> None:
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="umchaos-watchdog")
    p.add_argument("--state-dir", type=Path, required=True)
    p.add_argument("--run-id", required=True)
    p.add_argument("--deadline-s", type=float, required=True)
    p.add_argument("--grace-s", type=float, default=30.0)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s watchdog %(message)s", datefmt="%H:%M:%S")
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # only the run's end or its deadline stops the watchdog
    signal.signal(signal.SIGUSR2, _look_again)
    spec = WatchdogSpec(args.state_dir, args.run_id, args.deadline_s, args.grace_s)
    log.info("watching run %s (deadline %.0f s): %s", spec.run_id, spec.deadline_s, watch(spec))
    return 0


if __name__ == "__main__":
    code = main()
    logging.shutdown()
    os._exit(code)  # without the interpreter's teardown: the runner waits for this exit
