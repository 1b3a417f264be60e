"""Steady-state probe: a few real requests from the harness itself, recorded as ops.

UM orders far below the market (they rest, then are cancelled) and spot orders far from it, so
that the probe measures the system without moving it. A round is one UM order and one spot order,
each with its cancel; the orders run on a few threads at once, each its own history process
(``probe``, ``probe.1``, ...): ten rounds take a tenth of a second, not half, and one round the
time of one order and its cancel.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import requests

from harness.http import target_session
from harness.load.front import Failover
from harness.load.ops import OpWriter
from harness.targets.base import ClientApi

__all__ = ["ProbeClient", "probe", "place_sentinels", "SENTINELS"]


PARALLEL = 4
# A round's two orders: (action, client-id tags of the order and its cancel, far-from-market order)
ORDERS: dict[str, tuple[str, tuple[str, str], dict[str, str]]] = {
    "um": ("um_order", ("o", "c"),
           {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "qty": "0.001", "price": "25000.00"}),
    "spot": ("spot_order", ("s", "x"),
             {"symbol": "BTC/USDT", "side": "BUY", "type": "LIMIT", "qty": "0.00100", "price": "25000.00"}),
}


@dataclass(frozen=True)
class ProbeClient:
    """Who probes where: the gateways it fails over on as the load does (one place on them for
    every probe of the run), the trader it probes as, and the target's client API."""

    front: Failover
    account: str
    api_key: str
    api: ClientApi
    timeout_s: float = 5.0

    def send(self, session: requests.Session, writer: OpWriter, process: str, f: str, body: dict[str, Any]) -> Any:
        """One client action as its two ops; the answer's body when it was a 200."""
        started = writer.invoke(f, process, {**body, "account": self.account, "api_key_valid": True})
        request = self.api.request(f, body, self.api_key)
        status, answer, exc = None, None, None
        at, gateway, url = self.front.pick()
        try:
            resp = session.request(request.method, url + request.path, json=request.json,
                                   headers=dict(request.headers), timeout=self.timeout_s)
            status, answer = self.api.answer(f, resp.status_code, resp.json() if resp.content else None)
        except (requests.RequestException, ValueError) as error:
            exc = error
        code = writer.complete(f, process, started, client_id=body["client_id"], account=self.account, status=status,
                               body=answer, via=gateway, exc=exc)
        self.front.answered(at, status, code)
        return answer if status == 200 else None


def probe(client: ProbeClient, *, count: int, start_mono: float, tag: str = "p") -> list[dict[str, Any]]:
    writer = OpWriter(None, start_mono)
    stamp = f"{tag}{time.time_ns() % 10**12}"

    def lane_of(lane: int) -> None:
        process = "probe" if lane == 0 else f"probe.{lane}"
        with target_session() as session:
            for i, kind in orders[lane::lanes]:
                f, (order_tag, cancel_tag), fields = ORDERS[kind]
                placed = client.send(session, writer, process, f, {"client_id": f"{stamp}-{order_tag}{i}", **fields})
                if placed and placed.get("status") == "NEW":
                    client.send(session, writer, process, "cancel",
                                {"client_id": f"{stamp}-{cancel_tag}{i}", "order_id": placed["order_id"]})

    orders = [(i, kind) for i in range(count) for kind in ORDERS]
    lanes = min(PARALLEL, len(orders))
    with ThreadPoolExecutor(max_workers=lanes, thread_name_prefix="probe") as pool:
        list(pool.map(lane_of, range(lanes)))
    return sorted(writer.kept, key=lambda op: op["mono"])


# Resting orders the harness places before the faults and never cancels: far from the market, so
# nothing fills them, with room to shrink (several quantity steps). Customer load may cancel all of
# its own resting orders during a halt; these rest through every halt and resume whatever the
# load does, so ``resting_orders_preserved`` always has orders to find in the books afterwards.
SENTINELS: tuple[dict[str, str], ...] = tuple(
    {"symbol": symbol, "side": "BUY", "type": "LIMIT", "qty": "0.004", "price": price}
    for symbol, price in (("BTCUSDT", "25000.00"), ("ETHUSDT", "1500.00"), ("BTCUSDC", "25000.00"),
                          ("ETHUSDC", "1500.00")))


def place_sentinels(client: ProbeClient, *, start_mono: float) -> list[dict[str, Any]]:
    """Place the sentinel orders as ``um_order`` ops of the process ``probe.sentinel``."""
    writer = OpWriter(None, start_mono)
    stamp = f"sn{time.time_ns() % 10**12}"
    with target_session() as session:
        for i, order in enumerate(SENTINELS):
            client.send(session, writer, "probe.sentinel", "um_order", {"client_id": f"{stamp}-{i}", **order})
    return writer.kept
