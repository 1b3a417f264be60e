"""Every fault kind lands for real on each backend its registration lists, is healed, and leaves
nothing behind. The kinds expected are read from the registry, so a kind registered for a
backend and missing from that backend's scenario fails here."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.scenario import KINDS
from tests.harness.docker_ready import docker_skip_reason, docker_turn
from tests.harness.test_end_to_end import assert_nothing_left

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SCENARIOS = {"local": Path(__file__).parent / "scenarios_extra" / "every-fault-kind.yaml",
             "docker": Path(__file__).parent / "scenarios_extra" / "every-fault-kind-docker.yaml"}


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> Iterator[str]:
    """The backend, when it can run here: docker needs an engine and the built images."""
    if request.param == "docker":
        if reason := docker_skip_reason():
            pytest.skip(reason)
        with docker_turn():
            yield request.param
        return
    yield request.param


@pytest.mark.parametrize("backend", sorted(SCENARIOS), indirect=True)
def test_every_fault_kind_lands_and_heals(tmp_path: Path, backend: str) -> None:
    proc = subprocess.run([sys.executable, "-m", "harness.cli", "--state-dir", str(tmp_path / "state"), "run",
                           str(SCENARIOS[backend]), "--backend", backend, "--report-dir", str(tmp_path / "reports")],
                          capture_output=True, text=True, timeout=300)
    result_file = next((tmp_path / "reports").glob("*/result.json"))
    result = json.loads(result_file.read_text())
    history = [json.loads(line) for line in (result_file.parent / "history.jsonl").read_text().splitlines()]
    injects = {op["value"]["id"]: op["value"] for op in history
               if op["f"] == "fault" and op["type"] == "info" and op["value"]["action"] == "inject"}
    assert {v["fault"] for v in injects.values()} == {k for k, kind in KINDS.items() if backend in kind.implementations}
    assert any("↔" in v["target"] for v in injects.values() if v["fault"] == "partition")  # region to region
    assert all(v["landed"] for v in injects.values()), {k: v["detail"] for k, v in injects.items() if not v["landed"]}
    heals = {op["value"]["id"] for op in history if op["f"] == "fault" and op["type"] == "info" and op["value"]["action"] == "heal"}
    assert heals == {i for i, v in injects.items() if not KINDS[v["fault"]].instant}  # every fault but the instant ones
    assert proc.returncode == 0, f"{proc.stdout[-1500:]}\n{proc.stderr[-1500:]}"
    assert_nothing_left(tmp_path, result["run_id"])
    if backend == "docker":
        from tests.harness.test_docker_backend import _labelled

        assert _labelled(result["run_id"]) == [], "docker objects left behind"
