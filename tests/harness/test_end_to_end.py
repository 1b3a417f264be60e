"""The seed scenario end to end: real umref processes, a real Toxiproxy, real Locust load.

The correct exchange passes on several seeds; each of the issue's bug switches is caught by the
check it breaks; nothing is left behind after any run.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SEED_SCENARIO = Path(__file__).parents[2] / "scenarios" / "margin-latency-halt.yaml"


def run(tmp_path: Path, *args: str) -> tuple[int, str, dict]:
    proc = subprocess.run([sys.executable, "-m", "harness.cli", "--state-dir", str(tmp_path / "state"), "run",
                           str(SEED_SCENARIO), "--report-dir", str(tmp_path / "reports"), *args],
                          capture_output=True, text=True, timeout=240)
    verdict = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
    results = sorted((tmp_path / "reports").glob("*/result.json"))
    result = json.loads(results[-1].read_text()) if results else {}
    assert_nothing_left(tmp_path, result.get("run_id", ""))
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.returncode, verdict, result


def assert_nothing_left(tmp_path: Path, run_id: str) -> None:
    leftovers = subprocess.run(["pgrep", "-fa", "toxiproxy-server|targets.umref.service|locust -f"],
                               capture_output=True, text=True).stdout
    mine = [line for line in leftovers.splitlines() if str(tmp_path) in line or (run_id and run_id in line)]
    assert not mine, f"left behind: {mine}"
    journal = tmp_path / "state" / "journal"
    assert not journal.exists() or not list(journal.iterdir()), list(journal.iterdir())


@pytest.mark.parametrize("seed", [42, 7])
def test_correct_exchange_passes(tmp_path: Path, seed: int) -> None:
    code, output, result = run(tmp_path, "--seed", str(seed))
    assert code == 0, output
    assert output.startswith("PASS margin-latency-halt") and "report.html" in output
    checks = {c["name"]: c for c in result["checks"]}
    assert checks["safe_halt"]["figures"]["halts"] >= 1  # the halt really happened, not a vacuous pass
    assert checks["no_erroneous_margin_calls"]["figures"]["margin_calls"] + checks["no_erroneous_margin_calls"]["figures"]["liquidations"] >= 1
    assert result["figures"]["ok"] > 1000
    report = Path(output.split("report: ")[1].split()[0])
    assert report.exists() and "<svg" in report.read_text()


@pytest.mark.parametrize("bug, check", [
    ("no_halt", "safe_halt"),
    ("stale_margin_call", "no_erroneous_margin_calls"),
    ("halt_cancels_orders", "resting_orders_preserved"),
])
def test_bug_switch_is_caught_by_its_check(tmp_path: Path, bug: str, check: str) -> None:
    code, output, result = run(tmp_path, "--bugs", bug)
    assert code == 1, output
    assert output.startswith("FAIL") and f"{check}=fail" in output
    failed = {c["name"] for c in result["checks"] if c["status"] == "fail"}
    assert check in failed
    xml = next((tmp_path / "reports").glob("*/junit.xml")).read_text()
    assert f'name="{check}"' in xml and "<failure" in xml
