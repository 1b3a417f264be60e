"""``umchaos conformance TOPOLOGY``: does a running platform serve the audit contract?

A platform whose audit is missing or malformed gets ``unknown`` verdicts from every run; its team
wants to know before gating a release on them. Each clause is one line and one JUnit testcase:

- **The document** (one clause per GET operation of ``docs/audit-contract.yaml``, by its
  operationId): Schemathesis generates requests from the operation (Hypothesis, bounded: examples
  per operation, a timeout per request, a time budget for the whole) and sends them to every
  service playing a role the operation is tagged with, checking status codes, content types and
  response schemas; ``/state`` against the role's schema (``x-umchaos-schema-by-role``), ``/health``
  at the file's health path and answering as the service's name, ``/audit/ledger`` also line by
  line as the collector reads it. ``POST /intake`` is never sent: a platform takes the first
  tick's market for good (umref never returns to its own prices), which a check of a running
  platform must not do; ``run`` exercises the intake.
- **The meaning**, cross-examined rather than believed: an acknowledged transfer is in the primary
  ledger's journal with balanced legs (and so is the one back, leaving the account as it was); a
  forged API key is refused and nothing is journaled under its client id; a slowdown of the
  margin link halts UM (``/audit/halts`` and ``/state``, corroborated by a transfer refused
  ``UM_HALTED``) and UM resumes after the heal within the platform's budget.

Loopback only, whatever the file's ``allow_targets``. The slowdown is written to the fault journal
before it is applied and healed in a ``finally``; a watchdog heals it if this process is killed.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import secrets
import signal
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import requests

from harness.checks.base import CheckResult, Evidence, Validity
from harness.errors import EXIT_PASS, EXIT_UNKNOWN, EXIT_VIOLATION, BadInput, HarnessError
from harness.http import target_session
from harness.safety import host_of, is_loopback
from harness.targets.base import ClientApi, MissingRole
from harness.targets.client import load_client_api
from harness.targets.external import ExternalTarget, load_topology_file
from harness.untrusted import printable

if TYPE_CHECKING:
    from harness.audit import JournalRecord
    from harness.faults.fault_journal import FaultJournal
    from harness.faults.network import ProxyNet

__all__ = ["Bounds", "CONTRACT", "conformance"]

log = logging.getLogger("umchaos.conformance")
CONTRACT = Path(__file__).resolve().parents[1] / "docs" / "audit-contract.yaml"
TRANSFER_UNITS = 10**6  # USDT's minor units per unit, as the contract's conventions say
CALM_WAIT_S = 30.0  # UM must be trading before the slowdown (a platform may be resuming)
HALT_MARGIN_S = 2.0  # beyond the guard's own budget, for a busy machine: the halt is what is judged here
RESUME_MARGIN_S = 2.0  # beyond window_ms + healthy_for_ms (the slow calls must leave the window first)
JOURNAL_WAIT_S = 5.0  # an acknowledged write is durable before its ack; this is for a slow read
UNREACHABLE_S = 5.0  # a matching engine that never answers is not one that is resuming
POLL_S = 0.05


@dataclass(frozen=True)
class Bounds:
    """How much Schemathesis may send: examples per operation and service, the timeout of each
    request, the time budget of the whole document half; the seed makes the examples repeatable."""

    max_examples: int = 5
    request_timeout_s: float = 5.0
    max_time_s: float = 60.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.max_examples < 1 or not 0 < self.request_timeout_s <= 60 or not 0 < self.max_time_s <= 3600:
            raise BadInput("conformance bounds: --max-examples >= 1, --request-timeout in (0, 60] s, "
                           "--max-time in (0, 3600] s")


@dataclass(frozen=True)
class Probe:
    """What the probes share: the platform, one HTTP session, this check's id, its bounds."""

    platform: ExternalTarget
    http: requests.Session
    run_id: str
    timeout_s: float
    account: Mapping[str, str] = field(default_factory=dict)

    @functools.cached_property
    def client(self) -> ClientApi:
        return load_client_api(self.platform.client_api)

    def url(self, role: str) -> str:
        return self.platform.urls[self.platform.topology.role(role)]

    def get(self, url: str) -> Any:
        """The JSON answer of a 200; None for anything else (the caller says unknown)."""
        try:
            resp = self.http.get(url, timeout=self.timeout_s, allow_redirects=False)
            return resp.json() if resp.status_code == 200 else None
        except (requests.RequestException, ValueError):
            return None

    def transfer(self, client_id: str, src: str, dst: str, key: str | None = None) -> tuple[int | None, str]:
        """One transfer of 1 USDT between the account's own wallets through the gateway: its status
        (None: no answer, outcome unknown) and the error code or what went wrong."""
        body = {"client_id": client_id, "asset": "USDT", "amount": "1", "from": src, "to": dst}
        request = self.client.request("transfer", body, key or self.account["api_key"])
        try:
            resp = self.http.request(request.method, self.url("gateway") + request.path, json=request.json,
                                     headers=dict(request.headers), timeout=self.timeout_s, allow_redirects=False)
        except requests.RequestException as exc:
            return None, exc.__class__.__name__
        try:
            raw = resp.json() if resp.content else None
        except ValueError:
            raw = None
        status, answer = self.client.answer("transfer", resp.status_code, raw)
        error = answer.get("error") if isinstance(answer, dict) else None
        return status, str(error.get("code", "")) if isinstance(error, dict) else ""


