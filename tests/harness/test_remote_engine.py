"""The docker backend on an engine named by DOCKER_HOST: a second ``dockerd`` of the test's own,
on a loopback TCP port, with its own data, its own address pool and the project's images copied
into it. A run there creates nothing on the default engine, reaches its services at the engine's
address, configures them without a bind mount from this machine, lands netem through the engine
(a helper container in the host's network namespace, no local ``nsenter``) and leaves nothing on
either engine.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.backends.docker_engine import connect, published_host
from harness.backends.docker_install import images_tag
from harness.errors import BadInput, Undecided
from harness.net import free_port
from tests.harness.busy import explain, too_busy
from tests.harness.docker_ready import docker_skip_reason, docker_turn
from tests.harness.test_docker_backend import ROOT, _fault_ops, _labelled

ENGINE_START_S = 60
DOCKER0 = Path("/sys/class/net/docker0")


def test_where_published_ports_are_reached_follows_docker_host() -> None:
    assert published_host("") == published_host("unix:///var/run/docker.sock") == "127.0.0.1"
    assert published_host("tcp://127.0.0.1:2375") == "127.0.0.1"
    assert published_host("tcp://[::1]:2376") == "::1"
    assert published_host("ssh://ops@127.0.0.1") == "127.0.0.1"
    with pytest.raises(BadInput, match="not an engine address"):
        published_host("ftp://127.0.0.1")


def test_an_engine_outside_loopback_not_allowed_is_one_line_and_nothing_is_sent(tmp_path: Path) -> None:
    """192.0.2.1 is a documentation address: refused before any connection to it."""
    proc = subprocess.run([sys.executable, "-m", "harness.cli", "--state-dir", str(tmp_path / "state"), "run",
                           str(ROOT / "scenarios" / "docker" / "margin-host-netem.yaml"), "--backend", "docker",
                           "--report-dir", str(tmp_path / "reports")],
                          capture_output=True, text=True, timeout=60, cwd=ROOT,
                          env={**os.environ, "DOCKER_HOST": "tcp://192.0.2.1:2375"})
    assert proc.returncode == 3, proc.stderr
    assert proc.stderr.strip().count("\n") == 0 and "192.0.2.1" in proc.stderr and "allow_targets" in proc.stderr


@pytest.fixture(scope="module")
def second_engine() -> Iterator[str]:
    """A second engine on 127.0.0.1, holding the images of the default one; stopped and its data
    removed afterwards."""
    if reason := docker_skip_reason():
        pytest.skip(reason)
    root = Path(tempfile.mkdtemp(prefix="umc-engine-", dir="/tmp"))  # short: socket paths live in it
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    # Its own default bridge: with --bridge=none dockerd deletes the host's docker0, the default
    # engine's (seen here: its `docker build` failed afterwards).
    bridge = f"umcbr{port}"
    had_docker0 = DOCKER0.exists()
    for cmd in (["link", "add", bridge, "type", "bridge"], ["addr", "add", "10.214.0.1/24", "dev", bridge],
                ["link", "set", bridge, "up"]):
        subprocess.run(["ip", *cmd], check=True, capture_output=True, timeout=10)
    with (root / "dockerd.log").open("ab") as log:
        proc = subprocess.Popen(
            ["dockerd", "-H", address, "--data-root", str(root / "data"), "--exec-root", str(root / "exec"),
             "--pidfile", str(root / "dockerd.pid"), "--bridge", bridge, "--iptables=false", "--ip6tables=false",
             "--default-address-pool", "base=10.213.0.0/16,size=24", "--log-level=warn"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        _wait_answering(address, proc, root)
        images = [f"umchaos/umref:{images_tag()}", f"umchaos/toxiproxy:{images_tag()}"]
        with docker_turn():  # heavy on the disk: not while another docker test runs a platform
            save = subprocess.Popen(["docker", "save", *images], stdout=subprocess.PIPE, env=_env(""))
            subprocess.run(["docker", "load", "-q"], stdin=save.stdout, check=True, timeout=600, capture_output=True,
                           env=_env(address))
            assert save.wait(timeout=60) == 0
        yield address
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        subprocess.run(["ip", "link", "del", bridge], capture_output=True, timeout=10)
        shutil.rmtree(root, ignore_errors=True)
    assert DOCKER0.exists() or not had_docker0, "the second engine took the default engine's docker0"


def _env(engine: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DOCKER_HOST"}
    return {**env, "DOCKER_HOST": engine} if engine else env


def _wait_answering(address: str, proc: subprocess.Popen[bytes], root: Path) -> None:
    deadline = time.monotonic() + ENGINE_START_S
    while True:
        try:
            connect(address, timeout=2).close()
            return
        except Undecided:
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"second dockerd did not answer: {(root / 'dockerd.log').read_text()[-2000:]}")
            time.sleep(0.5)


@pytest.mark.integration
@pytest.mark.slow
def test_a_run_on_a_remote_engine_lands_netem_through_it_and_leaves_nothing(second_engine: str, tmp_path: Path) -> None:
    with docker_turn():
        proc = subprocess.run([sys.executable, "-m", "harness.cli", "--state-dir", str(tmp_path / "state"), "run",
                               str(ROOT / "scenarios" / "docker" / "margin-host-netem.yaml"), "--backend", "docker",
                               "--report-dir", str(tmp_path / "reports")],
                              capture_output=True, text=True, timeout=420, cwd=ROOT, env=_env(second_engine))
    assert "Traceback" not in proc.stderr, proc.stderr
    verdict = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else proc.stderr.strip()
    run_dir = next((tmp_path / "reports").glob("*/result.json")).parent
    result = json.loads((run_dir / "result.json").read_text())
    assert proc.returncode == 0 or too_busy(proc.returncode, result), explain(verdict, result)
    assert _labelled(result["run_id"], second_engine) == [], "left behind on the engine it ran on"
    assert _labelled(result["run_id"], "") == [], "created on the default engine"
    landed = [op["value"]["detail"] for op in _fault_ops(run_dir)
              if op["value"].get("landed") and op["value"].get("action") == "inject"]
    assert landed and "loss 40%" in landed[0] and "eth0" in landed[0], _fault_ops(run_dir)
    assert {c["name"]: c for c in result["checks"]}["safe_halt"]["figures"]["halts"] >= 1 or result["status"] != "pass"
