"""``--target-file``: a platform the harness did not start, described by a topology file.

The proof is umref started by hand (``python -m targets.umref up``) behind a Toxiproxy server of its
own, exactly as examples/external-umref/topology.yaml describes it: the seed incident is judged as
on the built-in target, a switched-on defect is caught, and the platform is left running with no
toxic behind. The file is read as strictly as a scenario: every mistake is one ``file:line``.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from harness.errors import EXIT_BAD_INPUT, EXIT_PASS, EXIT_UNKNOWN, EXIT_VIOLATION
from targets.umref.config import LINKS
from tests.harness.busy import too_busy
from tests.harness.by_hand import (
    EXAMPLE,
    EXAMPLE_FOLDER,
    ROOT,
    umchaos,
    umref_by_hand,
    wait_answers,
)

BY_HAND = Path(EXAMPLE_FOLDER)  # the example's own paths (pid files, accounts)


def topology(tmp_path: Path, text: str) -> str:
    (tmp_path / "accounts.json").write_text(json.dumps({"accounts": [
        {"account": "a1", "api_key": "k1", "role": "trader"}]}))
    path = tmp_path / "topo.yaml"
    path.write_text(text)
    return str(path)


GOOD = """\
name: tiny
services:
  gateway: {url: "http://127.0.0.1:18900", region: A}
  matching: {url: "http://127.0.0.1:18901", region: A, control: {process: pids/matching.pid}}
  margin: {url: "http://127.0.0.1:18902", region: A, um_only: true}
links:
  "matching->margin": {dial: "127.0.0.1:18950"}
roles: {gateway: gateway, matching: matching, margin_link: "matching->margin", price_intake: gateway,
        ledgers: [gateway], replication: gateway}
accounts: accounts.json
"""

SCENARIO = """\
name: ext
timeline:
  - at: 2s
    fault: %s
    %s
    for: 3s
recovery: {within: 5s}
checks: [recovery]
"""


@pytest.mark.parametrize(("text", "line", "says"), [
    (GOOD.replace("127.0.0.1:18901", "10.1.2.3:18901"), 4,
     "services.matching.url: '10.1.2.3' is not loopback"),
    (GOOD.replace('dial: "127.0.0.1:18950"', 'dial: "8.8.8.8:53"'), 7, "is not loopback"),
    (GOOD.replace('"matching->margin": {dial', '"matching->nowhere": {dial'), 1,
     "link 'matching->nowhere' is not caller->callee between two services"),
    (GOOD.replace("replication: gateway}", "replication: gateway, witness: gateway}"), 1, "unknown role(s) 'witness'"),
    (GOOD.replace("region: A}\n  matching", "region: A, colour: red}\n  matching"), 3,
     "services.gateway: unknown field 'colour'"),
    (GOOD.replace("accounts: accounts.json", "accounts: missing.json"), 10, "accounts"),
    (GOOD.replace("control: {process: pids/matching.pid}", "control: {}"), 4, "control is either"),
    (GOOD + "timeline: []\n", 11, "topology file: unknown field 'timeline'"),
    (GOOD + 'client: "nosuch_module:Client"\n', 11, "client API 'nosuch_module:Client' does not import"),
    (GOOD + 'client: "harness.errors:BadInput"\n', 11, "is not module:attr naming a ClientApi"),
    (GOOD + 'client: "not a name"\n', 11, "client: string should match pattern"),
])
def test_a_bad_topology_file_is_one_line_at_its_line(tmp_path: Path, text: str, line: int, says: str) -> None:
    path = topology(tmp_path, text)
    (tmp_path / "s.yaml").write_text(SCENARIO % ("pause", "service: matching"))
    proc = umchaos("validate", str(tmp_path / "s.yaml"), "--target-file", path)
    assert proc.returncode == EXIT_BAD_INPUT, proc.stdout + proc.stderr
    assert proc.stderr.startswith(f"umchaos: {path}:{line}: ") and says in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr


@pytest.mark.parametrize(("fault", "target", "says"), [
    ("pause", "service: margin", "pause needs control of margin's process"),
    ("kill", "service: matching", "kill of matching would leave it down"),
    ("latency", "link: gateway->matching", "unknown link (caller->callee) 'gateway->matching' of target tiny"),
])
def test_a_fault_the_platform_cannot_take_is_refused_at_its_line(tmp_path: Path, fault: str, target: str,
                                                                 says: str) -> None:
    path = topology(tmp_path, GOOD)
    scenario = tmp_path / "s.yaml"
    scenario.write_text((SCENARIO % (fault, target)).replace("latency\n", "latency\n    params: {latency_ms: 9}\n"))
    proc = umchaos("validate", str(scenario), "--target-file", path)
    assert proc.returncode == EXIT_BAD_INPUT, proc.stdout + proc.stderr
    assert proc.stderr.startswith(f"umchaos: {scenario}:") and says in proc.stderr, proc.stderr


def test_process_gone_cannot_be_watched_on_a_service_the_file_gives_no_control_of(tmp_path: Path) -> None:
    path = topology(tmp_path, GOOD)
    scenario = tmp_path / "s.yaml"
    scenario.write_text((SCENARIO % ("pause", "service: matching")).replace(
        "recovery:", "abort_when: {target_process_gone: true}\nrecovery:"))
    proc = umchaos("validate", str(scenario), "--target-file", path)
    assert proc.returncode == EXIT_BAD_INPUT, proc.stdout + proc.stderr
    assert proc.stderr.startswith(f"umchaos: {scenario}:7: abort_when.target_process_gone: ") and \
        "gives no control of gateway, margin" in proc.stderr, proc.stderr


def test_the_harness_cannot_set_an_external_platforms_switches_or_budget(tmp_path: Path) -> None:
    path = topology(tmp_path, GOOD)
    scenario = tmp_path / "s.yaml"
    scenario.write_text((SCENARIO % ("pause", "service: matching")).replace(
        "recovery:", "target: {risk: {p99_ms: 300}}\nrecovery:"))
    proc = umchaos("validate", str(scenario), "--target-file", path)
    assert proc.returncode == EXIT_BAD_INPUT and f"{scenario}:7: target.risk.p99_ms: target tiny runs with its own " \
                                                  "risk budget" in proc.stderr, proc.stderr
    scenario.write_text(SCENARIO % ("pause", "service: matching"))
    for args in (["--bugs", "no_halt"], ["--backend", "docker"]):
        proc = umchaos("run", str(scenario), "--target-file", path, "--dry-run", *args)
        assert proc.returncode == EXIT_BAD_INPUT and len(proc.stderr.splitlines()) == 1, proc.stderr
    ok = umchaos("validate", str(scenario), "--target-file", path)
    assert ok.returncode == EXIT_PASS and ok.stdout.startswith(f"ok {scenario}: ext, 1 fault(s)"), ok.stderr


# ---- umref started by hand -----------------------------------------------------------------------

@pytest.fixture
def by_hand() -> Iterator[Callable[..., None]]:
    """umref by hand on the example's own ports and folder: the committed file, used as it is."""
    shutil.rmtree(BY_HAND, ignore_errors=True)
    try:
        with umref_by_hand(BY_HAND, EXAMPLE) as up:
            yield up
    finally:
        shutil.rmtree(BY_HAND, ignore_errors=True)


