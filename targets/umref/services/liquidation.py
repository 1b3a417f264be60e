"""Liquidation: the risk engine. Watches every account's uniMMR and moves it between the venue's
risk levels (NORMAL, MARGIN_CALL, REDUCE_ONLY, FORCE_LIQUIDATION), and liquidates.

Each cycle it reads, from its matching engine, every account with a position or a raised level,
with the level matching holds for it; asks margin to evaluate each; and where the evaluation's
level differs, the account becomes a *candidate* for that move. A candidate is acted on — not
while UM is halted, and only on an evaluation whose prices are fresh (within the staleness bound)
and newer than the last resume; a stale one is dropped and the account evaluated again — by
handing the evaluation to matching, which journals the move with every input it was decided on
(so that the harness can recompute it) and enforces the level: reduce-only refuses any order
that adds exposure, forced liquidation first cancels the account's open orders. An account in
FORCE_LIQUIDATION is liquidated on its first fresh evaluation, after its grace (its
cancelled orders settle, the position is queued to the liquidation desk), still at or below 1.05;
one that recovered above it by then moves to its new level instead (the liquidation is
cancelled). A liquidation once started is one journal record: it completes or never happened.

Accounts are evaluated concurrently, so that a cycle stays short with many accounts: a due
account is acted on within a cycle or two of margin seeing the breaching price, well inside
the budget's ``act_within_ms``.

It works for its own region's matching engine, and only while that one is active: region B's
idles until its stack is promoted. Matching stamps the journal records with its epoch.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from aiohttp import web

from targets.umref.config import ServiceConfig
from targets.umref.margin_model import RISK_LEVELS
from targets.umref.service import Clock, Peer, PeerTimeout, PeerUnavailable, json_response, make_app

__all__ = ["build"]

log = logging.getLogger("umref.liquidation")
CYCLE_S = 0.2
EVALUATIONS_AT_ONCE = 8
LATE_S = 5.0  # the late_liquidation defect: how long an account due a graver level waits


class Liquidation:
    def __init__(self, cfg: ServiceConfig, clock: Clock) -> None:
        self.cfg = cfg
        self.clock = clock
        self.margin = Peer(cfg.peers["margin"], timeout_s=2.0)
        self.matching = Peer(cfg.peers["matching"], timeout_s=2.0)
        self.candidates: dict[str, tuple[str, dict[str, Any]]] = {}  # account -> (its level, the evaluation moving it)
        self.due_since: dict[str, float] = {}  # account -> when it was first seen due a graver level
        self.forced_at: dict[str, float] = {}  # account -> when this engine first knew it in FORCE_LIQUIDATION
        self.actions = 0
        self._task: asyncio.Task[None] | None = None

    async def start(self, _: web.Application) -> None:
        self._task = asyncio.create_task(self._loop())

    async def stop(self, _: web.Application) -> None:
        if self._task:
            self._task.cancel()
        for peer in (self.margin, self.matching):
            await peer.close()

    async def _loop(self) -> None:
        while True:
            with contextlib.suppress(PeerUnavailable, PeerTimeout):
                await self.cycle()
            await asyncio.sleep(CYCLE_S)

    async def cycle(self) -> None:
        status, state = await self.matching.get("/state")
        if status != 200 or not state.get("active", True):
            return
        resumed_at = state.get("resumed_at")
        status, body = await self.matching.get("/internal/accounts")
        if status != 200:
            return
        limit = asyncio.Semaphore(EVALUATIONS_AT_ONCE)

        async def evaluate(view: dict[str, Any]) -> None:
            async with limit:
                await self.evaluate(view, resumed_at)

        await asyncio.gather(*(evaluate(view) for view in body["accounts"]))
        if not (ready := [account for account in self.candidates if not self.waits(account, resumed_at)]):
            return
        # Re-read the halt right before acting: evaluating every account takes time, and UM may
        # have halted since the cycle began.
        status, state = await self.matching.get("/state")
        if status != 200 or (state["halted"] and not self.cfg.has_bug("margin_call_during_halt")):
            return  # paused while UM is halted: candidates wait
        # All candidates at once: their journal writes share the ledger's group commits, so a
        # slow disk delays the last action of a cycle by one commit, not by one per candidate.
        due = [self.candidates.pop(account) for account in ready]
        outcomes = await asyncio.gather(*(self.act(level, evaluation, state.get("resumed_at")) for level, evaluation in due),
                                        return_exceptions=True)
        if errors := [o for o in outcomes if isinstance(o, BaseException)]:
            raise errors[0]

    async def evaluate(self, view: dict[str, Any], resumed_at: float | None) -> None:
        request = {"account": view["account"], "wallet": view["wallet"], "positions": view["positions"],
                   "min_price_time": resumed_at}
        status, evaluation = await self.margin.post("/evaluate", request)
        if status != 200 or evaluation["state"] not in RISK_LEVELS:
            return  # state "unknown" (no usable price): no decision either way
        account, level = view["account"], view.get("risk_level", "NORMAL")
        if level != "FORCE_LIQUIDATION":
            self.forced_at.pop(account, None)
        if evaluation["state"] == level and (level != "FORCE_LIQUIDATION" or self.in_grace(account)):
            self.candidates.pop(account, None)
            self.due_since.pop(account, None)
            return
        if RISK_LEVELS.index(evaluation["state"]) > RISK_LEVELS.index(level):
            self.due_since.setdefault(account, self.clock.now())
        else:
            self.due_since.pop(account, None)
        if self.cfg.has_bug("stale_margin_call") and account in self.candidates:
            return  # the bug: a queued action keeps the evaluation it was queued with, however old
        self.candidates[account] = (level, evaluation)

    def in_grace(self, account: str) -> bool:
        """An account moved to FORCE_LIQUIDATION less than the grace (``liquidation_grace_ms``)
        ago is not yet liquidated: a recovery meanwhile cancels it."""
        grace_s = self.cfg.liquidation_grace_ms / 1000
        return self.clock.now() - self.forced_at.setdefault(account, self.clock.now()) < grace_s

    def waits(self, account: str, resumed_at: float | None) -> bool:
        """The ``late_liquidation`` defect: an account due a graver level is left alone for
        seconds after the engine could first act on it (it became due, or UM resumed after it did:
        a backlog worked through in order, say); its evaluation and prices stay honest."""
        if not self.cfg.has_bug("late_liquidation") or account not in self.due_since:
            return False
        return self.clock.now() - max(self.due_since[account], resumed_at or 0.0) < LATE_S

    def fresh(self, evaluation: dict[str, Any], resumed_at: float | None) -> bool:
        """Every price used is within the staleness bound and newer than the last resume."""
        if self.cfg.has_bug("stale_margin_call"):
            return True  # the bug: acts on whatever evaluation it has, however old
        now = self.clock.now()
        oldest = min((p["time"] for p in evaluation.get("prices", [])), default=None)
        if oldest is None:
            return not evaluation.get("positions")  # no position: no price needed to say NORMAL
        return now - oldest <= self.cfg.risk.staleness_ms / 1000 and (resumed_at is None or oldest >= resumed_at)

    async def act(self, level: str, evaluation: dict[str, Any], resumed_at: float | None) -> None:
        if not self.fresh(evaluation, resumed_at):
            return  # dropped; the next cycle evaluates again with fresh prices
        account, to = evaluation["account"], evaluation["state"]
        client_id = f"risk-{account}-{evaluation['time']:.6f}"
        if level == to == "FORCE_LIQUIDATION":
            path, body = "/internal/liquidate", {"client_id": client_id, "evaluation": evaluation}
        else:
            path, body = "/internal/risk_level", {"client_id": client_id, "evaluation": evaluation, "from": level}
        status, _ = await self.matching.post(path, body)
        if status == 200:  # otherwise (halted, stale by the time it arrived, moved meanwhile) it is evaluated again
            self.actions += 1
            self.due_since.pop(account, None)
            if to == "FORCE_LIQUIDATION" and level != to:
                self.forced_at[account] = self.clock.now()
            log.info("%s: %s -> %s (uniMMR %s)", account, level, "liquidated" if level == to else to, evaluation.get("unimmr"))


async def build(cfg: ServiceConfig) -> web.Application:
    ref: dict[str, Liquidation] = {}
    app = make_app(cfg, health=lambda: {"actions": ref["l"].actions})
    liq = Liquidation(cfg, app["clock"])
    ref["l"] = liq
    app.on_startup.append(liq.start)
    app.on_cleanup.append(liq.stop)

    async def status(_: web.Request) -> web.Response:
        return json_response({"candidates": {account: {"from": level, "to": evaluation["state"]}
                                             for account, (level, evaluation) in sorted(liq.candidates.items())},
                              "actions": liq.actions})

    app.router.add_get("/status", status)
    return app
