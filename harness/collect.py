"""Collect the audit from the target after a run, and sample balances during it.

Whatever cannot be fetched is listed in ``audit["errors"]`` so that a check needing it says
``unknown`` rather than guessing. Garbage from the target is treated the same way.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from itertools import chain
from sys import intern
from typing import Any

import msgspec
import orjson
import requests
from msgspec.structs import force_setattr

from harness.audit import JournalRecord
from harness.history import CHUNK_BYTES, line_blocks, no_cyclic_gc
from harness.http import target_session
from harness.targets.base import Topology

__all__ = ["AuditSources", "topology_facts", "collect_audit", "BalanceSampler", "primary_ledger", "read_journal", "flatten"]

log = logging.getLogger("umchaos.collect")
FLATTENED = {"risk_level": "risk_levels", "liquidation": "liquidations"}  # event type -> audit view
_RECORDS = msgspec.json.Decoder(JournalRecord)
_HEADER = msgspec.json.Decoder()


@dataclass(frozen=True)
class AuditSources:
    """Where the audit contract's endpoints are served: the base URLs of the services playing
    its roles in the target's topology."""

    matching: tuple[str, ...]  # base URLs, home region's first: the active one serves the books
    ledgers: Mapping[str, str]  # node -> base URL, home primary first
    replication: str

    @staticmethod
    def of(topology: Topology, services: Mapping[str, str]) -> AuditSources:
        return AuditSources(matching=tuple(services[name] for name in topology.role_all("matching")),
                            ledgers={node: services[node] for node in topology.role_all("ledgers")},
                            replication=services[topology.role("replication")])


def topology_facts(topology: Topology) -> dict[str, Any]:
    """What checks may know of the target's shape (regions, roles), as plain data in the audit's
    config: the harness's own knowledge, not the target's report."""
    return {"region_of": dict(topology.region_of), "um_only": list(topology.um_only),
            "roles": {role: value if isinstance(value, str) else list(value) for role, value in topology.roles.items()}}


def _get(session: requests.Session, url: str, errors: list[str], timeout: float = 10.0) -> Any:
    try:
        resp = session.get(url, timeout=timeout)
        body = orjson.loads(resp.content)  # the books and balances of a long run: orjson, as the journal
        if resp.status_code != 200:
            errors.append(f"{url}: HTTP {resp.status_code}")
            return None
        return body
    except requests.RequestException as exc:
        errors.append(f"{url}: {exc.__class__.__name__}")
    except ValueError:
        errors.append(f"{url}: answer is not JSON")
    return None


def read_journal(blocks: Iterable[bytes | memoryview]) -> list[JournalRecord]:
    """Journal records from JSON lines (the ledger's ``/audit/ledger?format=jsonl``, its header
    line first), decoded a block of lines at a time, never as one document the size of the
    journal. The words every record repeats (node, kind, accounts, assets) are interned block by
    block, so the memory their copies took is reused by the next block. Raises ValueError saying
    what is wrong and where."""
    blocks = iter(blocks)
    header, _, first = bytes(next(blocks, b"")).partition(b"\n")
    try:
        fields = _HEADER.decode(header)
    except msgspec.DecodeError:
        fields = None
    if not isinstance(fields, dict) or "node" not in fields:
        raise ValueError("no header line")
    records: list[JournalRecord] = []
    for block in chain((first,), blocks):
        try:
            part = _RECORDS.decode_lines(block)
        except msgspec.DecodeError as exc:  # says which field of which line, e.g. "at `$[3].legs[0].amount`"
            raise ValueError(f"a record is not a journal record: {exc}") from None
        for record in part:
            force_setattr(record, "node", intern(record.node))
            force_setattr(record, "kind", intern(record.kind))
            force_setattr(record, "answer", record.answer.copy())  # its own bytes, not a view pinning the block
            for leg in record.legs:
                force_setattr(leg, "account", intern(leg.account))
                force_setattr(leg, "asset", intern(leg.asset))
        records += part
    return records


def _get_active(session: requests.Session, bases: tuple[str, ...], path: str, errors: list[str]) -> Any:
    """``path`` from the first matching engine that serves it: after a failover the active one is
    another region's, and a standby (or a deposed engine) refuses. Every refusal is kept when none serves it."""
    tried: list[str] = []
    for base in bases:
        if (body := _get(session, base + path, tried)) is not None:
            return body
    errors.extend(tried)
    return None


def _get_journal(session: requests.Session, url: str, errors: list[str]) -> list[JournalRecord] | None:
    try:
        with session.get(url, params={"format": "jsonl"}, timeout=60.0, stream=True) as resp:
            if resp.status_code != 200:
                errors.append(f"{url}: HTTP {resp.status_code}")
                return None
            records = read_journal(line_blocks(resp.iter_content(chunk_size=CHUNK_BYTES)))
    except requests.RequestException as exc:
        errors.append(f"{url}: {exc.__class__.__name__}")
        return None
    except ValueError as exc:
        errors.append(f"{url}: journal missing or malformed ({exc})")
        return None
    return records