def _run(tmp_path: Path, scenario: str) -> tuple[int, dict]:
    proc = umchaos("--state-dir", str(tmp_path / "state"), "run", str(ROOT / "scenarios" / scenario),
                   "--target-file", str(EXAMPLE), "--report-dir", str(tmp_path / "r"))
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    results = sorted((tmp_path / "r").glob("*/result.json"), key=lambda p: p.stat().st_mtime)
    return proc.returncode, json.loads(results[-1].read_text())


def _left_running_and_clean(tmp_path: Path) -> None:
    proxies = requests.get("http://127.0.0.1:61474/proxies", timeout=5).json()
    assert len(proxies) == len(LINKS) and all(p["enabled"] and not p["toxics"] for p in proxies.values())
    assert requests.get("http://127.0.0.1:61114/health", timeout=5).status_code == 200  # the gateway runs on
    assert list((tmp_path / "state" / "journal").glob("*")) == []


@pytest.mark.integration
@pytest.mark.slow
def test_umref_by_hand_is_judged_like_the_built_in_target_and_left_running(tmp_path: Path,
                                                                           by_hand: Callable[..., None]) -> None:
    by_hand()
    code, result = _run(tmp_path, "margin-latency-halt.yaml")
    # a busy machine may leave it undecided; it must never be a violation of the correct platform
    assert code in (EXIT_PASS, EXIT_UNKNOWN), result
    if code == EXIT_PASS:
        assert result["backend"] == "external" and result["figures"]["time_to_halt_s"] < 0.65
    _left_running_and_clean(tmp_path)
    by_hand("--bugs", "no_halt")  # the same platform with UM that never halts
    code, result = _run(tmp_path, "margin-latency-halt.yaml")
    if too_busy(code, result):
        pytest.skip(f"the machine was too busy for the steady state: {result['reason']}")
    checks = {c["name"]: c["valid"] for c in result["checks"]}
    assert code == EXIT_VIOLATION and checks["safe_halt"] is False, (code, checks, result.get("reason"))
    _left_running_and_clean(tmp_path)


