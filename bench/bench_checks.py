"""Benchmark: every check over a synthetic 1,000,000-op history, against the targets (20 s, 2 GiB).

The history is a real recorded run (its history.jsonl + audit.json) repeated back to back until it
holds the wanted number of ops, each copy a run of its own: its client ids, order ids, fault ids,
processes and customers renamed (``<name>~k``; customers funded by the copy's own genesis records),
every time in it shifted (ops, journal records and the times inside their events, halts, books,
balance samples), its steady-state probes later attempts than the copy before's. The audit is
repeated the same way: the books after the run hold every copy's resting orders. The journal is
written as the ledger streams it (JSON lines) and read with the collector's own reader; risk-level
moves and liquidations are derived from it as collect_audit derives them. So the shape (mix,
faults, halts, journal) is what a long soak would record, and every check's verdict is the source
run's (a copy sharing the source's customers or times would contradict its own records: verdicts
that judged the repetition, not the checks). The checks run in a fresh process so its peak RSS is
theirs alone.

    python bench/bench_checks.py RUN_DIR [--ops 1000000]

Writes bench/results/checks.json. Not a test: figures, not assertions.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.record import now_utc, write_result  # noqa: E402
from harness.checks.margin_oracle import SCALE  # noqa: E402

FLATTENED_VIEWS = ("orders", "trades", "margin_calls", "risk_levels", "liquidations")  # derived views an older audit.json holds
TARGET_S, TARGET_GIB = 20.0, 2.0
# A copy's names: <name>~k. Not a separator a write committed in parts would use (harness.checks.
# common.PART_SEPARATORS): a load's ids never hold one, so neither do the copies'.
SUFFIX = "~"
CLEARING = "clearing"  # cust:clearing:um: the exchange's UM clearing account, not a customer's
ID_KEYS = frozenset({"client_id", "order_id", "maker_order_id", "taker_order_id", "trade_id"})
ACCOUNT_KEYS = frozenset({"account", "taker_account", "maker_account"})
TIME_KEYS = frozenset({"time", "evaluated_at", "record_time", "sent", "since", "updated"})  # in events, books, halts, samples, status reads


@dataclass(frozen=True)
class Copy:
    """One copy of the source run: its ids and customers renamed ``<name>~k``, its times shifted.
    Each copy has customers of its own (funded by its own genesis records): a customer shared by
    the copies would carry one copy's wallet and positions into the next, whose margin decisions
    report the source's inputs, so the journal would contradict them (an artefact, not a finding)."""

    k: int
    shift: float
    customers: frozenset[str]

    def account(self, name: str) -> str:
        """A customer (``acct003``) or a customer's ledger account (``cust:acct003:um``) of this copy."""
        if name in self.customers:
            return f"{name}{SUFFIX}{self.k}"
        if name.startswith("cust:") and (cut := name.rfind(":")) > 5 and name[5:cut] in self.customers:
            return f"cust:{name[5:cut]}{SUFFIX}{self.k}{name[cut:]}"
        return name

    def rename(self, value: Any) -> Any:
        """A JSON value of the source run as this copy holds it."""
        if isinstance(value, dict):
            out = {}
            for key, v in value.items():
                if key in ID_KEYS and isinstance(v, str):
                    out[key] = f"{v}{SUFFIX}{self.k}"
                elif key in ACCOUNT_KEYS and isinstance(v, str):
                    out[key] = self.account(v)
                elif key in TIME_KEYS and isinstance(v, (int, float)) and not isinstance(v, bool):
                    out[key] = v + self.shift
                else:
                    out[key] = self.rename(v)
            return out
        if isinstance(value, list):
            return [self.rename(v) for v in value]
        return value

    def balances(self, view: dict[str, Any]) -> dict[str, Any]:
        """A balances view (``{ledger account: {asset: amount}}``) with this copy's accounts."""
        return {self.account(acct): assets for acct, assets in view.items()}


