"""The seed scenario end to end: real umref processes, a real Toxiproxy, real Locust load.

The correct exchange passes on several seeds (every bug switch being caught is
test_bug_switches_caught.py); nothing is left behind after any run.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from tests.harness.busy import too_busy

if TYPE_CHECKING:
    from tests.harness.conftest import RealRun

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SEED_SCENARIO = Path(__file__).parents[2] / "scenarios" / "margin-latency-halt.yaml"
README = Path(__file__).parents[2] / "README.md"


def run_folder_in_readme() -> list[str]:
    """The names the README's "A run folder" list gives, one per bullet: the test holds it to them."""
    section = README.read_text().split("### A run folder", 1)[1].split("\n#", 1)[0]
    return sorted(line.split("`")[1].rstrip("/") for line in section.splitlines() if line.startswith("- `"))


def run(tmp_path: Path, *args: str, scenario: Path = SEED_SCENARIO) -> tuple[int, str, dict]:
    proc = subprocess.run([sys.executable, "-m", "harness.cli", "--state-dir", str(tmp_path / "state"), "run",
                           str(scenario), "--report-dir", str(tmp_path / "reports"), *args],
                          capture_output=True, text=True, timeout=240)
    verdict = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
    results = sorted((tmp_path / "reports").glob("*/result.json"))
    result = json.loads(results[-1].read_text()) if results else {}
    assert_nothing_left(tmp_path, result.get("run_id", ""))
    assert "Traceback" not in proc.stderr, proc.stderr
    assert_no_secrets(tmp_path / "reports")
    return proc.returncode, verdict, result


def assert_no_secrets(folder: Path) -> None:
    """Report folders become CI artifacts: no API key may be in them."""
    key = re.compile(rb"ak-[a-z0-9]+-[0-9a-f]{24}")
    leaks = [str(p) for p in folder.rglob("*") if p.is_file() and key.search(p.read_bytes())]
    assert not leaks, f"API keys in {leaks}"


def assert_nothing_left(tmp_path: Path, run_id: str) -> None:
    leftovers = subprocess.run(["pgrep", "-fa", "toxiproxy-server|targets.umref.service|locust -f"],
                               capture_output=True, text=True).stdout
    mine = [line for line in leftovers.splitlines() if str(tmp_path) in line or (run_id and run_id in line)]
    assert not mine, f"left behind: {mine}"
    journal = tmp_path / "state" / "journal"
    assert not journal.exists() or not list(journal.iterdir()), list(journal.iterdir())


@pytest.mark.parametrize(("seed", "host"), [(42, "127.0.0.1"), (7, "::1")])
def test_correct_exchange_passes(tmp_path: Path, seed: int, host: str) -> None:
    """On either loopback: IPv6 end to end (ports, URLs in brackets, proxies, load, audit)."""
    scenario = tmp_path / "seed-incident.yaml"
    scenario.write_text(SEED_SCENARIO.read_text().replace("target: {system: umref, bugs: []}",
                                                          f'target: {{system: umref, bugs: [], host: "{host}"}}'))
    code, output, result = run(tmp_path, "--seed", str(seed), "--metrics", str(tmp_path / "umchaos.prom"),
                               scenario=scenario)
    if too_busy(code, result):
        pytest.skip(f"a busy machine left the run undecided, never violated: {result['reason']}")
    assert code == 0, output
    metrics = {(s.name, s.labels.get("status") or s.labels.get("stage")): s.value
               for f in text_string_to_metric_families((tmp_path / "umchaos.prom").read_text()) for s in f.samples}
    assert metrics[("umchaos_run_status", "pass")] == 1 and metrics[("umchaos_rto_seconds", None)] == result["figures"]["rto_s"]
    assert metrics[("umchaos_faults", "injected")] == metrics[("umchaos_faults", "scheduled")] == len(result["schedule"])
    assert metrics[("umchaos_faults", "healed")] == 1  # the latency; the price shock is an event, nothing to heal
    run_dir = Path(output.split("report: ")[1].split()[0]).parent
    assert f"gateway listening on {host}:" in (run_dir / "logs" / "gateway.log").read_text()
    assert sorted(p.name for p in run_dir.iterdir()) == run_folder_in_readme()  # one history; what the README lists
    assert output.startswith("PASS margin-latency-halt") and "report.html" in output
    checks = {c["name"]: c for c in result["checks"]}
    assert checks["safe_halt"]["figures"]["halts"] >= 1  # the halt really happened, not a vacuous pass
    assert checks["no_erroneous_risk_actions"]["figures"]["moves_to_REDUCE_ONLY"] + checks["no_erroneous_risk_actions"]["figures"]["moves_to_FORCE_LIQUIDATION"] >= 1
    assert result["figures"]["ok"] > 1000
    report = Path(output.split("report: ")[1].split()[0])
    assert report.exists() and "<svg" in report.read_text()