VENUE_SCENARIO = """\
name: venue-dialect
seed: 5
load: {users: 8, spawn_rate: 8, mix: {um_order: 6, cancel: 2, transfer: 1, spot_order: 3, leverage: 1, bad_key: 1}}
timeline:
  - {at: 2s, fault: latency, link: matching->margin, params: {latency_ms: 800}, for: 5s}
recovery: {within: 8s}
duration: 15s
checks: [safe_halt, rollback, no_acked_write_lost, resting_orders_preserved, recovery]
"""


@pytest.mark.integration
@pytest.mark.slow
def test_a_venue_with_its_own_client_api_is_loaded_and_probed_through_its_adapter(
        tmp_path: Path, by_hand: Callable[..., None]) -> None:
    """The gateway speaks another dialect (tests/harness/venue_dialect.py): every client request
    goes through the topology file's ``client:``, and the run is judged as on umref's own API."""
    import subprocess
    import sys

    from harness.net import free_port

    by_hand()
    port = free_port()
    venue = subprocess.Popen([sys.executable, "-m", "tests.harness.venue_dialect", str(port), "http://127.0.0.1:61114"],
                             cwd=ROOT, stdout=subprocess.DEVNULL, stderr=(tmp_path / "venue.log").open("wb"))
    try:
        wait_answers(f"http://127.0.0.1:{port}/served")
        topology_file = tmp_path / "venue.yaml"
        topology_file.write_text(EXAMPLE.read_text().replace("http://127.0.0.1:61114", f"http://127.0.0.1:{port}")
                                 + 'client: "tests.harness.venue_dialect:VenueClient"\n')
        (tmp_path / "s.yaml").write_text(VENUE_SCENARIO)
        proc = umchaos("--state-dir", str(tmp_path / "state"), "run", str(tmp_path / "s.yaml"),
                       "--target-file", str(topology_file), "--report-dir", str(tmp_path / "r"))
        assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
        served = requests.get(f"http://127.0.0.1:{port}/served", timeout=5).json()
    finally:
        venue.terminate()
        venue.wait(timeout=10)
    assert {"/fapi/v1/order", "/api/v3/order", "/fapi/v1/leverage", "/sapi/v1/asset/transfer",
            "/fapi/v1/premiumIndex"} <= set(served), served
    result = json.loads(next((tmp_path / "r").glob("*/result.json")).read_text())
    checks = {c["name"]: c["valid"] for c in result["checks"]}
    assert proc.returncode in (EXIT_PASS, EXIT_UNKNOWN) and False not in checks.values(), (checks, result.get("reason"))
    if proc.returncode == EXIT_PASS:  # a halt corroborated by clients refused UM_HALTED: the venue's -3008, mapped
        assert checks["safe_halt"] is True and result["figures"]["time_to_halt_s"] < 0.65
    _left_running_and_clean(tmp_path)


def test_the_examples_switches_are_umrefs_with_the_same_expected_checks() -> None:
    from harness.targets.external import load_topology_file
    from targets.umref.config import KILLED_BY

    platform = load_topology_file(EXAMPLE, accounts=False)
    assert {b.name: b.killed_by for b in platform.bug_switches} == dict(KILLED_BY)


@pytest.mark.integration
@pytest.mark.slow
def test_selftest_restarts_the_platform_with_each_switch_and_kills_it(tmp_path: Path,
                                                                       by_hand: Callable[..., None]) -> None:
    """umref by hand is left to the self-test: it brings it up correct, then with ``no_halt``, and
    the halt scenario must pass the first and catch the second; nothing of it runs afterwards."""
    proc = umchaos("--state-dir", str(tmp_path / "state"), "selftest",
                   str(ROOT / "tests" / "harness" / "scenarios_extra" / "short-margin-halt.yaml"), "--tag", "",
                   "--seeds", "1", "--bugs", "no_halt", "--target-file", str(EXAMPLE),
                   "--report-dir", str(tmp_path / "r"), timeout=900)
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    matrix = json.loads(next((tmp_path / "r").glob("selftest-*/selftest.json")).read_text())
    assert proc.returncode in (EXIT_PASS, EXIT_UNKNOWN), proc.stdout + proc.stderr[-2000:]
    outcomes = {(c["bug"], c["outcome"]) for c in matrix["cells"]}
    assert ("no_halt", "survived") not in outcomes and (None, "false_alarm") not in outcomes, outcomes
    if proc.returncode == EXIT_PASS:
        assert ("no_halt", "killed") in outcomes and (None, "pass") in outcomes, outcomes
    with pytest.raises(requests.RequestException):
        requests.get("http://127.0.0.1:61114/health", timeout=2)  # the self-test stopped what it started
