"""Benchmark: UM order throughput and latency through the umref gateway, next to a trivial
endpoint (GET /health) of the same server stack measured in the same run, plus the time from
``up`` to a healthy topology.

    python bench/bench_umref.py [--clients 50] [--seconds 10]

Writes bench/results/umref.json and prints a table. Not a test: figures, not assertions.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from targets.umref.launcher import Topology, plan

RESULTS = Path(__file__).parent / "results"
SCRIPT = Path(__file__).with_name("wrk_json.lua")


def wrk(url: str, *, clients: int, seconds: float, keys: list[str] | None = None, rate: float | None = None) -> dict[str, Any]:
    """Drive ``url`` with wrk (C, off the Python stack) and read its JSON summary line.

    Without ``rate`` every connection sends as fast as answers come (saturation, closed loop);
    with it, requests leave on a fixed timetable of ``rate`` per second (open loop)."""
    threads = 2
    env = {**os.environ, "WRK_KEYS": ",".join(keys or []), "WRK_THREADS": str(threads)}
    if rate:
        env["WRK_RATE"] = f"{rate:.3f}"
    proc = subprocess.run(["wrk", "-t", str(threads), "-c", str(clients), "-d", f"{seconds:.0f}s", "--latency", "-s", str(SCRIPT), url],
                          capture_output=True, text=True, env=env, timeout=seconds + 60)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("WRK_JSON ")), None)
    if line is None:
        raise SystemExit(f"wrk gave no summary: {proc.stdout[-500:]} {proc.stderr[-500:]}")
    raw = json.loads(line.removeprefix("WRK_JSON "))
    ok = raw["requests"] - raw["errors"]
    return {"ok_per_s": round(ok / raw["seconds"], 1), "p50_ms": round(raw["p50_ms"], 2), "p99_ms": round(raw["p99_ms"], 2),
            "requests": raw["requests"], "errors": raw["errors"], "seconds": raw["seconds"]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--paced-rate", type=float, default=1050.0,
                        help="offered orders/s of the second order run (a fixed timetable; 5 %% above the 1,000/s "
                             "wanted, so that start-up and the last partial second do not pull it under)")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed for this benchmark (Debian: apt-get install wrk)")
    with tempfile.TemporaryDirectory(prefix="umref-bench-") as tmp:
        topology = Topology(plan(Path(tmp), price_seed=3))
        ready_s = topology.start(bootstrap=False)  # time from `up` to every service healthy
        try:
            gateway = topology.config.url("gateway")
            keys = [a.api_key for a in topology.config.accounts if a.role == "trader"]
            wrk(gateway + "/health", clients=args.clients, seconds=2)  # warm up connections and caches
            figures: dict[str, Any] = {
                "baseline_health": wrk(gateway + "/health", clients=args.clients, seconds=args.seconds),
                "um_orders": wrk(gateway + "/um/order", clients=args.clients, seconds=args.seconds, keys=keys),
                "um_orders_paced": wrk(gateway + "/um/order", clients=args.clients, seconds=args.seconds,
                                       keys=keys, rate=args.paced_rate),
            }
        finally:
            topology.stop()
    figures["ready_s"] = round(ready_s, 3)
    figures["clients"] = args.clients
    figures["orders_vs_baseline"] = round(figures["um_orders"]["ok_per_s"] / figures["baseline_health"]["ok_per_s"], 3)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "umref.json").write_text(json.dumps(figures, indent=1))
    b, o = figures["baseline_health"], figures["um_orders"]
    print(f"topology healthy after up: {figures['ready_s']} s")
    print(f"{'endpoint':<22}{'ok/s':>10}{'p50 ms':>10}{'p99 ms':>10}")
    print(f"{'GET /health':<22}{b['ok_per_s']:>10}{b['p50_ms']:>10}{b['p99_ms']:>10}")
    print(f"{'POST /um/order':<22}{o['ok_per_s']:>10}{o['p50_ms']:>10}{o['p99_ms']:>10}")
    r = figures["um_orders_paced"]
    print(f"{'  paced (think time)':<22}{r['ok_per_s']:>10}{r['p50_ms']:>10}{r['p99_ms']:>10}")
    print(f"orders / baseline: {figures['orders_vs_baseline']}  refused or failed orders: {o['errors']} of {o['requests']}")


if __name__ == "__main__":
    main()
