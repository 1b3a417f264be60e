"""A fork server: import the services once, then fork one process per service.

Why: nine interpreters each importing aiohttp and uvloop took the topology past its 2 s start-up
budget on two cores (figures: docs/benchmarks.md). Forking from one warmed-up interpreter
leaves each service only its own set-up. A child is still a real, separate OS process in its own
session (process group), so killing, pausing or resuming one service works exactly as before, and
its title reads ``python -m targets.umref.service NAME CONFIG`` so that ps and pgrep see the same
thing as when it was started on its own.

The server is single-threaded (forking a threaded process is unsafe) and speaks JSON lines on its
stdin/stdout: ``{"op": "spawn", "name", "config", "log"}`` → ``{"pid"}``, and
``{"op": "status", "pid"}`` → ``{"exit": code or null}``, ``{"op": "wait", "pids", "timeout"}`` →
``{"exits": {pid: code or null}}`` once all have exited or the timeout passed, and ``{"op":
"signal", "pids", "signals"}`` → ``{}``. It reaps its children before every
answer, and exits when its stdin closes (its launcher is gone); the services it started stay up
until someone stops them, as services started one by one would.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

__all__ = ["ForkServer", "ForkedProcess", "serve"]


def _preload() -> None:
    """Everything a service imports, so a forked child imports nothing heavy."""
    import importlib

    import uvloop  # noqa: F401

    from targets.umref import service  # noqa: F401
    from targets.umref.config import SERVICES

    for name in SERVICES:
        importlib.import_module(f"targets.umref.services.{name.split('-')[0]}")


def _child(name: str, config: str, log: str) -> None:
    """Become the service: own session, own log, own title; never return to the server loop."""
    code = 1
    try:
        os.setsid()
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.close(fd)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.close(devnull)
        sys.stdin = open(0, closefd=False)  # noqa: SIM115 - the process's own fds, never closed
        sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115
        sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
        from setproctitle import setproctitle

        setproctitle(f"{sys.executable} -m targets.umref.service {name} {config}")
        from targets.umref.service import main

        main([name, config])
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
        if not isinstance(exc.code, int) and exc.code is not None:
            print(exc.code, file=sys.stderr)
    except BaseException:  # noqa: BLE001 - the child must report and exit, whatever happened
        import traceback

        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _reap(exits: dict[int, int]) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        exits[pid] = os.waitstatus_to_exitcode(status)


def _wait(pids: list[int], timeout: float | None, exits: dict[int, int]) -> dict[int, int | None]:
    """Block until every child in ``pids`` has exited or ``timeout`` passes (None: no limit): a
    launcher waits here, in one request, instead of asking every few milliseconds."""
    deadline = time.monotonic() + (timeout if timeout is not None else float("inf"))
    while True:
        running = [pid for pid in pids if _running_child(pid, exits)]
        if not running or time.monotonic() >= deadline:
            return {pid: exits.get(pid) for pid in pids}
        time.sleep(0.001)


def _running_child(pid: int, exits: dict[int, int]) -> bool:
    """Is ``pid`` a child of this server still running? Reaps (and records) it if it just exited."""
    if pid in exits:
        return False
    try:
        done, status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:  # not ours
        return False
    if done:
        exits[pid] = os.waitstatus_to_exitcode(status)
        return False
    return True


def _signal(pids: list[int], signals: list[int], exits: dict[int, int]) -> None:
    """Signal each child's process group, unless it was reaped: only its parent can tell that a
    pid still names that child (a zombie keeps it), so only here is pid reuse ruled out."""
    for pid in pids:
        if not _running_child(pid, exits):
            continue
        for sig in signals:
            try:
                os.killpg(pid, sig)
            except ProcessLookupError:
                break


def serve(requests: IO[str], answers: IO[str]) -> None:
    """The server loop (runs in the fork server process)."""
    exits: dict[int, int] = {}
    for line in requests:
        request = json.loads(line)
        _reap(exits)
        if request["op"] == "spawn":
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:
                _child(request["name"], request["config"], request["log"])
            answer: dict[str, Any] = {"pid": pid}
        elif request["op"] == "wait":
            answer = {"exits": {str(pid): code for pid, code in _wait(request["pids"], request["timeout"], exits).items()}}
        elif request["op"] == "signal":
            _signal(request["pids"], request["signals"], exits)
            answer = {}
        else:
            answer = {"exit": exits.get(int(request["pid"]))}
        answers.write(json.dumps(answer) + "\n")
        answers.flush()


@dataclass
class ForkServer:
    """The launcher's end of a fork server (one per topology; a caller may start it early, e.g. the
    CLI while the harness imports, and hand it to the topology)."""

    env: dict[str, str] = field(default_factory=lambda: {**os.environ, "PYTHONUNBUFFERED": "1"})
    cwd: Path = Path(__file__).resolve().parents[2]  # the repository: ``-m targets.umref.forkserver`` resolves there
    _proc: subprocess.Popen[str] | None = None
    _forked: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        with self._lock:
            if self._proc is None:
                self._proc = subprocess.Popen(
                    [sys.executable, "-m", "targets.umref.forkserver"], cwd=self.cwd, env=self.env,
                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, start_new_session=True)

    def _ask(self, request: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            if self._proc is None or self._proc.stdin is None or self._proc.stdout is None:
                raise RuntimeError("the umref fork server is not running")
            try:
                self._proc.stdin.write(json.dumps(request) + "\n")
                self._proc.stdin.flush()
                answer = self._proc.stdout.readline()
            except OSError as exc:
                raise RuntimeError(f"the umref fork server died: {exc}") from None
            if not answer:
                raise RuntimeError(f"the umref fork server exited with code {self._proc.wait()}")
            result: dict[str, Any] = json.loads(answer)
            return result

    def spawn(self, name: str, config: Path, log: Path) -> ForkedProcess:
        self._forked = True
        pid = int(self._ask({"op": "spawn", "name": name, "config": str(config), "log": str(log)})["pid"])
        return ForkedProcess(pid, self)

    def exit_code(self, pid: int) -> int | None:
        code = self._ask({"op": "status", "pid": pid})["exit"]
        return None if code is None else int(code)

    def wait_all(self, pids: list[int], timeout: float | None) -> dict[int, int | None]:
        """Each child's exit code once all have exited; None for those still running at ``timeout``."""
        exits = self._ask({"op": "wait", "pids": pids, "timeout": timeout})["exits"]
        return {int(pid): None if code is None else int(code) for pid, code in exits.items()}

    def signal_all(self, pids: list[int], signals: list[signal.Signals]) -> None:
        """Send ``signals``, in order, to each child's process group that has not been reaped."""
        self._ask({"op": "signal", "pids": pids, "signals": [int(sig) for sig in signals]})

    def close(self) -> None:
        """Stop the server (not its children: stopping services is the topology's job)."""
        with self._lock:
            if self._proc is not None and self._proc.poll() is None:
                assert self._proc.stdin is not None
                if not self._forked:  # never used (a run stopped by bad input): no need to wait for its imports
                    self._proc.kill()
                self._proc.stdin.close()
                try:
                    self._proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self._proc.kill()
                    self._proc.wait()
            if self._proc is not None and self._proc.stdout is not None:
                self._proc.stdout.close()
            self._proc = None


def _running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


class ForkedProcess:
    """What the launcher holds for a service: the same pid/poll/wait as a Popen."""

    def __init__(self, pid: int, server: ForkServer) -> None:
        self.pid = pid
        self._server = server
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                self.returncode = self._server.exit_code(self.pid)
            except RuntimeError:  # the server is gone: its orphans are reaped by init, so ask the kernel
                self.returncode = None if _running(self.pid) else -1
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            try:
                self.returncode = self._server.wait_all([self.pid], timeout)[self.pid]
            except RuntimeError:  # the server is gone: ask the kernel, below
                pass
            else:
                if self.returncode is None:
                    raise subprocess.TimeoutExpired(f"pid {self.pid}", timeout or 0)
                return self.returncode
        deadline = None if timeout is None else time.monotonic() + timeout
        while (code := self.poll()) is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(f"pid {self.pid}", timeout or 0)
            time.sleep(0.01)
        return code


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the launcher's to handle
    _preload()
    serve(sys.stdin, sys.stdout)
    os._exit(0)  # nothing to flush or close: skip tearing down aiohttp & co. (60 ms of every topology's stop)