def conformance(path: Path, *, bounds: Bounds, state_dir: Path, junit: Path | None = None,
                contract: Path = CONTRACT, out: Callable[[str], None] = print) -> int:
    """Check the platform ``path`` describes; one line per clause to ``out``; the exit code."""
    from harness.faults.fault_journal import FaultJournal
    from harness.inputs import check_writable_file
    from harness.watchdog import WatchdogSpec, start_watchdog

    platform = load_topology_file(path)
    _loopback_only(platform)
    doc = _read_contract(contract)
    if junit is not None:
        check_writable_file(junit, "--junit")
    run_id = f"cf{os.getpid():x}{int(time.time() * 1000) % 10**6:06d}"
    started = time.time()
    on_main = threading.current_thread() is threading.main_thread()
    journal = FaultJournal(state_dir, run_id).open(signals=on_main)
    watchdog = start_watchdog(WatchdogSpec(state_dir, run_id, deadline_s=bounds.max_time_s + 300))
    previous = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGTERM, signal.SIGUSR1)} if on_main else {}
    try:
        # the links first: a platform whose links a run's own Toxiproxy carries has none without it
        with target_session() as http, _links(platform, journal, run_id) as (net, why):
            clauses = _document(platform, doc, bounds, http)
            clauses += _probes(Probe(platform, http, run_id, bounds.request_timeout_s), net, why, journal)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        _close(journal)
        watchdog.send_signal(signal.SIGUSR2)  # it sees the journal gone and exits
    for clause in clauses:
        out(printable(f"{clause.status.upper()} {clause.name}: {clause.summary}"))
    code = _exit_code(clauses)
    if junit is not None:
        _write_junit(junit, platform, clauses, code, started, bounds, doc, run_id)
    return code


def _interrupt(*_: Any) -> None:
    raise KeyboardInterrupt("signal")  # unwinds through the finally that heals the slowdown


def _close(journal: FaultJournal) -> None:
    """The journal goes once nothing is left in it; what a failed heal left is healed from it."""
    import json

    from harness.faults.fault_journal import heal_run

    if journal.faults():  # the journal stays if this heal fails too: the watchdog or cleanup retries
        for line in heal_run(journal.path, json.loads(journal.path.read_text())):
            log.warning("healed from the journal: %s", line)
    else:
        journal.close()


def _exit_code(clauses: list[CheckResult]) -> int:
    if any(c.valid is False for c in clauses):
        return EXIT_VIOLATION
    return EXIT_UNKNOWN if any(c.valid == "unknown" for c in clauses) else EXIT_PASS


def _loopback_only(platform: ExternalTarget) -> None:
    """Conformance sends requests it generates: never anywhere but this machine."""
    where = [*(("service " + s, u) for s, u in platform.urls.items()),
             *(("link " + link, d) for link, d in platform.dial.items()),
             *([("toxiproxy", platform.toxiproxy)] if platform.toxiproxy else [])]
    for what, address in where:
        if not is_loopback(host_of(address)):
            raise BadInput(f"{printable(str(platform.file))}: {what} {printable(address)} is not loopback; "
                           "conformance sends nothing elsewhere (allow_targets does not apply to it)")


