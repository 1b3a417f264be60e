"""Coordinator (region B): detects the loss of region A's primary and promotes region B's stack.

Polls ``ledger-a /state`` every 200 ms; once it has answered, 5 failures in a row (1 s) ask the
witness (region C) for epoch + 1. The witness grants it only when the primary's lease ran out
and ``ledger-b`` has everything acknowledged, so a partition between A and B promotes nobody
while A still trades. Granted, ``ledger-b`` and then ``matching-b`` (which rebuilds its books
from the journal) are promoted at that epoch. When the old primary answers again it is demoted
to standby (its unreplicated tail dropped) and the new primary replicates to it again. Its
decisions are kept in ``coordinator.json`` so that a restarted coordinator does not forget an
epoch. The ``no_witness`` defect promotes on the loss of contact alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from pathlib import Path
from typing import Any

from aiohttp import web

from targets.umref.config import ServiceConfig
from targets.umref.service import Clock, Peer, PeerTimeout, PeerUnavailable, json_response, make_app
from targets.umref.services import switched_off

__all__ = ["build"]

log = logging.getLogger("umref.coordinator")
POLL_S = 0.2
FAILURES_TO_PROMOTE = 5


class Coordinator:
    def __init__(self, cfg: ServiceConfig, clock: Clock) -> None:
        self.clock = clock
        self.path = Path(cfg.data_dir) / "coordinator.json"
        self.cfg = cfg
        self.nodes = {name: Peer(cfg.peers[name], timeout_s=0.5) for name in ("ledger-a", "ledger-b")}
        self.witness = Peer(cfg.peers["witness"], timeout_s=0.5)
        self.matching = Peer(cfg.peers["matching"], timeout_s=20.0)  # region B's: it rebuilds on promotion
        saved = json.loads(self.path.read_text()) if self.path.exists() else {}
        self.primary: str = saved.get("primary", "ledger-a")
        self.epoch: int = saved.get("epoch", 1)
        self.failovers: list[dict[str, Any]] = saved.get("failovers", [])
        self.keep_through_seq: int | None = saved.get("keep_through_seq")
        self.failures = 0
        # A fresh coordinator counts no failure before ledger-a first answers: a primary still
        # starting (slow containers) is not a primary lost. One restarted from its decisions
        # (saved only at a failover) counts at once.
        self.primary_seen = bool(saved)
        self._task: asyncio.Task[None] | None = None

    def save(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"primary": self.primary, "epoch": self.epoch, "failovers": self.failovers,
                                   "keep_through_seq": self.keep_through_seq}))
        tmp.replace(self.path)

    async def start(self, _: web.Application) -> None:
        self._task = asyncio.create_task(self._watch())

    async def stop(self, _: web.Application) -> None:
        if self._task:
            self._task.cancel()
        for peer in (*self.nodes.values(), self.witness, self.matching):
            await peer.close()

    async def _state(self, node: str) -> dict[str, Any] | None:
        try:
            status, body = await self.nodes[node].get("/state")
        except (PeerUnavailable, PeerTimeout):
            return None
        return body if status == 200 and isinstance(body, dict) else None

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(POLL_S)
            with contextlib.suppress(PeerUnavailable, PeerTimeout, KeyError, TypeError, ValueError):
                await self.step()

    async def step(self) -> None:
        if self.primary == "ledger-a":
            state = await self._state("ledger-a")
            self.primary_seen = self.primary_seen or state is not None
            self.failures = 0 if state is not None or not self.primary_seen else self.failures + 1
            if self.failures >= FAILURES_TO_PROMOTE and await self.granted("ledger-b"):
                await self.promote("ledger-b")
            return
        old = await self._state("ledger-a")  # after a failover: bring the old primary back as standby
        if old is None:
            return
        if old["role"] != "standby" or old["epoch"] < self.epoch:
            status, old = await self.nodes["ledger-a"].post("/demote", {"epoch": self.epoch, "keep_through_seq": self.keep_through_seq})
            if status != 200:
                return
        new = await self._state("ledger-b")
        if new is not None and new.get("solo"):  # the new primary replicates to its standby again
            await self.nodes["ledger-b"].post("/resync", {"last_seq": old["last_seq"]})
            log.warning("ledger-a rejoined as standby at epoch %d", self.epoch)

    async def granted(self, node: str) -> bool:
        if self.cfg.has_bug("no_witness"):
            return True
        status, body = await self.witness.post("/claim", {"node": node, "epoch": self.epoch + 1})
        if status != 200 and self.failures == FAILURES_TO_PROMOTE:  # said once per loss, not every poll
            log.warning("witness refused %s epoch %d: %s", node, self.epoch + 1, (body or {}).get("error"))
        return status == 200

    async def promote(self, node: str) -> None:
        status, body = await self.nodes[node].post("/promote", {"epoch": self.epoch + 1})
        if status != 200:
            return
        previous, self.primary, self.epoch = self.primary, node, int(body["epoch"])
        self.keep_through_seq = int(body["last_seq"])
        self.failovers.append({"time": self.clock.now(), "from": previous, "to": node, "epoch": self.epoch,
                               "keep_through_seq": self.keep_through_seq})
        self.save()
        log.warning("failover: %s promoted at epoch %d (through seq %d)", node, self.epoch, self.keep_through_seq)
        await self.promote_matching()

    async def promote_matching(self) -> None:
        """Region B's matching engine takes over at the new epoch (bounded: it may still be starting)."""
        for _ in range(50):
            with contextlib.suppress(PeerUnavailable, PeerTimeout):
                status, _ = await self.matching.post("/promote", {"epoch": self.epoch})
                if status == 200:
                    self.failovers[-1]["matching_active"] = self.clock.now()
                    self.save()
                    return
            await asyncio.sleep(0.2)


async def build(cfg: ServiceConfig) -> web.Application:
    app = make_app(cfg)
    coord = Coordinator(cfg, app["clock"])
    app.on_startup.append(coord.start)
    app.on_cleanup.append(coord.stop)

    async def primary(_: web.Request) -> web.Response:
        return json_response({"primary": coord.primary, "epoch": coord.epoch, "keep_through_seq": coord.keep_through_seq})

    async def replication(_: web.Request) -> web.Response:
        nodes = {name: await coord._state(name) for name in coord.nodes}
        return json_response({"epoch": coord.epoch, "primary": coord.primary, "failovers": coord.failovers, "nodes": nodes})

    app.router.add_get("/primary", primary)
    app.router.add_get("/audit/replication", replication)
    return switched_off(app, cfg)
