"""Benchmark: every check over a synthetic 1,000,000-op history, against the targets (20 s, 2 GiB).

The history is a real recorded run (its history.jsonl + audit.json) repeated back to back, each
copy shifted in time and with its client ids, order ids, fault ids and processes renamed, until
it holds the wanted number of ops; the audit is repeated the same way. The journal is written as
the ledger streams it (JSON lines) and read with the collector's own reader; orders and trades
are derived from it as collect_audit derives them. So the shape (mix, faults, halts,
journal) is what a long soak would record. The checks run in a fresh process so its peak RSS is
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
from pathlib import Path
from typing import Any

import orjson

RESULTS = Path(__file__).parent / "results"
FLATTENED_VIEWS = ("orders", "trades", "margin_calls", "liquidations")  # derived views an older audit.json holds
TARGET_S, TARGET_GIB = 20.0, 2.0


def _rename(value: Any, k: int) -> Any:
    if isinstance(value, dict):
        out = {}
        for key, v in value.items():
            if key in ("client_id", "order_id", "maker_order_id", "taker_order_id", "trade_id") and isinstance(v, str):
                out[key] = f"{v}#{k}"
            else:
                out[key] = _rename(v, k)
        return out
    if isinstance(value, list):
        return [_rename(v, k) for v in value]
    return value


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


def synthesize(run_dir: Path, ops_wanted: int, out: Path) -> dict[str, Any]:
    """Write history.jsonl and audit.json of at least ``ops_wanted`` ops into ``out``; return their shape."""
    base = [json.loads(line) for line in (run_dir / "history.jsonl").open()]
    audit = json.loads((run_dir / "audit.json").read_text())
    span = max(op["time"] for op in base) - min(op["time"] for op in base) + 1.0
    copies = -(-ops_wanted // len(base))
    journal, halts, samples = [], [], []
    seq_step = max((r["seq"] for r in audit["journal"]), default=0)
    n = 0
    with (out / "history.jsonl").open("w") as fh:
        for k in range(copies):
            shift = k * span
            for op in base:  # whole copies only: a copy cut short would end with a fault never healed
                op2 = _rename(op, k)
                if op2["f"] == "fault" and "id" in op2["value"]:
                    op2["value"]["id"] = f"{op2['value']['id']}#{k}"  # each copy's faults are its own
                op2["time"] += shift
                op2["mono"] += shift
                if op["process"] not in ("runner", "nemesis"):  # a probe stays a probe: probe.N#k
                    op2["process"] = f"{op['process']}{'.0' if op['process'] == 'probe' else ''}#{k}"
                op2["index"] = n
                fh.write(json.dumps(op2, separators=(",", ":")) + "\n")
                n += 1
            for r in audit["journal"]:
                if k and r["kind"] == "genesis":
                    continue
                journal.append({**_rename(r, k), "time": r["time"] + shift, "seq": r["seq"] + k * seq_step})
            halts += [{**h, "time": h["time"] + shift} for h in audit.get("halts") or []]
            # a later copy's samples do not hold the earlier copies' legs: judged on their own figures
            samples += [{**s, "time": s["time"] + shift, **({"last_seq": None} if k else {})}
                        for s in audit.get("balance_samples") or []]
    # orders, trades, margin calls and liquidations are not stored: like collect_audit, the checks'
    # process derives them from the journal (they share its strings, as in a real run). The final
    # balances are the legs of the whole synthetic journal, as the ledger would report them.
    big = {**{k: v for k, v in audit.items() if k not in FLATTENED_VIEWS}, "journal": journal, "halts": halts,
           "balance_samples": samples, "balances": _balances(journal)}
    big.pop("journal")
    (out / "audit.json").write_text(json.dumps(big))
    with (out / "journal.jsonl").open("w") as lines:  # as the ledger streams it (?format=jsonl)
        lines.write(json.dumps({"node": audit.get("journal_node"), "epoch": 1}) + "\n")
        for record in journal:
            lines.write(json.dumps(record, separators=(",", ":")) + "\n")
    return {"ops": n, "copies": copies, "journal_records": len(journal), "halts": len(halts)}


def _run_checks(folder: Path) -> None:
    """In a fresh process: read as a run reads, run every check, print timings and peak RSS as
    one JSON line."""
    from harness.checks import CHECKS, run_checks
    from harness.collect import flatten, read_journal
    from harness.history import CHUNK_BYTES, line_blocks, no_cyclic_gc, read_ops
    from harness.recorder import merge

    t0 = time.perf_counter()
    with no_cyclic_gc(), (folder / "journal.jsonl").open("rb") as journal:
        audit = orjson.loads((folder / "audit.json").read_bytes())
        # as collect_audit reads the ledger's stream: header line first, then the records
        audit["journal"] = read_journal(line_blocks(iter(lambda: journal.read(CHUNK_BYTES), b"")))
        audit.update(flatten(audit["journal"]))  # margin calls, liquidations: as collect_audit derives them
    history = merge(read_ops(folder / "history.jsonl"))  # as the runner reads the load's history file
    t1 = time.perf_counter()
    per_check = {}
    results = []
    for name in CHECKS:
        start = time.perf_counter()
        results += run_checks([name], history, audit)
        per_check[name] = round(time.perf_counter() - start, 3)
    t2 = time.perf_counter()
    rss_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux
    print(json.dumps({"margin_calls": len(audit["margin_calls"]), "load_s": round(t1 - t0, 2), "checks_s": round(t2 - t1, 2), "per_check_s": per_check,
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
        load_before = os.getloadavg()[0]
        proc = subprocess.run([sys.executable, __file__, "--inner", tmp], capture_output=True, text=True, timeout=900,
                              cwd=Path(__file__).parent.parent)
        if proc.returncode != 0:
            raise SystemExit(f"checks process failed: {proc.stderr[-2000:]}")
        figures = json.loads(proc.stdout.strip().splitlines()[-1])
    total = figures["load_s"] + figures["checks_s"]
    result = {"bench": "checks", "source_run": str(args.run_dir), **shape, **figures, "total_s": round(total, 2),
              "target_s": TARGET_S, "target_gib": TARGET_GIB, "time_ratio_to_target": round(total / TARGET_S, 3),
              "rss_ratio_to_target": round(figures["peak_rss_gib"] / TARGET_GIB, 3),
              "loadavg_1m": round(load_before, 2), "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "checks.json").write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