def _read_contract(path: Path) -> dict[str, Any]:
    import yaml

    try:
        doc = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise BadInput(f"the audit contract {printable(str(path))}: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("paths"), dict):
        raise BadInput(f"the audit contract {printable(str(path))} is not an OpenAPI document")
    return doc


# ---- the document: Schemathesis ----------------------------------------------------------------

@dataclass(frozen=True)
class Served:
    """One GET operation of the contract on one service: what was sent and what came of it."""

    service: str
    sent: int = 0
    failure: str | None = None  # a violation of the contract, said in one line
    undecided: str | None = None  # why nothing could be judged (unreachable, out of time)
    note: str = ""  # what was checked beyond the schema


def _roles_of(platform: ExternalTarget) -> dict[str, list[str]]:
    """Service -> the roles it plays (a link's role is no service's)."""
    roles: dict[str, list[str]] = {s: [] for s in platform.urls}
    for role in platform.topology.roles:
        if role != "margin_link":
            for service in platform.topology.role_all(role):
                roles[service].append(role)
    return roles


def _service_doc(doc: dict[str, Any], roles: list[str], health: str) -> dict[str, Any]:
    """The contract as one service must serve it: the GET operations of its roles, /health at its
    own health path, /state's answer by its role."""
    paths: dict[str, Any] = {}
    for route, item in doc["paths"].items():
        op = item.get("get") if isinstance(item, dict) else None
        if not isinstance(op, dict):
            continue
        if route == "/health":
            paths[health] = {"get": op}
            continue
        mine = [r for r in roles if r in op.get("tags", [])]
        if not mine:
            continue
        by_role = op.get("x-umchaos-schema-by-role", {})
        if schema := next((by_role[r] for r in mine if r in by_role), None):
            answer = op["responses"]["200"]
            op = {**op, "responses": {**op["responses"], "200": {**answer, "content": {
                "application/json": {"schema": {"$ref": schema}}}}}}
        paths[route] = {"get": op}
    return {**doc, "paths": paths}


def _document(platform: ExternalTarget, doc: dict[str, Any], bounds: Bounds,
              http: requests.Session) -> list[CheckResult]:
    """One clause per GET operation: every service that must serve it, driven by Schemathesis."""
    import schemathesis

    deadline = time.monotonic() + bounds.max_time_s
    roles = _roles_of(platform)
    results: dict[str, list[Served]] = {}
    labels: dict[str, str] = {}
    for route, item in doc["paths"].items():
        op = item.get("get") if isinstance(item, dict) else None
        if isinstance(op, dict) and isinstance(op.get("operationId"), str):
            results[op["operationId"]] = []
            labels[op["operationId"]] = f"GET {route}"
    for service, mine in roles.items():
        health = platform.health[service]
        schema = schemathesis.openapi.from_dict(_service_doc(doc, mine, health), config=schemathesis.Config())
        for result in schema.get_all_operations():
            if (error := getattr(result, "err", None)) is not None:  # an operation Schemathesis cannot use
                raise BadInput(f"the audit contract: {error()}")
            op = result.ok()  # type: ignore[union-attr]
            name = op.definition.raw.get("operationId")
            if name not in results:
                continue
            if time.monotonic() > deadline:
                served = Served(service, undecided=f"the time budget (--max-time {bounds.max_time_s:g} s) was "
                                                   "spent before it was tried")
            elif refused := _standby(platform, service, op.definition.raw, labels[name].split()[1], http, bounds):
                served = Served(service, note=refused)
            else:
                served = _drive(op, platform.urls[service], bounds, http, deadline, service)
            if served.failure is None and served.undecided is None:
                served = _semantics(name, served, platform, service, http, bounds)
            results[name].append(served)
    return [_clause(name, labels[name], served, doc) for name, served in results.items()]


def _standby(platform: ExternalTarget, service: str, op: dict[str, Any], route: str, http: requests.Session,
             bounds: Bounds) -> str | None:
    """Why ``service`` is excused from ``route``: one of several services of a role the operation is
    for (one engine per region), refusing as a standby (503 ``NOT_ACTIVE``) as the contract allows.
    None when it must serve it."""
    shared = [r for r in op.get("tags", []) if service in (names := platform.topology.role_all(r)) and len(names) > 1]
    if not shared:
        return None
    try:
        answer = http.get(platform.urls[service] + route, timeout=bounds.request_timeout_s, allow_redirects=False)
        code = answer.json().get("error", {}).get("code") if answer.status_code == 503 else None
    except (requests.RequestException, ValueError, AttributeError):
        return None
    return f"{service} a standby ({code})" if code == "NOT_ACTIVE" else None


def _drive(op: Any, base_url: str, bounds: Bounds, http: requests.Session, deadline: float,
           service: str) -> Served:
    """Hypothesis examples of ``op`` sent to ``base_url``; the first failure ends it (no shrinking:
    a GET of the audit has little to shrink, and every example is a request to a running system)."""
    from hypothesis import HealthCheck, Phase, Verbosity, given, seed, settings
    from schemathesis.checks import (
        content_type_conformance,
        not_a_server_error,
        response_schema_conformance,
        status_code_conformance,
    )
    from schemathesis.errors import FailureGroup

    checks = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
    state: dict[str, Any] = {"sent": 0, "failure": None, "undecided": None}

    @seed(bounds.seed)
    @settings(max_examples=bounds.max_examples, deadline=None, database=None, derandomize=False,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck),
              verbosity=Verbosity.quiet, print_blob=False, report_multiple_bugs=False)
    @given(case=op.as_strategy())
    def example(case: Any) -> None:
        if state["failure"] or state["undecided"] or time.monotonic() > deadline:
            return
        try:
            response = case.call(base_url=base_url, session=http, timeout=bounds.request_timeout_s,
                                 allow_redirects=False)
        except requests.RequestException as exc:
            state["undecided"] = f"{service} ({base_url}) did not answer: {exc.__class__.__name__}"
            return
        state["sent"] += 1
        try:
            case.validate_response(response, checks=checks)
        except FailureGroup as group:
            state["failure"] = "; ".join(_said(f) for f in group.exceptions)
        except AssertionError as failure:
            state["failure"] = _said(failure)
        if state["failure"]:
            state["failure"] = f"{service} ({base_url}{case.formatted_path}) HTTP {response.status_code}: " \
                               f"{state['failure']}"

    example()
    return Served(service, state["sent"], state["failure"], state["undecided"])


