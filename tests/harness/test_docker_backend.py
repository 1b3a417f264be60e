"""The docker backend against a real engine: containers as hosts, regions as networks.

Skipped, with the reason, when no engine answers or the images were not built
(`umchaos setup --docker`, which .ci/run does when it can start an engine).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.backends.docker_engine import connect
from tests.harness.busy import too_busy
from tests.harness.docker_ready import docker_skip_reason, docker_turn

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).parents[2]


@pytest.fixture
def engine() -> Iterator[None]:
    reason = docker_skip_reason()
    if reason:
        pytest.skip(reason)
    with docker_turn():
        yield


def _labelled(run_id: str, engine: str | None = None) -> list[str]:
    """The objects of a run on ``engine`` (None: the one DOCKER_HOST names)."""
    client = connect(engine)
    try:
        flt = {"label": f"umchaos.run={run_id}"}
        return ([c.name for c in client.containers.list(all=True, filters=flt)]
                + [n.name for n in client.networks.list(filters=flt)]
                + [v.name for v in client.volumes.list(filters=flt)])
    finally:
        client.close()


def _command(tmp_path: Path, scenario: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "harness.cli", "--state-dir", str(tmp_path / "state"), "run",
            str(ROOT / "scenarios" / scenario), "--report-dir", str(tmp_path / "reports"), *args]


def _run(tmp_path: Path, scenario: str, *args: str) -> tuple[int, str, dict]:
    proc = subprocess.run(_command(tmp_path, scenario, *args), capture_output=True, text=True, timeout=300, cwd=ROOT)
    return _outcome(tmp_path, proc)


def _outcome(tmp_path: Path, proc: subprocess.CompletedProcess[str]) -> tuple[int, str, dict]:
    assert "Traceback" not in proc.stderr, proc.stderr
    verdict = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else proc.stderr.strip()
    results = sorted((tmp_path / "reports").glob("*/result.json"))
    result = json.loads(results[-1].read_text()) if results else {}
    if result.get("run_id"):
        assert _labelled(result["run_id"]) == [], "docker objects left behind"
    return proc.returncode, verdict, result


def _fault_ops(run_dir: Path) -> list[dict]:
    ops = [json.loads(line) for line in (run_dir / "history.jsonl").open()]
    return [op for op in ops if op["f"] == "fault"]


def test_two_runs_at_once_seed_incident_and_host_packet_loss(engine: None, tmp_path: Path) -> None:
    """Two runs on one engine at the same time, each with its own networks, containers, volumes
    and ports; neither leaves anything behind (checked in ``_outcome``).
    - the seed incident (margin-latency-halt): parity with the local backend, a real halt;
    - 40 % packet loss on the margin host (tc netem in its network namespace, or iptables where
      the kernel has no netem): it lands (read back from the kernel), UM halts on it and resumes.
    The correct exchange passes every check in both, unless two runs at once left the machine too
    busy to meet the steady state before the faults: then ``unknown`` is the right verdict, and
    what must hold whatever the load is that no run gives a false verdict and nothing is left."""
    runs = {"margin-latency-halt.yaml": ("--seed", "42"), "docker/margin-host-netem.yaml": ()}
    dirs = {name: tmp_path / name.replace("/", "-") for name in runs}
    procs = {name: subprocess.Popen(_command(dirs[name], name, "--backend", "docker", *extra), stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True, cwd=ROOT) for name, extra in runs.items()}
    outcomes = {}
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=420)
        outcomes[name] = _outcome(dirs[name], subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    for name, (code, verdict, result) in outcomes.items():  # never a false verdict, whatever the load
        assert code == 0 or too_busy(code, result), (name, verdict)
    seed, netem = outcomes["margin-latency-halt.yaml"][2], outcomes["docker/margin-host-netem.yaml"][2]
    assert seed["run_id"] != netem["run_id"]
    for result in (seed, netem):
        if result["status"] == "pass":
            assert {c["name"]: c for c in result["checks"]}["safe_halt"]["figures"]["halts"] >= 1
            assert result["figures"]["ok"] > 100
    if netem["status"] == "pass":
        run_dir = next((dirs["docker/margin-host-netem.yaml"] / "reports").iterdir())
        landed = [op["value"]["detail"] for op in _fault_ops(run_dir) if op["value"].get("landed")
                  and op["value"].get("action") == "inject"]
        assert landed and "loss 40%" in landed[0] and "eth0" in landed[0], _fault_ops(run_dir)


def test_netem_is_refused_on_the_local_backend_in_one_line(tmp_path: Path) -> None:
    proc = subprocess.run(_command(tmp_path, "docker/margin-host-netem.yaml"), capture_output=True, text=True,
                          timeout=60, cwd=ROOT)
    assert proc.returncode == 3, proc.stderr
    assert proc.stderr.strip().count("\n") == 0 and "netem not supported by the local backend" in proc.stderr


def test_unknown_backend_is_one_line(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "harness.cli", "run", str(ROOT / "scenarios" / "margin-latency-halt.yaml"),
                           "--backend", "kubernetes"], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert proc.returncode == 3
    assert proc.stderr.strip().count("\n") == 0 and "known: local, docker" in proc.stderr