def test_run_live_shows_phase_fault_and_halt_as_plain_lines_off_a_terminal(tmp_path: Path) -> None:
    short = Path(__file__).parent / "scenarios_extra" / "short-halt.yaml"
    proc = subprocess.run([sys.executable, "-m", "harness.cli", "--state-dir", str(tmp_path / "state"), "run", str(short),
                           "--report-dir", str(tmp_path / "reports"), "--live"], capture_output=True, text=True, timeout=240)
    lines = [line for line in proc.stderr.splitlines() if " umchaos.load t=" in line]
    assert len(lines) >= 5, proc.stderr[-3000:]
    assert any("phase=faults fault=latency matching->margin" in line and "req/s=" in line for line in lines), lines
    assert any("um=HALTED" in line for line in lines) and any("um=trading" in line for line in lines), lines
    assert proc.stdout.strip().splitlines()[-1].split()[0] in ("PASS", "UNKNOWN"), proc.stdout  # the verdict stays last
    assert_nothing_left(tmp_path, "")


def test_pytest_collects_scenarios_and_a_failure_shows_evidence_and_yaml(tmp_path: Path) -> None:
    """`pytest scenarios/` runs scenario files as items; a failure names the check, evidence and YAML lines.

    The root conftest collects the library's scenarios; the real failing run is the seed incident
    cut short (tests/harness/scenarios_extra/short-margin-halt.yaml), in a `scenarios` folder of its own."""
    root = Path(__file__).parents[2]
    collected = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--collect-only",
                                str(SEED_SCENARIO)], capture_output=True, text=True, timeout=120, cwd=root)
    assert collected.returncode == 0 and "margin-latency-halt.yaml::margin-latency-halt[seed=42]" in collected.stdout, \
        collected.stdout[-3000:]
    short = (Path(__file__).parent / "scenarios_extra" / "short-margin-halt.yaml").read_text()
    (tmp_path / "scenarios").mkdir()
    (tmp_path / "scenarios" / "short-margin-halt.yaml").write_text(short)
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "harness.pytest_plugin",
                           str(tmp_path / "scenarios" / "short-margin-halt.yaml"), "--umchaos-bugs", "no_halt",
                           "--umchaos-report-dir", str(tmp_path / "reports")],
                          capture_output=True, text=True, timeout=300, cwd=root)
    assert proc.returncode == 1, proc.stdout[-3000:]
    out = proc.stdout
    assert "short-margin-halt[seed=42]" in out
    assert "check safe_halt: fail" in out and "not halted within" in out
    link = next(n for n, line in enumerate(short.splitlines(), 1) if line.strip() == "link: matching->margin")
    assert f"{link}:     link: matching->margin" in out  # the fault's YAML lines
    assert_nothing_left(tmp_path, "")


def test_replay_reruns_the_same_schedule(tmp_path: Path, real_run: Callable[..., RealRun]) -> None:
    """Replays the run test_bug_switches_caught made of halt_cancels_orders on the seed incident
    cut short (made here if that test did not run first)."""
    code, verdict, result = run(tmp_path, "--dry-run")
    assert code == 0 and not result  # a dry run writes nothing
    short = Path(__file__).parent / "scenarios_extra" / "short-margin-halt.yaml"
    original = real_run(short, "--bugs", "halt_cancels_orders")
    first = original.result
    proc = subprocess.run([sys.executable, "-m", "harness.cli", "--state-dir", str(tmp_path / "state"), "replay",
                           str(original.run_dir), "--report-dir", str(tmp_path / "replays")], capture_output=True,
                          text=True, timeout=240)
    replayed = json.loads(next((tmp_path / "replays").glob("*/result.json")).read_text())
    assert_nothing_left(tmp_path, replayed["run_id"])
    assert proc.returncode == original.code == 1, proc.stdout + proc.stderr
    assert (replayed["seed"], replayed["bugs"], replayed["schedule"]) == (first["seed"], first["bugs"], first["schedule"])
    assert {c["name"]: c["status"] for c in replayed["checks"]}["resting_orders_preserved"] == "fail"


def test_a_steady_state_never_met_ends_unknown_after_three_probes(tmp_path: Path) -> None:
    impossible = tmp_path / "impossible.yaml"
    impossible.write_text(SEED_SCENARIO.read_text().replace("p99_ms: {max: 50}", "p99_ms: {max: 0.001}"))
    proc = subprocess.run([sys.executable, "-m", "harness.cli", "--state-dir", str(tmp_path / "state"), "run",
                           str(impossible), "--report-dir", str(tmp_path / "reports")],
                          capture_output=True, text=True, timeout=240)
    result = json.loads(next((tmp_path / "reports").glob("*/result.json")).read_text())
    assert proc.returncode == 2 and result["status"] == "unknown", proc.stdout + proc.stderr
    assert result["reason"].startswith("steady state not met before faults (3 probes): UM order p99")
    history = [json.loads(line) for line in next((tmp_path / "reports").glob("*/history.jsonl")).read_text().splitlines()]
    assert {op["value"]["client_id"].split("-")[0][:3] for op in history if op["f"] == "um_order"} == {"pb1", "pb2", "pb3"}
    assert not [op for op in history if op["f"] == "fault"]  # no fault was injected on an unmeasured system
    assert_nothing_left(tmp_path, result["run_id"])