def _said(failure: BaseException) -> str:
    """A Schemathesis failure in one line: its code, title and message."""
    title = getattr(failure, "title", "") or failure.__class__.__name__
    message = " ".join(str(getattr(failure, "message", failure)).split())
    return f"{getattr(failure, 'code', '')} {title}: {message}".strip()[:400]


def _semantics(name: str, served: Served, platform: ExternalTarget, service: str, http: requests.Session,
               bounds: Bounds) -> Served:
    """What the schema cannot say: /health answers as the service's name in the topology (the
    readiness wait tells services apart by it); the journal's lines decode as the collector reads
    them (the schema sees one string)."""
    base = platform.urls[service]
    if name == "health":
        try:
            body = http.get(base + platform.health[service], timeout=bounds.request_timeout_s).json()
        except (requests.RequestException, ValueError) as exc:
            return replace(served, undecided=f"{service}: {exc.__class__.__name__}")
        said = body.get("service") if isinstance(body, dict) else None
        if said != service:
            return replace(served, failure=f"{service} answers as {printable(repr(said))}, not as its name in the "
                                           "topology")
        return replace(served, note="each answers as its name")
    if name == "auditLedger":
        records = _journal(http, base, bounds.request_timeout_s)
        if isinstance(records, str):
            return replace(served, failure=f"{service}: {records}")
        return replace(served, note=f"{service}'s {len(records)} records decode line by line")
    return served


def _clause(name: str, label: str, served: list[Served], doc: dict[str, Any]) -> CheckResult:
    if not served:
        op = next(item["get"] for item in doc["paths"].values() if item.get("get", {}).get("operationId") == name)
        return CheckResult(name, "unknown", f"{label}: the topology names no service for role(s) "
                                            f"{', '.join(op.get('tags', []))}")
    services = ", ".join(s.service for s in served)
    evidence = tuple(Evidence(s.failure or s.undecided or f"{s.service}: {s.sent} request(s) conform")
                     for s in served)
    if failed := [s.failure for s in served if s.failure]:
        return CheckResult(name, False, f"{label}: {'; '.join(failed)}", evidence)
    if undecided := [s.undecided for s in served if s.undecided]:
        return CheckResult(name, "unknown", f"{label}: {'; '.join(undecided)}", evidence)
    if not any(s.sent for s in served):
        return CheckResult(name, False, f"{label}: no service serves it, every one refused as a standby", evidence)
    sent = sum(s.sent for s in served)
    notes = list(dict.fromkeys(s.note for s in served if s.note))
    return CheckResult(name, True, f"{label} on {services}: status, content type and schema conform "
                                   f"({sent} generated request(s)){'; ' if notes else ''}{', '.join(notes)}",
                       evidence, {"requests": sent})


# ---- the journal, as the collector reads it ------------------------------------------------------

def _journal(http: requests.Session, base: str, timeout_s: float) -> list[JournalRecord] | str:
    """The journal of the ledger node at ``base``, or what is wrong with it."""
    from harness.collect import read_journal
    from harness.history import CHUNK_BYTES, line_blocks

    try:
        with http.get(base + "/audit/ledger", params={"format": "jsonl"}, timeout=max(timeout_s, 30.0),
                      stream=True, allow_redirects=False) as resp:
            if resp.status_code != 200:
                return f"GET /audit/ledger?format=jsonl: HTTP {resp.status_code}"
            return read_journal(line_blocks(resp.iter_content(chunk_size=CHUNK_BYTES)))
    except requests.RequestException as exc:
        return f"GET /audit/ledger?format=jsonl: {exc.__class__.__name__}"
    except ValueError as exc:
        return f"GET /audit/ledger?format=jsonl: journal malformed ({exc})"


