"""``umchaos conformance``: a running platform checked against the audit contract.

The proof is umref started by hand behind a Toxiproxy server of its own, described by a topology
file shaped as examples/external-umref/topology.yaml but on ports of its own (62100.., 62200..,
62474: the example's 61100.. stay free for test_external.py): every clause holds, and with one
audit endpoint switched off (``--without-endpoint /audit/books``) the run fails naming that
clause. Bad input is one line and exit 3.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from harness.audit import JournalRecord, Leg
from harness.conformance import _transfer_wrong
from harness.errors import EXIT_BAD_INPUT, EXIT_PASS, EXIT_VIOLATION
from targets.umref.config import LINKS
from tests.harness.by_hand import moved, umchaos, umref_by_hand

TOXIPROXY = "http://127.0.0.1:62474"
CLAUSES = ["health", "state", "auditHalts", "auditBooks", "auditLedger", "auditBalances", "auditDiscarded",
           "auditReplication", "transfer_journaled", "forged_key_refused", "margin_slowdown_halts"]


# ---- bad input -----------------------------------------------------------------------------------

ACCOUNTS = json.dumps({"accounts": [{"account": "a1", "api_key": "k1", "role": "trader"}]})
ELSEWHERE = """\
name: elsewhere
services:
  gateway: {url: "http://10.1.2.3:18900", region: A}
  matching: {url: "http://127.0.0.1:18901", region: A}
roles: {gateway: gateway, matching: matching}
accounts: accounts.json
allow_targets: [10.1.2.3]
"""


@pytest.mark.parametrize(("text", "says"), [
    ("name: margin-latency-halt\ntimeline: []\n", ":2: "),  # a scenario, not a topology
    ("- just\n- a list\n", "topology file"),
    (ELSEWHERE, "service gateway http://10.1.2.3:18900 is not loopback; conformance sends nothing elsewhere"),
])
def test_a_file_that_is_not_a_topology_is_one_line_and_exit_3(tmp_path: Path, text: str, says: str) -> None:
    (tmp_path / "accounts.json").write_text(ACCOUNTS)
    path = tmp_path / "topo.yaml"
    path.write_text(text)
    proc = umchaos("--state-dir", str(tmp_path / "state"), "conformance", str(path), timeout=60)
    assert proc.returncode == EXIT_BAD_INPUT, proc.stdout + proc.stderr
    assert proc.stderr.startswith(f"umchaos: {path}") and says in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and proc.stdout == ""


# ---- the transfer clause's judgement of a journal ------------------------------------------------

def _record(cid: str, legs: list[tuple[str, int]], *, seq: int = 7, kind: str = "transfer") -> JournalRecord:
    event = {"type": "transfer", "account": "a1", "asset": "USDT", "amount": "1", "from": "spot", "to": "um"}
    return JournalRecord(seq=seq, epoch=1, node="ledger-a", time=1.0, client_id=cid, kind=kind, events=[event],
                         legs=[Leg(account, "USDT", amount) for account, amount in legs])


GOOD_LEGS = [("cust:a1:spot", 1_000_000), ("cust:a1:um", -1_000_000)]


@pytest.mark.parametrize(("records", "says"), [
    ([_record("c", GOOD_LEGS)], None),
    ([], "acknowledged transfer c is not in the journal"),
    ([_record("c", GOOD_LEGS), _record("c", GOOD_LEGS, seq=8)], "journaled 2 times"),
    ([_record("c", GOOD_LEGS, kind="order")], "of kind 'order'"),
    ([_record("c", [("cust:a1:spot", 1_000_000)])], "legs do not balance per asset: {'USDT': 1000000}"),
    ([_record("c", [])], "no legs"),
    ([_record("c", [("cust:a1:spot", 1_000_000), ("suspense:transfer", -1_000_000)])], "legs move"),
])
def test_an_acknowledged_transfer_must_be_one_balanced_record_moving_the_amount(
        records: list[JournalRecord], says: str | None) -> None:
    found = _transfer_wrong(records, "c", "a1", "spot", "um")
    assert found is None if says is None else (found is not None and says in found), found


# ---- umref started by hand -----------------------------------------------------------------------

@pytest.fixture
def by_hand(tmp_path: Path) -> Iterator[tuple[Path, Callable[..., None]]]:
    """umref by hand on ports of its own (the example's moved by 1000) and in tmp_path."""
    folder = tmp_path / "hand"
    folder.mkdir()
    path = moved(folder, 1000)
    with umref_by_hand(folder, path, offset=1000) as up:
        yield path, up


def _conformance(tmp_path: Path, path: Path, junit: Path) -> tuple[int, dict[str, str], dict[str, str]]:
    """Exit code; clause -> its stdout line; JUnit testcase -> 'pass', 'failure' or 'error'."""
    proc = umchaos("--state-dir", str(tmp_path / "state"), "conformance", str(path), "--junit", str(junit),
                   "--max-examples", "3", "--max-time", "60")
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    lines = {line.split()[1].rstrip(":"): line for line in proc.stdout.splitlines()}
    assert list(lines) == CLAUSES, proc.stdout + proc.stderr[-2000:]
    cases = {case.get("name", ""): next((child.tag for child in case if child.tag in ("failure", "error")), "pass")
             for case in ET.parse(junit).getroot().iter("testcase")}
    # nothing left behind: no toxic on the platform's server, no fault in the journal
    proxies = requests.get(TOXIPROXY + "/proxies", timeout=5).json()
    assert len(proxies) == len(LINKS) and all(p["enabled"] and not p["toxics"] for p in proxies.values())
    assert list((tmp_path / "state" / "journal").glob("*")) == []
    return proc.returncode, lines, cases


@pytest.mark.integration
@pytest.mark.slow
def test_conformance_passes_on_umref_and_fails_naming_the_clause_switched_off(
        tmp_path: Path, by_hand: tuple[Path, Callable[..., None]]) -> None:
    path, up = by_hand
    up()
    code, lines, cases = _conformance(tmp_path, path, tmp_path / "pass.xml")
    assert code == EXIT_PASS and all(line.startswith("PASS ") for line in lines.values()), "\n".join(lines.values())
    assert cases == dict.fromkeys(CLAUSES, "pass")
    assert "UM halted" in lines["margin_slowdown_halts"] and "refused (HTTP 401" in lines["forged_key_refused"]

    up("--without-endpoint", "/audit/books")
    code, lines, cases = _conformance(tmp_path, path, tmp_path / "fail.xml")
    assert code == EXIT_VIOLATION, "\n".join(lines.values())
    assert lines["auditBooks"].startswith("FAIL auditBooks: GET /audit/books: matching") and \
           "HTTP 404" in lines["auditBooks"], lines["auditBooks"]
    others = {name: line for name, line in lines.items() if name != "auditBooks"}
    assert all(line.startswith("PASS ") for line in others.values()), "\n".join(others.values())
    assert cases == {**dict.fromkeys(CLAUSES, "pass"), "auditBooks": "failure"}