def _customers(base: list[dict[str, Any]], audit: dict[str, Any]) -> frozenset[str]:
    """The source run's customers: every account a client op names, every ``cust:<name>:*`` ledger
    account but the exchange's own clearing account."""
    names = {str(op["value"]["account"]) for op in base if isinstance(op.get("value", {}).get("account"), str)}
    for record in audit["journal"]:
        for leg in record.get("legs", []):
            if leg["account"].startswith("cust:"):
                names.add(leg["account"][5:leg["account"].rindex(":")])
    return frozenset(names - {CLEARING})


def _balances(journal: list[dict[str, Any]]) -> dict[str, Any]:
    from targets.umref.ledger_store import natural_balance

    raw: dict[str, dict[str, int]] = {}
    for record in journal:
        for leg in record.get("legs", []):
            assets = raw.setdefault(leg["account"], {})
            assets[leg["asset"]] = assets.get(leg["asset"], 0) + leg["amount"]
    last = max((r["seq"] for r in journal), default=0)
    return {"time": max((r["time"] for r in journal), default=0.0), "last_seq": last, "epoch": 1,
            "balances": {a: {asset: natural_balance(a, v) for asset, v in assets.items()} for a, assets in raw.items()}}


def _books(audit: dict[str, Any], copies: list[Copy]) -> dict[str, Any] | None:
    """The books after the run: every copy's resting orders (nothing of a later copy touches an
    earlier copy's orders), taken when the last copy's books were."""
    if not isinstance(books := audit.get("books"), dict):
        return books
    out: dict[str, dict[str, list[Any]]] = {}
    for copy in copies:
        for symbol, book in copy.rename(books.get("books") or {}).items():
            for side, orders in book.items():
                out.setdefault(symbol, {}).setdefault(side, []).extend(orders)
    taken = books.get("time")
    return {**books, "time": None if taken is None else taken + copies[-1].shift, "books": out}


def _close_out(journal: list[dict[str, Any]], customers: frozenset[str]) -> list[dict[str, Any]]:
    """Two records that end the source run's risk for good: every customer's UM position sold to
    the insurance account at the symbol's last trade price, then every customer left at a raised
    risk level moved back to NORMAL (no position: nothing to price). Each copy ends with them, so
    that a copy's accounts are not judged on a later copy's prices with nobody managing them
    (copies share the one price path; a real run's accounts end with its platform)."""
    held: dict[tuple[str, str], Decimal] = {}
    last_price: dict[str, str] = {}
    levels: dict[str, str] = {}
    wallets: dict[str, dict[str, int]] = {}
    for record in journal:
        for e in record.get("events", []):
            if e.get("type") == "trade" and e.get("market") == "um":
                qty, buy = Decimal(e["qty"]), e.get("taker_side") == "BUY"
                for acct, sign in ((e["taker_account"], 1 if buy else -1), (e["maker_account"], -1 if buy else 1)):
                    held[acct, e["symbol"]] = held.get((acct, e["symbol"]), Decimal(0)) + sign * qty
                last_price[e["symbol"]] = e["price"]
            elif e.get("type") == "liquidation" and e.get("closed") is not None:
                for c in e["closed"]:
                    held[e["account"], c["symbol"]] = Decimal(0)
            if e.get("type") == "risk_level" or (e.get("type") == "liquidation" and e.get("closed") is not None):
                levels[e["account"]] = e.get("to", "NORMAL")
        for leg in record.get("legs", []):
            if leg["account"].startswith("cust:") and leg["account"].endswith(":um"):
                name = leg["account"][5:-3]
                wallets.setdefault(name, {})[leg["asset"]] = wallets.get(name, {}).get(leg["asset"], 0) - leg["amount"]
    last = journal[-1]
    trades = [{"type": "trade", "trade_id": f"close-{acct}-{symbol}", "symbol": symbol, "market": "um",
               "price": last_price[symbol], "qty": str(abs(qty)), "maker_order_id": "", "taker_order_id": "",
               "maker_account": "insurance", "taker_account": acct, "taker_side": "SELL" if qty > 0 else "BUY"}
              for (acct, symbol), qty in sorted(held.items()) if qty and acct in customers]
    moves = [{"type": "risk_level", "account": acct, "from": level, "to": "NORMAL", "time": last["time"] + 0.002,
              "positions": [], "prices": [],
              "wallet": {a: str(Decimal(v) / SCALE[a]) for a, v in wallets.get(acct, {}).items()}}
             for acct, level in sorted(levels.items()) if level != "NORMAL" and acct in customers]
    base = {"epoch": last.get("epoch", 1), "node": last.get("node"), "writer": last.get("writer", ""), "legs": []}
    return [{**base, "seq": last["seq"] + 1, "time": last["time"] + 0.001, "client_id": "close-out-positions",
             "kind": "order", "events": trades},
            {**base, "seq": last["seq"] + 2, "time": last["time"] + 0.002, "client_id": "close-out-levels",
             "kind": "risk_level", "events": moves}]