def _primary_journal(probe: Probe, wanted: set[str]) -> tuple[str, list[JournalRecord]] | str:
    """The primary ledger's journal once it holds every client id in ``wanted`` (or
    ``JOURNAL_WAIT_S`` has passed); its node name; or why it cannot be read."""
    from harness.collect import primary_ledger

    ledgers = {node: probe.platform.urls[node] for node in probe.platform.topology.role_all("ledgers")}
    if not ledgers:
        return "the topology names no 'ledgers'"
    deadline = time.monotonic() + JOURNAL_WAIT_S
    while True:
        node = primary_ledger(probe.http, ledgers)
        if node is None:
            why: str | list[JournalRecord] = f"no ledger says it is primary ({', '.join(ledgers)})"
        else:
            why = _journal(probe.http, ledgers[node], probe.timeout_s)
            if not isinstance(why, str) and (wanted <= {r.client_id for r in why} or time.monotonic() > deadline):
                return node, why
        if time.monotonic() > deadline:
            return str(why)
        time.sleep(0.5)


# ---- the probes ----------------------------------------------------------------------------------

@contextmanager
def _links(platform: ExternalTarget, journal: FaultJournal,
           run_id: str) -> Iterator[tuple[ProxyNet | None, str]]:
    """The proxies the platform's links dial, as a run has them: on the file's own Toxiproxy
    server for good, or on a server of this check's for its length (then they go with it).
    Yields (None, why) when the links cannot be proxied: only the slowdown needs them."""
    from harness.backends.external import PERSISTENT, ensure_proxies
    from harness.backends.go_tools import toxiproxy_server_path
    from harness.faults.network import ProxyNet, ToxiproxyServer

    server: ToxiproxyServer | None = None
    net: ProxyNet | None = None
    why = f"{printable(str(platform.file))} dials no link through a proxy"
    try:
        if platform.dial:
            try:
                if platform.toxiproxy is not None:
                    net = ProxyNet(platform.toxiproxy, run_id=PERSISTENT)
                else:
                    server = ToxiproxyServer(toxiproxy_server_path(), run_id=run_id)
                    server.start()
                    journal.add_resource("toxiproxy", {"pgid": server.pid})
                    net = ProxyNet(server.url, run_id=run_id)
                ensure_proxies(net, platform)
                why = ""
            except HarnessError as exc:
                net, why = None, f"the links cannot be proxied: {exc}"
        yield net, why
    finally:
        if server is not None:
            server.stop()  # its proxies go with it, as the external backend's do


def _probes(probe: Probe, net: ProxyNet | None, why: str, journal: FaultJournal) -> list[CheckResult]:
    """The semantic clauses, once UM trades (a platform whose links this check just proxied, or
    that an earlier fault halted, may still be resuming: a write refused then says nothing)."""
    traders = [a for a in probe.platform.accounts if a["role"] == "trader"]
    probe = replace(probe, account=traders[0])  # the topology file has at least one
    names = ("transfer_journaled", "forged_key_refused", "margin_slowdown_halts")
    try:
        probe.url("gateway")
        matching = probe.url("matching")
    except MissingRole as exc:
        return [CheckResult(n, "unknown", str(exc)) for n in names]
    trading, last = _wait_trading(probe, matching, CALM_WAIT_S)
    if not trading:
        return [CheckResult(n, "unknown", f"UM not trading within {CALM_WAIT_S:.0f} s: {last}") for n in names]
    return [*_writes(probe), _slowdown(probe, net, why, journal)]