def primary_ledger(session: requests.Session, ledgers: Mapping[str, str]) -> str | None:
    """The ledger node that says it is primary at the highest epoch."""
    best: tuple[int, str] | None = None
    for node, url in ledgers.items():
        state = _get(session, url + "/state", [], timeout=2.0)
        if isinstance(state, dict) and state.get("role") == "primary":
            epoch = int(state.get("epoch", 0))
            if best is None or epoch > best[0]:
                best = (epoch, node)
    return best[1] if best else None


def flatten(records: list[JournalRecord]) -> dict[str, list[dict[str, Any]]]:
    """The margin calls and liquidations out of journal records, each carrying its record's seq,
    time, epoch and client id (what no_erroneous_risk_actions and the report read)."""
    out: dict[str, list[dict[str, Any]]] = {name: [] for name in set(FLATTENED.values())}
    for record in records:
        for event in record.events:
            if target := FLATTENED.get(event.get("type", "")):
                out[target].append({"time": record.time, **event, "seq": record.seq, "epoch": record.epoch,
                                    "client_id": record.client_id, "record_time": record.time, "kind": record.kind})
    return out


def _discarded(session: requests.Session, ledgers: Mapping[str, str], errors: list[str]) -> list[dict[str, Any]] | None:
    """What each ledger node wrote and later dropped (a deposed primary's tail): evidence that a
    resync from the new primary would otherwise erase. Every node is asked; one that does not
    answer makes the view incomplete, so it is None."""
    out: list[dict[str, Any]] = []
    for node, base in ledgers.items():
        url = base + "/audit/discarded"
        body = _get(session, url, errors)
        if not isinstance(body, dict) or not isinstance(body.get("records"), list):
            if body is not None:
                errors.append(f"{url}: not a list of discarded records")
            return None
        out += [{**r, "node": node} for r in body["records"] if isinstance(r, dict)]
    return out


def collect_audit(sources: AuditSources, *, config: dict[str, Any], samples: list[dict[str, Any]]) -> dict[str, Any]:
    with no_cyclic_gc():  # a soak's journal is hundreds of thousands of records
        return _collect(sources, config=config, samples=samples)


def _collect(sources: AuditSources, *, config: dict[str, Any], samples: list[dict[str, Any]]) -> dict[str, Any]:
    errors: list[str] = []
    session = target_session()
    audit: dict[str, Any] = {"config": config, "balance_samples": samples, "errors": errors}
    halts = _get_active(session, sources.matching, "/audit/halts", errors)
    audit["halts"] = halts.get("events") if isinstance(halts, dict) else None
    audit["books"] = _get_active(session, sources.matching, "/audit/books", errors)
    audit["replication"] = _get(session, sources.replication + "/audit/replication", errors)
    primary = primary_ledger(session, sources.ledgers)
    if primary is None:
        errors.append("no ledger node is primary: journal and balances not collected")
        audit["journal"] = audit["balances"] = None
    else:
        # Balances first: their last_seq is then within the journal read next, so segregation can
        # replay the journal's legs to exactly that seq and compare.
        audit["balances"] = _get(session, sources.ledgers[primary] + "/audit/balances", errors)
        records = _get_journal(session, sources.ledgers[primary] + "/audit/ledger", errors)
        audit["journal"] = records
        audit["journal_node"] = primary
        audit.update(flatten(records) if records is not None else {k: None for k in set(FLATTENED.values())})
    audit["discarded"] = _discarded(session, sources.ledgers, errors)
    session.close()
    return audit


class BalanceSampler:
    """Samples the primary ledger's balances every ``every_s`` in a daemon thread (bounded)."""

    def __init__(self, ledgers: Mapping[str, str], *, every_s: float = 1.0, max_samples: int = 3600) -> None:
        self.ledgers = ledgers
        self.every_s = every_s
        self.max_samples = max_samples
        self.samples: list[dict[str, Any]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="balance-sampler", daemon=True)

    def start(self) -> BalanceSampler:
        self._thread.start()
        return self

    def _run(self) -> None:
        session = target_session()
        while not self._stop.wait(self.every_s) and len(self.samples) < self.max_samples:
            primary = primary_ledger(session, self.ledgers)
            if primary is None:
                continue
            body = _get(session, self.ledgers[primary] + "/audit/balances", [], timeout=2.0)
            if isinstance(body, dict) and "balances" in body:
                self.samples.append({"time": body.get("time", time.time()), "node": primary, "balances": body["balances"],
                                     "last_seq": body.get("last_seq"), "epoch": body.get("epoch")})
        session.close()

    def stop(self) -> list[dict[str, Any]]:
        self._stop.set()
        self._thread.join(timeout=5)
        return list(self.samples)
