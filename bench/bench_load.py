"""Benchmarks 1 and 2, side by side in one run against one umref stack on this machine.

1. Load generation: the harness's own Locust workload (UmTrader, UM orders only, no think time,
   every request recorded as invoke + completion ops) with 2 Locust workers, next to wrk on the
   same gateway endpoint (POST /um/order) with the same number of connections. Target: Locust
   reaches at least 40 % of wrk's requests/s.
2. The exchange: wrk UM orders directly to the stack, next to the same orders through Toxiproxy
   on every link an order crosses (client->gateway, gateway->auth, gateway->matching,
   matching->margin, matching->ledger-a, ledger-a->ledger-b), offered 1,050 orders/s on a fixed
   timetable (open loop: a slow answer does not lower the offered rate) and at saturation.
   Target: >= 1,000 orders/s and p99 < 50 ms through the proxies.

    python bench/bench_load.py [--clients 50] [--seconds 10]

Writes bench/results/load.json with the 1-minute load average beside each figure.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_umref import wrk  # noqa: E402
from bench.record import loadavg, now_utc, write_result  # noqa: E402
from harness.backends.go_tools import toxiproxy_server_path  # noqa: E402
from harness.faults.network import ProxyNet, ToxiproxyServer  # noqa: E402
from harness.load.locust_process import LoadSpec, start_load  # noqa: E402
from targets.umref.launcher import Topology, plan  # noqa: E402

ORDER_LINKS = ("gateway->auth", "gateway->matching", "matching->margin", "matching->ledger-a", "ledger-a->ledger-b")


def locust_orders(gateway: str, accounts: list[dict[str, Any]], *, users: int, seconds: float, workers: int,
                  tmp: Path) -> dict[str, Any]:
    """The harness's workload through its own runner; figures from the recorded ops."""
    accounts_file = tmp / "accounts.json"
    accounts_file.write_text(json.dumps({"gateway": gateway, "front": [{"service": "gateway", "url": gateway}],
                                         "accounts": accounts}))
    out = tmp / f"locust-{workers}"
    out.mkdir()
    spec = LoadSpec(users=users, spawn_rate=users, mix={"um_order": 1}, duration_s=seconds, workers=workers,
                    think_s=(0.0, 0.0))
    load = start_load(spec, accounts_file=accounts_file, history_file=out / "history.jsonl", run_id="bench",
                      out_dir=out, start_mono=time.monotonic())
    try:
        load.wait_first_op(timeout=60)
        load.wait(timeout=seconds + 30)
    finally:
        load.stop()
    done = [op for op in load.read_ops() if op.type != "invoke" and op.f == "um_order"]
    if not done:
        raise SystemExit(f"Locust recorded no order (see {load.log})")
    # count the middle of the run: spawn-up and shutdown are not the steady rate
    t0, t1 = done[0].time, done[-1].time
    mid = [op for op in done if t0 + 1.0 <= op.time <= t1 - 0.5]
    lat = sorted(op.latency_ms or 0.0 for op in mid)
    ok = sum(op.type == "ok" for op in mid)
    span = max(1e-3, (t1 - 0.5) - (t0 + 1.0))
    return {"req_per_s": round(len(mid) / span, 1), "ok_per_s": round(ok / span, 1),
            "p50_ms": lat[len(lat) // 2], "p99_ms": lat[max(0, int(0.99 * len(lat)) - 1)],
            "requests": len(mid), "seconds": round(span, 2), "workers": workers, "users": users}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--paced-rate", type=float, default=1050.0, help="offered orders/s of the paced runs (open loop)")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed for this benchmark (Debian: apt-get install wrk)")
    figures: dict[str, Any] = {"clients": args.clients, "seconds": args.seconds}
    with tempfile.TemporaryDirectory(prefix="umchaos-bench-load-") as tmp_name:
        tmp = Path(tmp_name)
        # --- direct stack: wrk vs Locust (bench 1), wrk orders direct (bench 2, left side)
        topo = Topology(plan(tmp / "direct", price_seed=3))
        topo.start()
        try:
            addresses = topo.addresses()
            gateway = addresses["gateway"]
            traders = [a for a in addresses["accounts"] if a["role"] == "trader"]
            keys = [a["api_key"] for a in traders]
            wrk(gateway + "/um/order", clients=args.clients, seconds=2, keys=keys)  # warm up
            figures["wrk_orders"] = {**wrk(gateway + "/um/order", clients=args.clients, seconds=args.seconds, keys=keys),
                                     "loadavg": loadavg()}
            figures["locust_2_workers"] = {**locust_orders(gateway, traders, users=args.clients, seconds=args.seconds,
                                                           workers=2, tmp=tmp), "loadavg": loadavg()}
            figures["direct_paced"] = {**wrk(gateway + "/um/order", clients=args.clients, seconds=args.seconds,
                                             keys=keys, rate=args.paced_rate), "loadavg": loadavg()}
        finally:
            topo.stop()
        # --- the same stack with every order link and the client link through Toxiproxy
        with ToxiproxyServer(toxiproxy_server_path(), run_id="benchload", log_path=tmp / "toxiproxy.log") as server:
            net = ProxyNet(server.url, run_id="benchload")
            config = plan(tmp / "proxied", price_seed=3)
            links = {}
            for link in ORDER_LINKS:
                links[link] = "http://" + net.create_proxy(link, f"{config.host}:{config.ports[link.split('->')[1]]}").listen
            topo = Topology(config.with_(links=links))
            topo.start()
            try:
                front = net.create_proxy("client->gateway", f"{config.host}:{config.ports['gateway']}").listen
                gateway = "http://" + front
                keys = [a["api_key"] for a in topo.addresses()["accounts"] if a["role"] == "trader"]
                wrk(gateway + "/um/order", clients=args.clients, seconds=2, keys=keys)
                figures["proxied_saturation"] = {**wrk(gateway + "/um/order", clients=args.clients, seconds=args.seconds,
                                                       keys=keys), "loadavg": loadavg()}
                figures["proxied_paced"] = {**wrk(gateway + "/um/order", clients=args.clients, seconds=args.seconds,
                                                  keys=keys, rate=args.paced_rate), "loadavg": loadavg()}
            finally:
                topo.stop()
    w, lo = figures["wrk_orders"], figures["locust_2_workers"]
    figures["locust_vs_wrk"] = round(lo["req_per_s"] / (w["requests"] / w["seconds"]), 3)
    figures["proxied_vs_direct_saturation"] = round(figures["proxied_saturation"]["ok_per_s"] / w["ok_per_s"], 3)
    figures["proxied_vs_direct_paced"] = round(figures["proxied_paced"]["ok_per_s"] / figures["direct_paced"]["ok_per_s"], 3)
    figures["when"] = now_utc()
    write_result("load.json", figures)
    print(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
