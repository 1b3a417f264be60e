"""The Chaos Toolkit side's target, brought up the way its user would: a program of their own.

Chaos Toolkit starts no target; its user runs one before ``chaos run`` and stops it after. This
starts a real toxiproxy-server, umref with matching->margin through a proxy on it (the code
umchaos's local backend uses), prints one JSON line once UM is ready (gateway, a trader's API
key, the Toxiproxy API and the proxy's name), and stops everything on SIGTERM. A process of its
own, so that both sides of bench 3 are timed from a cold start, as their users run them.

    python bench/ctk/target.py DATA_DIR
"""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from harness.backends.go_tools import toxiproxy_server_path  # noqa: E402
from harness.faults.network import ProxyNet, ToxiproxyServer  # noqa: E402
from targets.umref.launcher import Topology, plan  # noqa: E402

LINK = "matching->margin"


def main(data_dir: Path) -> None:
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    with ToxiproxyServer(toxiproxy_server_path(), run_id="benchctk", log_path=data_dir / "toxiproxy.log") as server:
        net = ProxyNet(server.url, run_id="benchctk")
        config = plan(data_dir / "target", price_seed=1)
        proxy = net.create_proxy(LINK, f"{config.host}:{config.ports['margin']}")
        topology = Topology(config.with_(links={LINK: f"http://{proxy.listen}"}))
        topology.start()
        try:
            topology.wait_calm(deadline=time.monotonic() + 30)
            key = next(a.api_key for a in config.accounts if a.role == "trader")
            print(json.dumps({"gateway": config.url("gateway"), "api_key": key, "toxiproxy": server.url,
                              "proxy": net.proxy_name(LINK)}), flush=True)
            stop.wait()
        finally:
            topology.stop()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
