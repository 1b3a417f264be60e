"""Every fault kind lands for real on the local backend, is healed, and leaves nothing behind."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.harness.test_end_to_end import assert_nothing_left

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SCENARIO = Path(__file__).parent / "scenarios_extra" / "every-fault-kind.yaml"


def test_every_fault_kind_lands_and_heals(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "harness.cli", "--state-dir", str(tmp_path / "state"), "run",
                           str(SCENARIO), "--report-dir", str(tmp_path / "reports")],
                          capture_output=True, text=True, timeout=240)
    result_file = next((tmp_path / "reports").glob("*/result.json"))
    result = json.loads(result_file.read_text())
    history = [json.loads(line) for line in (result_file.parent / "history.jsonl").read_text().splitlines()]
    injects = {op["value"]["fault"]: op["value"] for op in history
               if op["f"] == "fault" and op["type"] == "info" and op["value"]["action"] == "inject"}
    assert set(injects) == {"timeout", "reset_peer", "bandwidth", "down", "partition", "pause", "kill", "latency",
                            "price_shock", "region_power_loss", "clock_skew"}
    assert all(v["landed"] for v in injects.values()), {k: v["detail"] for k, v in injects.items() if not v["landed"]}
    heals = {op["value"]["id"] for op in history if op["f"] == "fault" and op["type"] == "info" and op["value"]["action"] == "heal"}
    assert len(heals) == len(injects) - 1  # every fault but the instant price shock was healed
    assert proc.returncode == 0, f"{proc.stdout[-1500:]}\n{proc.stderr[-1500:]}"
    assert_nothing_left(tmp_path, result["run_id"])