def _writes(probe: Probe) -> list[CheckResult]:
    """An acknowledged transfer there and one back are journaled, balanced; a forged key is
    refused and leaves nothing in the journal. One journal read judges both."""
    account = probe.account["account"]
    key = probe.account["api_key"]
    forged_key = key[:-8] + secrets.token_hex(4) if len(key) > 8 else key + "-forged"
    forged_key = forged_key if forged_key != key else key + "0"
    forged_id, there_id, back_id = (f"umchaos-conformance-{probe.run_id}-{what}" for what in ("forged", "there", "back"))
    forged = probe.transfer(forged_id, "spot", "um", key=forged_key)
    there = probe.transfer(there_id, "spot", "um")
    back = probe.transfer(back_id, "um", "spot") if there[0] == 200 else (None, "not sent")
    acked = {cid: src_dst for cid, src_dst, answer in ((there_id, ("spot", "um"), there), (back_id, ("um", "spot"), back))
             if answer[0] == 200}
    read = _primary_journal(probe, set(acked))
    forged_clause = _forged(forged, forged_id, read)
    if not acked:
        return [CheckResult("transfer_journaled", "unknown",
                            f"the transfer of 1 USDT spot->um for {account} was not acknowledged "
                            f"({_answer(there)}): nothing to look for"), forged_clause]
    if isinstance(read, str):
        return [CheckResult("transfer_journaled", "unknown", f"the journal cannot be read: {read}"), forged_clause]
    node, records = read
    by_id: dict[str, list[JournalRecord]] = {}
    for record in records:
        by_id.setdefault(record.client_id, []).append(record)
    bad = [why for cid, (src, dst) in acked.items() if (why := _transfer_wrong(by_id.get(cid, []), cid, account, src, dst))]
    evidence = tuple(Evidence(f"{cid}: seq {[r.seq for r in by_id.get(cid, [])]}") for cid in acked)
    if bad:
        return [CheckResult("transfer_journaled", False, f"in {node}'s journal ({len(records)} records): "
                                                         f"{'; '.join(bad)}", evidence), forged_clause]
    return [CheckResult("transfer_journaled", True,
                        f"{len(acked)} acknowledged transfer(s) of 1 USDT for {account} each journaled once in "
                        f"{node}'s journal, kind transfer, legs balanced and moving the amount", evidence),
            forged_clause]


def _answer(answer: tuple[int | None, str]) -> str:
    status, code = answer
    return f"no answer: {code}" if status is None else f"HTTP {status}{' ' + code if code else ''}"


def _transfer_wrong(records: list[JournalRecord], cid: str, account: str, src: str, dst: str) -> str | None:
    """What is wrong with the journal's record of one acknowledged transfer; None when nothing."""
    if not records:
        return f"acknowledged transfer {cid} is not in the journal"
    if len(records) > 1:
        return f"{cid} is journaled {len(records)} times (seq {[r.seq for r in records]}); a client id is applied once"
    record = records[0]
    if record.kind != "transfer":
        return f"{cid} (seq {record.seq}) is of kind {record.kind!r}, not 'transfer'"
    if not any(e.get("type") == "transfer" and e.get("account") == account and e.get("asset") == "USDT"
               and _decimal(e.get("amount")) == 1 and e.get("from") == src and e.get("to") == dst
               for e in record.events):
        return f"{cid} (seq {record.seq}) has no transfer event of 1 USDT {src}->{dst} for {account}"
    totals: dict[str, int] = {}
    moved: dict[str, int] = {}
    for leg in record.legs:
        totals[leg.asset] = totals.get(leg.asset, 0) + leg.amount
        if leg.asset == "USDT":
            moved[leg.account] = moved.get(leg.account, 0) + leg.amount
    if not record.legs or any(totals.values()):
        return f"{cid} (seq {record.seq}) legs do not balance per asset: {totals or 'no legs'}"
    want = {f"cust:{account}:{src}": TRANSFER_UNITS, f"cust:{account}:{dst}": -TRANSFER_UNITS}
    if any(moved.get(acct, 0) != amount for acct, amount in want.items()):
        return f"{cid} (seq {record.seq}) legs move {moved}, not {want} (USDT minor units)"
    return None


def _decimal(value: object) -> Decimal | None:
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def _forged(answer: tuple[int | None, str], cid: str, read: tuple[str, list[JournalRecord]] | str) -> CheckResult:
    name = "forged_key_refused"
    status = answer[0]
    if status is None or status >= 500 or (400 <= status < 500 and status not in (401, 403)):
        return CheckResult(name, "unknown", f"a transfer with a forged API key got {_answer(answer)}: "
                                            "not a refusal of the key (401/403), nor an acceptance")
    if status not in (401, 403):
        return CheckResult(name, False, f"a transfer with a forged API key was accepted ({_answer(answer)})")
    if isinstance(read, str):
        return CheckResult(name, "unknown", f"refused ({_answer(answer)}), but the journal cannot be read to "
                                            f"confirm nothing was applied: {read}")
    node, records = read
    if found := [r.seq for r in records if r.client_id == cid]:
        return CheckResult(name, False, f"refused ({_answer(answer)}), yet {node}'s journal has {cid} at seq {found}")
    return CheckResult(name, True, f"a transfer with a forged API key was refused ({_answer(answer)}) and "
                                   f"{node}'s journal ({len(records)} records) has nothing under its client id")


def _risk(platform: ExternalTarget) -> dict[str, int]:
    from harness.checks.common import DEFAULT_RISK

    risk = {**DEFAULT_RISK, **platform.risk_defaults}
    return {k: int(v) for k, v in risk.items() if k.endswith("_ms")}


