"""Benchmark: UM order throughput and latency through the umref gateway, next to a trivial
endpoint (GET /health) of the same server stack measured in the same run, plus the time from
``up`` to a healthy topology.

    python bench/bench_umref.py [--clients 50] [--seconds 10]

Writes bench/results/umref.json and prints a table. Not a test: figures, not assertions.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import uvloop

from targets.umref.launcher import Topology, plan

RESULTS = Path(__file__).parent / "results"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def hammer(url: str, clients: int, seconds: float, make_request: Any) -> dict[str, Any]:
    """``clients`` concurrent loops for ``seconds``; counts 200s and their latencies."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    deadline = time.monotonic() + seconds
    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector) as session:
        async def loop(worker: int) -> None:
            n = 0
            while time.monotonic() < deadline:
                n += 1
                method, path, body, headers = make_request(worker, n)
                started = time.perf_counter()
                async with session.request(method, url + path, json=body, headers=headers) as resp:
                    await resp.read()
                    statuses[resp.status] = statuses.get(resp.status, 0) + 1
                    if resp.status == 200:
                        latencies.append(1000 * (time.perf_counter() - started))

        began = time.monotonic()
        await asyncio.gather(*(loop(w) for w in range(clients)))
        elapsed = time.monotonic() - began
    return {"ok_per_s": round(len(latencies) / elapsed, 1), "p50_ms": round(percentile(latencies, 0.50), 2),
            "p99_ms": round(percentile(latencies, 0.99), 2), "statuses": statuses, "seconds": round(elapsed, 2)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="umref-bench-") as tmp:
        topology = Topology(plan(Path(tmp), price_seed=3))
        ready_s = topology.start(bootstrap=False)
        try:
            gateway = topology.config.url("gateway")
            traders = [a for a in topology.config.accounts if a.role == "trader"]
            rng = random.Random(3)

            def order(worker: int, n: int) -> tuple[str, str, dict[str, Any], dict[str, str]]:
                account = traders[worker % len(traders)]
                side = "BUY" if (worker + n) % 2 else "SELL"
                price = f"{50000 + rng.randint(-20, 20):.2f}"
                body = {"client_id": f"b{worker}-{n}", "symbol": "BTCUSDT", "side": side, "type": "LIMIT",
                        "qty": "0.001", "price": price}
                return "POST", "/um/order", body, {"X-API-Key": account.api_key}

            def health(worker: int, n: int) -> tuple[str, str, None, dict[str, str]]:
                return "GET", "/health", None, {}

            async def measure() -> dict[str, Any]:
                await hammer(gateway, args.clients, 2.0, health)  # warm up connections and caches
                baseline = await hammer(gateway, args.clients, args.seconds, health)
                orders = await hammer(gateway, args.clients, args.seconds, order)
                return {"baseline_health": baseline, "um_orders": orders}

            figures = uvloop.run(measure())
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
    print(f"orders / baseline: {figures['orders_vs_baseline']}  statuses: {o['statuses']}")


if __name__ == "__main__":
    main()