def _op(op: dict[str, Any], copy: Copy, attempts: int) -> dict[str, Any]:
    """A history op of the source run as this copy holds it. A probe stays a probe (``probe.N~k``);
    a copy's steady-state probes are later attempts than the copy before's: the runner's last
    after-recovery probe is the last copy's, as in the source run."""
    value = copy.rename(op["value"])
    if op["f"] == "fault" and "id" in value:
        value["id"] = f"{value['id']}{SUFFIX}{copy.k}"  # each copy's faults are its own
    if isinstance(value.get("attempt"), int):
        value["attempt"] += copy.k * attempts
    process = op["process"]
    if process not in ("runner", "nemesis", "market"):
        process = f"{process}{'.0' if process == 'probe' else ''}{SUFFIX}{copy.k}"
    return {**op, "process": process, "time": op["time"] + copy.shift, "mono": op["mono"] + copy.shift, "value": value}


def synthesize(run_dir: Path, ops_wanted: int, out: Path) -> dict[str, Any]:
    """Write history.jsonl, audit.json and journal.jsonl of at least ``ops_wanted`` ops into
    ``out``; return their shape."""
    base = [json.loads(line) for line in (run_dir / "history.jsonl").open()]
    audit = json.loads((run_dir / "audit.json").read_text())
    span = max(op["time"] for op in base) - min(op["time"] for op in base) + 1.0
    customers = _customers(base, audit)
    copies = [Copy(k, k * span, customers) for k in range(-(-ops_wanted // len(base)))]
    attempts = max((op["value"].get("attempt", 0) for op in base if isinstance(op["value"].get("attempt"), int)), default=0)
    journal, halts, samples = [], [], []
    source = sorted(audit["journal"], key=lambda r: r["seq"])
    source += _close_out(source, customers)
    seq_step = max((r["seq"] for r in source), default=0)
    n = 0
    with (out / "history.jsonl").open("w") as fh:
        for copy in copies:  # whole copies only: a copy cut short would end with a fault never healed
            for op in base:
                fh.write(json.dumps({**_op(op, copy, attempts), "index": n}, separators=(",", ":")) + "\n")
                n += 1
            journal += [{**copy.rename(r), "seq": r["seq"] + copy.k * seq_step} for r in source]
            halts += [copy.rename(h) for h in audit.get("halts") or []]
            # a later copy's samples do not hold the earlier copies' accounts: judged on their own figures
            samples += [{**copy.rename(s), "balances": copy.balances(s["balances"]),
                         **({"last_seq": None} if copy.k else {})} for s in audit.get("balance_samples") or []]
    # risk-level moves and liquidations are not stored: like collect_audit, the checks' process derives
    # them from the journal (they share its strings, as in a real run). The final balances are the
    # legs of the whole synthetic journal, as the ledger would report them.
    big = {**{k: v for k, v in audit.items() if k not in FLATTENED_VIEWS and k != "journal"}, "halts": halts,
           "balance_samples": samples, "balances": _balances(journal), "books": _books(audit, copies)}
    (out / "audit.json").write_text(json.dumps(big))
    with (out / "journal.jsonl").open("w") as lines:  # as the ledger streams it (?format=jsonl)
        lines.write(json.dumps({"node": audit.get("journal_node"), "epoch": 1}) + "\n")
        for record in journal:
            lines.write(json.dumps(record, separators=(",", ":")) + "\n")
    return {"ops": n, "copies": len(copies), "journal_records": len(journal), "halts": len(halts)}


def _run_checks(folder: Path) -> None:
    """In a fresh process: read as a run reads, run every check, print timings and peak RSS as
    one JSON line."""
    from harness.checks import CHECK_NAMES, check_fn, run_checks
    from harness.collect import flatten, read_journal
    from harness.history import CHUNK_BYTES, line_blocks, no_cyclic_gc, read_ops
    from harness.recorder import merge

    for name in CHECK_NAMES:  # imported before the clock starts, as when all were imported at once
        check_fn(name)
    t0 = time.perf_counter()
    with no_cyclic_gc(), (folder / "journal.jsonl").open("rb") as journal:
        audit = orjson.loads((folder / "audit.json").read_bytes())
        # as collect_audit reads the ledger's stream: header line first, then the records
        audit["journal"] = read_journal(line_blocks(iter(lambda: journal.read(CHUNK_BYTES), b"")))
        audit.update(flatten(audit["journal"]))  # risk-level moves, liquidations: as collect_audit derives them
    history = merge(read_ops(folder / "history.jsonl"))  # as the runner reads the load's history file
    t1 = time.perf_counter()
    per_check = {}
    results = []
    for name in CHECK_NAMES:
        start = time.perf_counter()
        results += run_checks([name], history, audit)
        per_check[name] = round(time.perf_counter() - start, 3)
    t2 = time.perf_counter()
    rss_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux
    print(json.dumps({"risk_levels": len(audit["risk_levels"]), "load_s": round(t1 - t0, 2), "checks_s": round(t2 - t1, 2), "per_check_s": per_check,
                      "peak_rss_gib": round(rss_gib, 3), "verdicts": {r.name: r.status for r in results}}))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("run_dir", type=Path, nargs="?")
    parser.add_argument("--ops", type=int, default=1_000_000)
    parser.add_argument("--inner", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inner:
        _run_checks(args.inner)
        return
    if args.run_dir is None or not (args.run_dir / "history.jsonl").is_file():
        raise SystemExit("give a run folder (reports/<run>/ with history.jsonl and audit.json)")
    with tempfile.TemporaryDirectory(prefix="umchaos-bench-checks-") as tmp:
        shape = synthesize(args.run_dir, args.ops, Path(tmp))
        load_before = os.getloadavg()
        proc = subprocess.run([sys.executable, __file__, "--inner", tmp], capture_output=True, text=True, timeout=900,
                              cwd=Path(__file__).parent.parent)
        if proc.returncode != 0:
            raise SystemExit(f"checks process failed: {proc.stderr[-2000:]}")
        figures = json.loads(proc.stdout.strip().splitlines()[-1])
    total = figures["load_s"] + figures["checks_s"]
    result = {"bench": "checks", "source_run": str(args.run_dir), **shape, **figures, "total_s": round(total, 2),
              "target_s": TARGET_S, "target_gib": TARGET_GIB, "time_ratio_to_target": round(total / TARGET_S, 3),
              "rss_ratio_to_target": round(figures["peak_rss_gib"] / TARGET_GIB, 3),
              "loadavg_1m": round(load_before[0], 2), "loadavg_5m": round(load_before[1], 2),
              "when": now_utc()}
    write_result("checks.json", result)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