def _slowdown(probe: Probe, net: ProxyNet | None, why: str, journal: FaultJournal) -> CheckResult:
    """Latency on the margin link: UM halts (both views, corroborated by a refusal), and resumes
    after the heal. The toxic stays only until the halt is seen, and is healed whatever happens."""
    from harness.checks.common import halt_budget_s
    from harness.faults.network import ToxiproxyError

    name = "margin_slowdown_halts"
    try:
        link = probe.platform.topology.role("margin_link")
        matching = probe.url("matching")
    except MissingRole as exc:
        return CheckResult(name, "unknown", str(exc))
    if net is None:
        return CheckResult(name, "unknown", f"{link} cannot be slowed down: {why}")
    risk = _risk(probe.platform)
    latency_ms = max(800, 4 * risk["p99_ms"])
    halt_within_s = halt_budget_s(risk) + HALT_MARGIN_S
    resume_within_s = (risk["window_ms"] + risk["healthy_for_ms"]) / 1000 + RESUME_MARGIN_S
    if not (calm := _wait_trading(probe, matching, CALM_WAIT_S))[0]:
        return CheckResult(name, "unknown", f"UM not trading before the slowdown within {CALM_WAIT_S:.0f} s: {calm[1]}")
    before = probe.get(matching + "/audit/halts")
    seen_before = len(before["events"]) if _events(before) is not None else None
    toxic = f"{probe.run_id}__margin_slowdown"
    journal.add_fault("margin_slowdown", {"heal": "toxic", "api": net.api_url, "toxics": [[net.proxy_name(link), toxic]]})
    refusal: tuple[int | None, str] = (None, "not sent")
    try:
        start = time.time()
        try:
            net.add_toxic(link, "latency", {"latency": latency_ms, "jitter": 0}, stream="downstream", name=toxic)
        except ToxiproxyError as exc:
            return CheckResult(name, "unknown", f"the slowdown did not land on {link}: {exc}")
        landed = time.monotonic()
        halted, halt = _wait_halt(probe, matching, seen_before, start, landed + halt_within_s)
        if halted and halt is not None:
            refusal = probe.transfer(f"umchaos-conformance-{probe.run_id}-halted", "spot", "um")
    finally:
        net.remove_toxic(link, toxic)
        journal.remove_fault("margin_slowdown")
        healed = time.monotonic()
    return _slowdown_verdict(probe, matching, f"{latency_ms} ms on {link}", (halt_within_s, resume_within_s),
                             SlowdownSeen(halted, halt, start, refusal, healed))


class SlowdownSeen(NamedTuple):
    halted: bool  # /state said halted
    halt: dict[str, Any] | None  # the halt /audit/halts listed after the slowdown landed
    start: float  # when the toxic was added (wall clock)
    refusal: tuple[int | None, str]  # a transfer's answer during the halt
    healed: float  # when the toxic was removed (monotonic)


def _slowdown_verdict(probe: Probe, matching: str, slow: str, budgets: tuple[float, float],
                      seen: SlowdownSeen) -> CheckResult:
    """What the slowdown showed: a halt seen both ways and corroborated by a refused transfer, then
    a resume after the heal, each within its budget (halt, resume)."""
    name = "margin_slowdown_halts"
    halt_within_s, resume_within_s = budgets
    halted, halt, start, refusal, healed = seen
    if not halted or halt is None:
        views = [v for v, ok in (("/state never said halted", halted), ("/audit/halts lists no halt after it", halt))
                 if not ok]
        return CheckResult(name, False, f"no halt within {halt_within_s:.2f} s of {slow}: {' and '.join(views)}")
    took = halt["time"] - start
    if refusal[0] == 200:
        return CheckResult(name, False, f"halted per /state and /audit/halts after {slow}, yet a transfer was "
                                        "acknowledged during the halt")
    if (refusal[0], refusal[1]) != (503, "UM_HALTED"):
        return CheckResult(name, "unknown", f"halted per /state and /audit/halts after {slow}, but the halt is not "
                                            f"corroborated: a transfer during it got {_answer(refusal)}, "
                                            "not 503 UM_HALTED")
    resumed, last = _wait_resume(probe, matching, halt["time"], healed, resume_within_s)
    if not resumed:
        return CheckResult(name, False, f"halted {took:.3f} s after {slow} (refusing UM_HALTED), but not resumed "
                                        f"{resume_within_s:.1f} s after the heal (window_ms + healthy_for_ms + "
                                        f"{RESUME_MARGIN_S:g} s): {last}")
    return CheckResult(name, True, f"{slow}: UM halted {took:.3f} s after it landed (/state, /audit/halts: "
                                   f"{printable(str(halt.get('reason', '')))[:80]!r}), a transfer refused 503 "
                                   f"UM_HALTED; resumed {resumed:.3f} s after the heal (budget "
                                   f"{resume_within_s:.1f} s)", figures={"halt_s": round(took, 3),
                                                                        "resume_s": round(resumed, 3)})


