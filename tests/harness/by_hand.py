"""umref started by hand behind a Toxiproxy server of its own, as examples/external-umref/ says:
the platform the ``--target-file`` tests (external runs, conformance) point the harness at."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

from harness.backends.go_tools import toxiproxy_server_path
from harness.errors import EXIT_PASS
from targets.umref.config import LINKS

ROOT = Path(__file__).parents[2]
EXAMPLE = ROOT / "examples" / "external-umref" / "topology.yaml"
EXAMPLE_FOLDER = "/tmp/umref-by-hand"
PORTS = {"service": 61100, "dial": 61200, "toxiproxy": 61474}  # the example's


def moved(folder: Path, offset: int) -> Path:
    """The example's file with its folder and ports moved (by ``offset``, e.g. 1000: 62100..), so
    that two tests never share a port."""
    text = EXAMPLE.read_text().replace(EXAMPLE_FOLDER, str(folder))
    text = text.replace(str(PORTS["toxiproxy"]), str(PORTS["toxiproxy"] + offset))
    for n in range(100):
        for base in (PORTS["service"], PORTS["dial"]):
            text = text.replace(str(base + n), str(base + n + offset))
    path = folder / "topology.yaml"
    path.write_text(text)
    return path


def umchaos(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=timeout)


def wait_answers(url: str, tries: int = 100) -> None:
    """Until ``url`` answers at all (a server just started), bounded by ``tries`` tenths of a second."""
    for _ in range(tries):
        try:
            requests.get(url, timeout=0.5)
            return
        except requests.RequestException:
            time.sleep(0.1)


@contextmanager
def umref_by_hand(folder: Path, topology: Path, offset: int = 0) -> Iterator[Callable[..., None]]:
    """A Toxiproxy server and the links' proxies (``umchaos proxies``), then umref on the file's
    fixed ports: its ledgers need their links at start. Yields ``up(*args)``, which (re)starts umref
    with extra ``up`` arguments (``--bugs no_halt``...) on a fresh data folder; stops it all after.
    ``folder`` (the caller's to clear) gets the pid files, the accounts, the data and the log."""
    folder.mkdir(parents=True, exist_ok=True)
    toxiproxy = PORTS["toxiproxy"] + offset
    procs: dict[str, subprocess.Popen[bytes]] = {}
    procs["toxiproxy"] = subprocess.Popen([str(toxiproxy_server_path()), "-host", "127.0.0.1", "-port", str(toxiproxy)],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    starts = iter(range(1000))

    def up(*args: str) -> None:
        if "umref" in procs:
            os.killpg(procs["umref"].pid, signal.SIGTERM)
            procs["umref"].wait(timeout=30)
        (folder / "accounts.json").unlink(missing_ok=True)
        procs["umref"] = subprocess.Popen(
            [sys.executable, "-m", "targets.umref", "up", "--data-dir", str(folder / f"data{next(starts)}"),
             "--port-base", str(PORTS["service"] + offset), "--dial-base", str(PORTS["dial"] + offset),
             "--pid-dir", str(folder / "pids"), "--accounts-out", str(folder / "accounts.json"), *args],
            stdout=subprocess.DEVNULL, stderr=(folder / "umref.log").open("ab"), cwd=ROOT, start_new_session=True)
        deadline = time.monotonic() + 120  # a busy machine (two test workers) starts it slowly
        while not (folder / "accounts.json").exists():
            assert procs["umref"].poll() is None, (folder / "umref.log").read_text()[-2000:]
            assert time.monotonic() < deadline, "umref by hand did not start within 120 s"
            time.sleep(0.2)

    try:
        wait_answers(f"http://127.0.0.1:{toxiproxy}/version")
        made = umchaos("proxies", str(topology))
        assert made.returncode == EXIT_PASS and made.stdout.startswith(f"{len(LINKS)} proxy(ies) made"), made.stderr
        yield up
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
