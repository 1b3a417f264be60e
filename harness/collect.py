"""Collect the audit from the target after a run, and sample balances during it.

Whatever cannot be fetched is listed in ``audit["errors"]`` so that a check needing it says
``unknown`` rather than guessing. Garbage from the target is treated the same way.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from sys import intern
from typing import Any

import orjson
import requests

from harness.history import no_cyclic_gc

__all__ = ["collect_audit", "BalanceSampler", "primary_ledger", "read_journal", "flatten"]

log = logging.getLogger("umchaos.collect")
FLATTENED = {"order": "orders", "cancel": "orders", "trade": "trades", "margin_call": "margin_calls",
             "liquidation": "liquidations"}


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


# Words every journal record repeats (kinds, accounts, assets...): interned as they are read, one
# string each instead of one per record — a third of a long run's journal in memory.
RECORD_WORDS = ("kind", "node")
EVENT_WORDS = ("type", "account", "symbol", "side", "market", "order_type", "wallet", "asset")
LEG_WORDS = ("account", "asset")


def _intern(values: dict[str, Any], words: tuple[str, ...]) -> None:
    for key in words:
        if (word := values.get(key)).__class__ is str:
            values[key] = intern(word)


def read_journal(lines: Iterable[bytes]) -> list[Any]:
    """Journal records from JSON lines (the ledger's ``/audit/ledger?format=jsonl`` after its
    header line): parsed one record at a time, never as one document the size of the journal."""
    records = []
    for line in lines:
        if not line.strip():
            continue
        record = orjson.loads(line)
        if record.__class__ is dict:
            _intern(record, RECORD_WORDS)
            for key, words in (("events", EVENT_WORDS), ("legs", LEG_WORDS)):
                if (items := record.get(key)).__class__ is list:  # anything else: flatten says why
                    for item in items:
                        if item.__class__ is dict:
                            _intern(item, words)
        records.append(record)
    return records


def _get_journal(session: requests.Session, url: str, errors: list[str]) -> list[Any] | None:
    try:
        with session.get(url, params={"format": "jsonl"}, timeout=60.0, stream=True) as resp:
            if resp.status_code != 200:
                errors.append(f"{url}: HTTP {resp.status_code}")
                return None
            lines = resp.iter_lines(chunk_size=1 << 16)
            header = orjson.loads(next(lines, b"null"))
            if not isinstance(header, dict) or "node" not in header:
                errors.append(f"{url}: journal missing or malformed (no header line)")
                return None
            return read_journal(lines)
    except requests.RequestException as exc:
        errors.append(f"{url}: {exc.__class__.__name__}")
    except ValueError:
        errors.append(f"{url}: journal missing or malformed (a line is not JSON)")
    return None


def primary_ledger(session: requests.Session, services: dict[str, str]) -> str | None:
    """The ledger node that says it is primary at the highest epoch."""
    best: tuple[int, str] | None = None
    for node in ("ledger-a", "ledger-b"):
        state = _get(session, services[node] + "/state", [], timeout=2.0)
        if isinstance(state, dict) and state.get("role") == "primary":
            epoch = int(state.get("epoch", 0))
            if best is None or epoch > best[0]:
                best = (epoch, node)
    return best[1] if best else None


def flatten(records: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Events out of journal records, each carrying its record's seq, time, epoch and client id."""
    out: dict[str, list[dict[str, Any]]] = {name: [] for name in set(FLATTENED.values())}
    for record in records:
        if not isinstance(record, dict) or not isinstance(record.get("events", []), list):
            raise ValueError(f"journal record is not an object with an events list: {str(record)[:60]!r}")
        meta = {"seq": record.get("seq"), "epoch": record.get("epoch"), "client_id": record.get("client_id"),
                "record_time": record.get("time"), "kind": record.get("kind")}
        for event in record.get("events", []):
            if not isinstance(event, dict):
                raise ValueError(f"journal event is not an object: {str(event)[:60]!r}")
            target = FLATTENED.get(event.get("type", ""))
            if target:
                out[target].append({"time": record.get("time"), **event, **meta})
    return out


def collect_audit(services: dict[str, str], *, config: dict[str, Any], samples: list[dict[str, Any]]) -> dict[str, Any]:
    with no_cyclic_gc():  # a soak's journal is hundreds of thousands of records
        return _collect(services, config=config, samples=samples)


def _collect(services: dict[str, str], *, config: dict[str, Any], samples: list[dict[str, Any]]) -> dict[str, Any]:
    errors: list[str] = []
    session = requests.Session()
    audit: dict[str, Any] = {"config": config, "balance_samples": samples, "errors": errors}
    halts = _get(session, services["matching"] + "/audit/halts", errors)
    audit["halts"] = halts.get("events") if isinstance(halts, dict) else None
    audit["books"] = _get(session, services["matching"] + "/audit/books", errors)
    audit["prices"] = _get(session, services["pricefeed"] + "/audit/prices", errors)
    audit["replication"] = _get(session, services["coordinator"] + "/audit/replication", errors)
    primary = primary_ledger(session, services)
    if primary is None:
        errors.append("no ledger node is primary: journal and balances not collected")
        audit["journal"] = audit["balances"] = None
    else:
        records = _get_journal(session, services[primary] + "/audit/ledger", errors)
        audit["journal"] = records
        audit["journal_node"] = primary
        audit["balances"] = _get(session, services[primary] + "/audit/balances", errors)
        try:
            audit.update(flatten(records) if records is not None else {k: None for k in set(FLATTENED.values())})
        except ValueError as exc:  # a target answering garbage: the checks then cannot decide
            errors.append(f"{primary}: malformed journal ({exc})")
            audit["journal"] = None
            audit.update({k: None for k in set(FLATTENED.values())})
    session.close()
    return audit


class BalanceSampler:
    """Samples the primary ledger's balances every ``every_s`` in a daemon thread (bounded)."""

    def __init__(self, services: dict[str, str], *, every_s: float = 1.0, max_samples: int = 3600) -> None:
        self.services = services
        self.every_s = every_s
        self.max_samples = max_samples
        self.samples: list[dict[str, Any]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="balance-sampler", daemon=True)

    def start(self) -> BalanceSampler:
        self._thread.start()
        return self

    def _run(self) -> None:
        session = requests.Session()
        while not self._stop.wait(self.every_s) and len(self.samples) < self.max_samples:
            primary = primary_ledger(session, self.services)
            if primary is None:
                continue
            body = _get(session, self.services[primary] + "/audit/balances", [], timeout=2.0)
            if isinstance(body, dict) and "balances" in body:
                self.samples.append({"time": body.get("time", time.time()), "node": primary, "balances": body["balances"]})
        session.close()

    def stop(self) -> list[dict[str, Any]]:
        self._stop.set()
        self._thread.join(timeout=5)
        return list(self.samples)
