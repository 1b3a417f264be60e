"""umref as a Docker Compose project (examples/compose-umref), targeted as ``external`` with
``docker:`` control: a platform the harness did not start, in containers on networks of its own,
its links through its own Toxiproxy container.

The seed incident is judged as on the built-in target, a kill of a service's container is healed by
starting the container again, the same project with the ``no_halt`` switch is caught by safe_halt,
and the platform is left running with no toxic behind. Skipped, with the reason, when no Docker
engine answers, the images were not built (``umchaos setup --docker``) or the project's Compose CLI
is missing (``.ci/run`` builds it into .bin/).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import yaml

from harness.backends.docker_install import compose_path, images_tag
from harness.errors import EXIT_BAD_INPUT, EXIT_PASS, EXIT_UNKNOWN, EXIT_VIOLATION
from targets.umref.config import LINKS
from tests.harness.busy import too_busy
from tests.harness.docker_ready import docker_skip_reason, docker_turn

ROOT = Path(__file__).parents[2]
EXAMPLE = ROOT / "examples" / "compose-umref"
TOPOLOGY = EXAMPLE / "topology.yaml"
SHARED = Path("/tmp/umref-compose")  # the topology file's accounts live here
TOXIPROXY_API = "http://127.0.0.1:61574"
PORT_BASE = 61500


def _skip_reason() -> str | None:
    if (why := docker_skip_reason()) is not None:  # first: under .ci/run it waits for the setup
        return why
    if not compose_path().exists():
        return (f"no Compose CLI at {compose_path()} (.ci/run builds it: "
                "python -c 'from harness.backends.docker_install import ensure_compose; ensure_compose()')")
    return None


def _containers() -> dict[str, str]:
    """service -> container, as the topology file gives control of them."""
    services = yaml.safe_load(TOPOLOGY.read_text())["services"]
    return {name: spec["control"]["docker"] for name, spec in services.items()}


def _run(*cmd: str, env: dict[str, str] | None = None, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(cmd), capture_output=True, text=True, cwd=ROOT, env=env, timeout=timeout)


class Project:
    """The Compose project, brought up in the order its compose.yaml gives."""

    def __init__(self) -> None:
        self.env = {**os.environ, "UMCHAOS_TAG": images_tag(), "UMREF_BUGS": ""}

    def compose(self, *args: str, timeout: float = 180) -> None:
        proc = _run(str(compose_path()), "-f", str(EXAMPLE / "compose.yaml"), *args, env=self.env, timeout=timeout)
        assert proc.returncode == 0, f"compose {' '.join(args)}: {proc.stderr[-2000:]}"

    def down(self) -> None:
        self.compose("down", "-v", "--timeout", "5")
        shutil.rmtree(SHARED, ignore_errors=True)

    def up(self, bugs: str = "") -> None:
        self.down()  # fresh volumes: a ledger of another switch's run is not this platform's
        self.env["UMREF_BUGS"] = bugs
        self.compose("up", "-d", "toxiproxy")
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(TOXIPROXY_API + "/version", timeout=0.5).raise_for_status()
                break
            except requests.RequestException:
                assert time.monotonic() < deadline, "the toxiproxy container did not answer within 30 s"
                time.sleep(0.2)
        made = umchaos("proxies", str(TOPOLOGY))
        assert made.returncode == EXIT_PASS and made.stdout.startswith(f"{len(LINKS)} proxy(ies) made"), made.stderr
        self.compose("up", "-d")
        boot = _run(sys.executable, "-m", "targets.umref", "bootstrap", "--port-base", str(PORT_BASE),
                    "--within", "120", "--accounts-out", str(SHARED / "accounts.json"), timeout=150)
        assert boot.returncode == 0, boot.stderr[-2000:]


def umchaos(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return _run(sys.executable, "-m", "harness.cli", *args, timeout=timeout)


@pytest.fixture
def project() -> Iterator[Project]:
    """The project's names and ports are fixed: one docker test at a time on a machine uses it
    (another's ``down`` would take this one's containers away mid-run)."""
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    with docker_turn():
        platform = Project()
        try:
            yield platform
        finally:
            platform.down()


def _scenario(tmp_path: Path, path: Path) -> tuple[int, dict, Path]:
    proc = umchaos("--state-dir", str(tmp_path / "state"), "run", str(path), "--target-file", str(TOPOLOGY),
                   "--report-dir", str(tmp_path / "r"))
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    results = sorted((tmp_path / "r").glob("*/result.json"), key=lambda p: p.stat().st_mtime)
    assert results, proc.stderr[-3000:]
    print(proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else proc.stderr[-500:])  # the verdict line
    return proc.returncode, json.loads(results[-1].read_text()), results[-1].parent


def _left_running_and_clean(tmp_path: Path) -> None:
    import docker

    client = docker.from_env()
    try:
        states = {name: client.containers.get(name).status for name in _containers().values()}
    finally:
        client.close()
    assert set(states.values()) == {"running"}, states
    for i in range(len(states)):
        assert requests.get(f"http://127.0.0.1:{PORT_BASE + i}/health", timeout=5).status_code == 200
    proxies = requests.get(TOXIPROXY_API + "/proxies", timeout=5).json()
    assert len(proxies) == len(LINKS) and all(p["enabled"] and not p["toxics"] for p in proxies.values()), proxies
    assert list((tmp_path / "state" / "journal").glob("*")) == []


def _started_at(container: str) -> str:
    import docker

    client = docker.from_env()
    try:
        return str(client.containers.get(container).attrs["State"]["StartedAt"])
    finally:
        client.close()


def _copy(tmp_path: Path, text: str) -> Path:
    """The example file with its accounts beside it (they exist only once the platform ran)."""
    (tmp_path / "accounts.json").write_text(json.dumps({"accounts": [
        {"account": "a1", "api_key": "k1", "role": "trader"}]}))
    path = tmp_path / "topology.yaml"
    path.write_text(text.replace("accounts: /tmp/umref-compose/accounts.json", "accounts: accounts.json"))
    return path


def test_in_network_names_are_allowed_only_by_the_files_own_list(tmp_path: Path) -> None:
    text = TOPOLOGY.read_text()
    kill = str(ROOT / "tests" / "harness" / "scenarios_extra" / "compose-ledger-kill.yaml")
    ok = umchaos("validate", kill, "--target-file", str(_copy(tmp_path, text)), timeout=60)
    assert ok.returncode == EXIT_PASS and ok.stdout.startswith(f"ok {kill}: compose-ledger-kill"), ok.stderr
    first_link = next(n for n, line in enumerate(text.splitlines(), 1) if line.startswith('  "gateway->auth"'))
    for edited, line, says in [
        (text.replace("allow_targets: [toxiproxy.a, ", "allow_targets: ["), first_link,
         "links.gateway->auth.dial: 'toxiproxy.a' is not loopback"),
        (text.replace('upstream: "auth.x:8000"', 'upstream: "auth.elsewhere:8000"'), first_link,
         "links.gateway->auth.upstream: 'auth.elsewhere' is not loopback"),
    ]:
        path = _copy(tmp_path, edited)
        proc = umchaos("validate", kill, "--target-file", str(path), timeout=60)
        assert proc.returncode == EXIT_BAD_INPUT, proc.stdout + proc.stderr
        assert proc.stderr.startswith(f"umchaos: {path}:{line}: ") and says in proc.stderr, proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1


@pytest.mark.integration
@pytest.mark.slow
def test_umref_as_a_compose_project_is_judged_like_the_built_in_target(tmp_path: Path, project: Project) -> None:
    project.up()
    code, result, _ = _scenario(tmp_path, ROOT / "scenarios" / "margin-latency-halt.yaml")
    # a busy machine may leave it undecided; it must never be a violation of the correct platform
    assert code in (EXIT_PASS, EXIT_UNKNOWN), (code, result.get("reason"), result["checks"])
    if code == EXIT_PASS:
        assert result["backend"] == "external" and result["figures"]["time_to_halt_s"] < 0.65
    _left_running_and_clean(tmp_path)

    # a process fault through the engine: the primary ledger's container killed, started again
    ledger = _containers()["ledger-a"]
    before = _started_at(ledger)
    code, result, run_dir = _scenario(tmp_path, ROOT / "tests" / "harness" / "scenarios_extra" / "compose-ledger-kill.yaml")
    assert code in (EXIT_PASS, EXIT_UNKNOWN), (code, result.get("reason"), result["checks"])
    if too_busy(code, result):
        pytest.skip(f"the machine was too busy for the steady state: {result['reason']}")
    faults = [json.loads(line)["value"] for line in (run_dir / "history.jsonl").open()
              if json.loads(line)["f"] == "fault" and json.loads(line)["type"] == "info"]
    assert [(f["action"], f["landed"]) for f in faults] == [("inject", True), ("heal", True)], faults
    assert _started_at(ledger) != before  # healed by a container start, not by anything else
    _left_running_and_clean(tmp_path)

    project.up("no_halt")  # the same project with UM that never halts
    for _ in range(2):  # a second try when the first found the machine too busy to start
        code, result, _ = _scenario(tmp_path, ROOT / "scenarios" / "margin-latency-halt.yaml")
        if not too_busy(code, result):
            break
    else:
        pytest.skip(f"the machine was too busy for the steady state: {result['reason']}")
    checks = {c["name"]: c["valid"] for c in result["checks"]}
    assert code == EXIT_VIOLATION and checks["safe_halt"] is False, (code, checks, result.get("reason"))
    _left_running_and_clean(tmp_path)
