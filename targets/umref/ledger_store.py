"""The ledger's durable journal: SQLite (WAL, synchronous=FULL), double entry in minor units.

Records are appended in batches, one SQLite transaction per batch (group commit), each record
validated on its own: integer legs that balance per asset and leave no customer account below
zero. A client id appears once; a retry gets the first result. Everything is also held in
memory for the audit views and for replication.

A tail dropped when the node is fenced or demoted is not forgotten: it moves to the
``discarded`` table, the evidence of what a deposed primary wrote at its old epoch.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from targets.umref.money import ASSETS

__all__ = ["LedgerStore", "AppendResult", "natural_balance", "is_debit_normal", "validate_legs"]

CLEARING = "cust:clearing:um"


def is_debit_normal(account: str) -> bool:
    return account.startswith(("wallet:", "suspense:"))


def natural_balance(account: str, raw: int) -> int:
    """Balances are stored debit-positive; shown as what the account naturally holds or owes."""
    return raw if is_debit_normal(account) else -raw


def validate_legs(legs: Any) -> str | None:
    """Why these legs cannot be a ledger record, or None."""
    if not isinstance(legs, list):
        return "legs must be a list"
    sums: dict[str, int] = defaultdict(int)
    for leg in legs:
        if not isinstance(leg, dict) or not isinstance(leg.get("account"), str) or leg.get("asset") not in ASSETS:
            return f"malformed leg {leg!r}"
        amount = leg.get("amount")
        if not isinstance(amount, int) or isinstance(amount, bool):
            return f"leg amount must be an integer of minor units: {leg!r}"
        sums[leg["asset"]] += amount
    unbalanced = {a: s for a, s in sums.items() if s != 0}
    return f"legs do not balance: {unbalanced}" if unbalanced else None


@dataclass(frozen=True)
class AppendResult:
    client_id: str
    seq: int | None
    status: str  # ok | duplicate | rejected
    epoch: int | None = None
    error: str | None = None

    def view(self) -> dict[str, Any]:
        out: dict[str, Any] = {"client_id": self.client_id, "seq": self.seq, "status": self.status, "epoch": self.epoch}
        if self.error:
            out["error"] = {"code": "REJECTED", "message": self.error}
        return out


class LedgerStore:
    def __init__(self, path: Path, node: str) -> None:
        self.node = node
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.execute("CREATE TABLE IF NOT EXISTS records (seq INTEGER PRIMARY KEY, epoch INTEGER NOT NULL, "
                        "node TEXT NOT NULL, time REAL NOT NULL, client_id TEXT NOT NULL UNIQUE, kind TEXT NOT NULL, "
                        "body TEXT NOT NULL)")
        self.db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        self.db.execute("CREATE TABLE IF NOT EXISTS discarded (id INTEGER PRIMARY KEY, record TEXT NOT NULL)")
        self.records: list[dict[str, Any]] = []
        self.discarded: list[dict[str, Any]] = [json.loads(r) for (r,) in self.db.execute(
            "SELECT record FROM discarded ORDER BY id")]
        self.truncations = 0  # how often a tail was dropped (a derived view must then start over)
        self.by_client: dict[str, dict[str, Any]] = {}
        self.raw: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        # Writes run in a worker thread while audit reads run on the event loop: a balance snapshot
        # taken between a record's debit and its credit would show money that is nowhere.
        self.view_lock = threading.Lock()
        for seq, epoch, node_, time_, client_id, kind, body in self.db.execute("SELECT * FROM records ORDER BY seq"):
            self._remember({"seq": seq, "epoch": epoch, "node": node_, "time": time_, "client_id": client_id,
                            "kind": kind, **json.loads(body)})

    # ---- reads -----------------------------------------------------------------------------
    @property
    def last_seq(self) -> int:
        return self.records[-1]["seq"] if self.records else 0

    def meta(self, key: str, default: str | None = None) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else default

    def set_meta(self, **values: Any) -> None:
        with self.db:
            self.db.execute("BEGIN")
            for key, value in values.items():
                self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, str(value)))

    def balances(self) -> dict[str, dict[str, int]]:
        """A consistent snapshot: whole records only."""
        return self.balances_through()[1]

    def balances_through(self) -> tuple[int, dict[str, dict[str, int]]]:
        """The balances and the last seq they include, read together: an auditor lines them up
        with the journal at that seq."""
        with self.view_lock:
            return self.last_seq, {acct: {a: natural_balance(acct, v) for a, v in assets.items()}
                                   for acct, assets in list(self.raw.items())}

    def after(self, seq: int, limit: int | None = None) -> list[dict[str, Any]]:
        # seqs are contiguous from 1, so record i has seq i + 1
        return self.records[seq: seq + limit if limit else None]

    # ---- writes ----------------------------------------------------------------------------
    def _remember(self, record: dict[str, Any]) -> None:
        self.records.append(record)
        self.by_client[record["client_id"]] = record
        for leg in record.get("legs", []):
            self.raw[leg["account"]][leg["asset"]] += leg["amount"]

    def _overdraws(self, legs: list[dict[str, Any]], pending: dict[tuple[str, str], int]) -> str | None:
        for leg in legs:
            acct = leg["account"]
            if acct.startswith("cust:") and acct != CLEARING:
                key = (acct, leg["asset"])
                after = self.raw[acct][leg["asset"]] + pending.get(key, 0) + leg["amount"]
                if after > 0:  # a liability stored debit-positive: > 0 means the customer owes us
                    return f"{acct} would go below zero in {leg['asset']}"
        return None

    def append(self, batch: list[dict[str, Any]], *, epoch: int, time_now: float) -> tuple[list[AppendResult], list[dict[str, Any]]]:
        """Validate and commit a batch durably; returns per-record results and the new records."""
        results: list[AppendResult] = []
        new: list[dict[str, Any]] = []
        pending: dict[tuple[str, str], int] = defaultdict(int)
        seq = self.last_seq
        seen: set[str] = set()
        for rec in batch:
            client_id = rec.get("client_id")
            if not isinstance(client_id, str) or not client_id:
                results.append(AppendResult(str(client_id), None, "rejected", error="client_id required"))
                continue
            if client_id in self.by_client or client_id in seen:
                first = self.by_client.get(client_id) or next(r for r in new if r["client_id"] == client_id)
                results.append(AppendResult(client_id, first["seq"], "duplicate", first["epoch"]))
                continue
            legs = rec.get("legs", [])
            error = validate_legs(legs) or self._overdraws(legs, pending)
            if error:
                results.append(AppendResult(client_id, None, "rejected", error=error))
                continue
            for leg in legs:
                pending[(leg["account"], leg["asset"])] += leg["amount"]
            seq += 1
            seen.add(client_id)
            record = {"seq": seq, "epoch": epoch, "node": self.node, "time": float(rec.get("time") or time_now),
                      "client_id": client_id, "kind": str(rec.get("kind", "unknown")), "events": rec.get("events", []),
                      "legs": legs, "answer": rec.get("answer"), **({"writer": rec["writer"]} if rec.get("writer") else {})}
            new.append(record)
            results.append(AppendResult(client_id, seq, "ok", epoch))
        self.write(new)
        return results, new

    def write(self, records: list[dict[str, Any]]) -> None:
        """Durably store already-numbered records (a batch of ours, or replicated ones)."""
        if not records:
            return
        rows = [(r["seq"], r["epoch"], r["node"], r["time"], r["client_id"], r["kind"],
                 json.dumps({"events": r.get("events", []), "legs": r.get("legs", []), "answer": r.get("answer"),
                             **({"writer": r["writer"]} if r.get("writer") else {})}))
                for r in records]
        with self.db:
            self.db.execute("BEGIN")
            self.db.executemany("INSERT INTO records VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
        with self.view_lock:
            for record in records:
                self._remember(record)

    def apply_replicated(self, records: list[dict[str, Any]]) -> int:
        """Store the primary's records that follow ours; idempotent. Returns our last seq."""
        fresh = [r for r in records if r["seq"] > self.last_seq]
        if fresh and fresh[0]["seq"] != self.last_seq + 1:
            return self.last_seq  # a gap: the primary re-ships from our last seq
        self.write([r for i, r in enumerate(fresh) if r["seq"] == self.last_seq + 1 + i])
        return self.last_seq

    def truncate_after(self, seq: int, *, reason: str, time_now: float, superseded_by_epoch: int | None = None,
                       acked: Callable[[int], bool | None] = lambda _: False) -> int:
        """Drop records after ``seq`` (a fenced or demoted node's unreplicated tail), keeping each
        in ``discarded`` with why, when, and whether this node had acknowledged it (``acked`` of
        its seq; None: it cannot tell); returns how many."""
        doomed = [r for r in self.records if r["seq"] > seq]
        if not doomed:
            return 0
        kept = [{**r, "discarded_at": time_now, "reason": reason, "superseded_by_epoch": superseded_by_epoch,
                 "acked": acked(r["seq"])} for r in doomed]
        with self.db:
            self.db.execute("BEGIN")
            self.db.execute("DELETE FROM records WHERE seq > ?", (seq,))
            self.db.executemany("INSERT INTO discarded (record) VALUES (?)", [(json.dumps(r),) for r in kept])
        self.discarded += kept
        self.truncations += 1
        with self.view_lock:
            for record in doomed:
                self.by_client.pop(record["client_id"], None)
                for leg in record.get("legs", []):
                    self.raw[leg["account"]][leg["asset"]] -= leg["amount"]
            self.records = [r for r in self.records if r["seq"] <= seq]
        return len(doomed)

    def close(self) -> None:
        self.db.close()