def _events(body: Any) -> list[dict[str, Any]] | None:
    events = body.get("events") if isinstance(body, dict) else None
    return [e for e in events if isinstance(e, dict)] if isinstance(events, list) else None


def _wait_trading(probe: Probe, matching: str, within_s: float) -> tuple[bool, str]:
    """matching's /state says UM trades (not halted, not rebuilding) within ``within_s``."""
    began = time.monotonic()
    last = "no answer"
    while True:
        state = probe.get(matching + "/state")
        if state is None and last == "no answer" and time.monotonic() > began + UNREACHABLE_S:
            return False, f"{matching}/state never answered 200 in {UNREACHABLE_S:g} s"
        if isinstance(state, dict) and "halted" in state:
            if state["halted"] is False and state.get("broken") is None:
                return True, ""
            last = f"halted={state['halted']} broken={state.get('broken')}"
        if time.monotonic() > began + within_s:
            return False, last
        time.sleep(POLL_S)


def _wait_halt(probe: Probe, matching: str, seen_before: int | None, start: float,
               deadline: float) -> tuple[bool, dict[str, Any] | None]:
    """Until ``deadline``: whether /state said halted, and the halt /audit/halts lists after the
    slowdown (a new event, or one stamped after it when the list could not be read before)."""
    said = False
    halt: dict[str, Any] | None = None
    while time.monotonic() < deadline and not (said and halt):
        state = probe.get(matching + "/state")
        said = said or (isinstance(state, dict) and state.get("halted") is True)
        events = _events(probe.get(matching + "/audit/halts"))
        if halt is None and events is not None:
            fresh = events[seen_before:] if seen_before is not None else \
                [e for e in events if isinstance(e.get("time"), (int, float)) and e["time"] >= start]
            halt = next((e for e in fresh if e.get("type") == "halt" and isinstance(e.get("time"), (int, float))), None)
        if not (said and halt):
            time.sleep(POLL_S)
    return said, halt


def _wait_resume(probe: Probe, matching: str, halted_at: float, healed: float, within_s: float) -> tuple[float, str]:
    """Seconds from the heal (monotonic) until /state says trading and /audit/halts lists a resume
    after the halt; 0.0 and the last view when ``within_s`` passes first."""
    last = "no answer"
    while True:
        state = probe.get(matching + "/state")
        events = _events(probe.get(matching + "/audit/halts")) or []
        resumed = any(e.get("type") == "resume" and isinstance(e.get("time"), (int, float)) and e["time"] >= halted_at
                      for e in events)
        trading = isinstance(state, dict) and state.get("halted") is False
        if trading and resumed:
            return max(time.monotonic() - healed, 1e-3), ""
        last = f"/state halted={state.get('halted') if isinstance(state, dict) else None}, " \
               f"/audit/halts {'lists' if resumed else 'lists no'} resume after the halt"
        if time.monotonic() > healed + within_s:
            return 0.0, last
        time.sleep(POLL_S)


# ---- the JUnit file ------------------------------------------------------------------------------

def _write_junit(path: Path, platform: ExternalTarget, clauses: list[CheckResult], code: int, started: float,
                 bounds: Bounds, doc: dict[str, Any], run_id: str) -> None:
    """One testsuite, one testcase per clause, written by the run's own JUnit writer."""
    from importlib.metadata import version

    from harness import __version__
    from harness.report.junit import write_junit
    from harness.result import RunResult, RunStatus

    status: RunStatus = {EXIT_PASS: "pass", EXIT_VIOLATION: "fail"}.get(code, "unknown")  # type: ignore[assignment]
    verdict: Validity = True if code == EXIT_PASS else (False if code == EXIT_VIOLATION else "unknown")
    result = RunResult(
        run_id=run_id, scenario=f"conformance {platform.name}", scenario_file=str(platform.file),
        scenario_hash=hashlib.sha256(platform.file.read_bytes()).hexdigest(), seed=bounds.seed, backend="external",
        bugs=(), status=status, exit_code=code, started=started, ended=time.time(), checks=tuple(clauses),
        schedule=(), reason=None if verdict is True else f"{sum(c.valid is not True for c in clauses)} clause(s) not held",
        versions={"umchaos": __version__, "schemathesis": version("schemathesis"),
                  "contract": str(doc.get("info", {}).get("version"))},
        figures={"max_examples": bounds.max_examples, "request_timeout_s": bounds.request_timeout_s,
                 "max_time_s": bounds.max_time_s})
    write_junit(path, [result])
