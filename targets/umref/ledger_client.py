"""Client of the replicated ledger, used by matching and liquidation.

Concurrent appends are gathered into one ``/append`` call while the previous one is in flight
(micro-batching). The client follows the primary across a failover: on NOT_PRIMARY or an
unreachable node it finds the node that says it is primary and retries there — safe, because a
client id is applied at most once. ``PeerTimeout`` means the outcome is unknown;
``PeerUnavailable`` means the records were definitely not applied; ``Fenced``, a kind of it, that
the writer's epoch is over: another engine holds its role now.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from targets.umref.batching import MicroBatcher
from targets.umref.service import Peer, PeerTimeout, PeerUnavailable

__all__ = ["Fenced", "LedgerClient"]

UNKNOWN_OUTCOME = ("REPLICATION_TIMEOUT", "UPSTREAM_TIMEOUT")


class Fenced(PeerUnavailable):
    """The ledger refused the records: they were written at an epoch older than its own."""


class LedgerClient:
    def __init__(self, nodes: dict[str, str], *, timeout_s: float = 3.0, failover_deadline_s: float = 5.0) -> None:
        self.peers = {name: Peer(url, timeout_s=timeout_s) for name, url in nodes.items()}
        self.primary = next(iter(nodes))
        self.failover_deadline_s = failover_deadline_s
        self._batcher: MicroBatcher[dict[str, Any], dict[str, Any]] = MicroBatcher(self._send)

    async def append(self, record: dict[str, Any]) -> dict[str, Any]:
        return await self._batcher.submit(record)

    async def _send(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        deadline = time.monotonic() + self.failover_deadline_s
        last = "no ledger node tried"
        while time.monotonic() < deadline:
            try:
                status, body = await self.peers[self.primary].post("/append", {"records": records})
            except PeerUnavailable as exc:
                last = str(exc)
                await self._find_primary()
                continue
            code = (body or {}).get("error", {}).get("code") if isinstance(body, dict) else None
            if status == 200:
                return list(body["results"])
            if code in UNKNOWN_OUTCOME or status == 504:
                raise PeerTimeout(f"{self.primary}: {code or status}")
            if code == "FENCED":
                raise Fenced(f"{self.primary}: {body['error'].get('message', code)}")
            if code in ("NOT_PRIMARY",):
                last = f"{self.primary}: NOT_PRIMARY"
                await self._find_primary()
                continue
            raise PeerUnavailable(f"{self.primary}: {code or status}")
        raise PeerUnavailable(f"no primary ledger within {self.failover_deadline_s} s ({last})")

    async def _find_primary(self) -> tuple[int, str] | None:
        """The node that says it is primary at the highest epoch (and, as (epoch, name), which)."""
        best: tuple[int, str] | None = None
        for name, peer in self.peers.items():
            try:
                status, state = await peer.get("/state", timeout_s=0.5)
            except (PeerUnavailable, PeerTimeout):
                continue
            if status == 200 and state.get("role") == "primary":
                if best is None or state["epoch"] > best[0]:
                    best = (int(state["epoch"]), name)
        if best is not None:
            self.primary = best[1]
        else:
            await asyncio.sleep(0.1)
        return best

    async def primary_state(self, deadline_s: float = 5.0) -> tuple[str | None, int]:
        """(name, epoch) of the primary ledger; (None, 0) when none says so within the deadline."""
        until = time.monotonic() + deadline_s
        while (best := await self._find_primary()) is None and time.monotonic() < until:
            pass
        return (best[1], best[0]) if best else (None, 0)

    async def records(self, after: int = 0) -> list[dict[str, Any]]:
        await self._find_primary()
        status, body = await self.peers[self.primary].get(f"/records?after={after}", timeout_s=30.0)
        if status != 200:
            raise PeerUnavailable(f"{self.primary}: /records answered {status}")
        return list(body["records"])

    async def balances(self) -> dict[str, Any]:
        await self._find_primary()
        status, body = await self.peers[self.primary].get("/balances")
        if status != 200:
            raise PeerUnavailable(f"{self.primary}: /balances answered {status}")
        return dict(body)

    async def close(self) -> None:
        for peer in self.peers.values():
            await peer.close()
