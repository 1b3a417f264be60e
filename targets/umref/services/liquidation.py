"""Liquidation: watches every account's uniMMR; issues margin calls and liquidations.

An evaluator asks margin for each account with a UM position; an account whose state reaches
margin call or liquidation becomes a *candidate* (its first evaluation is kept). An executor
acts on candidates — but not while UM is halted, and only on an evaluation whose prices are
fresh (within the staleness bound) and newer than the last resume; a stale candidate is
dropped and re-evaluated. Each action is journaled with every input it used, so that the
harness can recompute it. A liquidation is first *started*; it executes on the next fresh
evaluation still at or below the liquidation threshold, and is cancelled if uniMMR recovered.

Accounts are evaluated concurrently, so that a cycle stays short with many accounts: a due
account is acted on within a cycle or two of margin seeing the breaching price, well inside
the budget's ``act_within_ms``.

It works for its own region's matching engine, and only while that one is active: region B's
liquidation idles until its stack is promoted. Its records carry that engine's epoch, so that a
deposed region's liquidation is fenced by the ledger like its matching engine.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from aiohttp import web

from targets.umref.config import ServiceConfig
from targets.umref.ledger_client import LedgerClient
from targets.umref.service import Clock, Peer, PeerTimeout, PeerUnavailable, json_response, make_app

__all__ = ["build"]

log = logging.getLogger("umref.liquidation")
ACTIONABLE = ("margin_call", "liquidation")
CYCLE_S = 0.2
EVALUATIONS_AT_ONCE = 8
LATE_S = 5.0  # the late_liquidation defect: how long a due account waits


class Liquidation:
    def __init__(self, cfg: ServiceConfig, clock: Clock) -> None:
        self.cfg = cfg
        self.clock = clock
        self.margin = Peer(cfg.peers["margin"], timeout_s=2.0)
        self.matching = Peer(cfg.peers["matching"], timeout_s=2.0)
        self.ledger = LedgerClient({n: cfg.peers[n] for n in ("ledger-a", "ledger-b")})
        self.candidates: dict[str, dict[str, Any]] = {}  # account -> first actionable evaluation
        self.called: set[str] = set()  # accounts margin-called in their current episode
        self.pending_liquidation: set[str] = set()
        self.due_since: dict[str, float] = {}  # account -> when it was first seen due (this episode)
        self.actions = 0
        self.epoch = 0  # the epoch of the matching engine this engine works for
        self._task: asyncio.Task[None] | None = None

    async def start(self, _: web.Application) -> None:
        self._task = asyncio.create_task(self._loop())

    async def stop(self, _: web.Application) -> None:
        if self._task:
            self._task.cancel()
        for peer in (self.margin, self.matching):
            await peer.close()
        await self.ledger.close()

    async def _loop(self) -> None:
        while True:
            with contextlib.suppress(PeerUnavailable, PeerTimeout):
                await self.cycle()
            await asyncio.sleep(CYCLE_S)

    async def cycle(self) -> None:
        status, state = await self.matching.get("/state")
        if status != 200 or not state.get("active", True):
            return
        self.epoch = int(state.get("epoch") or 0)
        resumed_at = state.get("resumed_at")
        status, body = await self.matching.get("/internal/accounts")
        if status != 200:
            return
        limit = asyncio.Semaphore(EVALUATIONS_AT_ONCE)

        async def evaluate(view: dict[str, Any]) -> None:
            async with limit:
                await self.evaluate(view, resumed_at)

        await asyncio.gather(*(evaluate(view) for view in body["accounts"]))
        if not (ready := [account for account in self.candidates if not self.waits(account)]):
            return
        # Re-read the halt right before acting: evaluating every account takes time, and UM may
        # have halted since the cycle began.
        status, state = await self.matching.get("/state")
        if status != 200 or (state["halted"] and not self.cfg.has_bug("margin_call_during_halt")):
            return  # paused while UM is halted: candidates wait
        # All candidates at once: their journal writes share the ledger's group commits, so a
        # slow disk delays the last action of a cycle by one commit, not by one per candidate.
        due = [self.candidates.pop(account) for account in ready]
        outcomes = await asyncio.gather(*(self.act(evaluation, state.get("resumed_at")) for evaluation in due),
                                        return_exceptions=True)
        if errors := [o for o in outcomes if isinstance(o, BaseException)]:
            raise errors[0]

    async def evaluate(self, view: dict[str, Any], resumed_at: float | None) -> None:
        request = {"account": view["account"], "wallet": view["wallet"], "positions": view["positions"],
                   "min_price_time": resumed_at}
        status, evaluation = await self.margin.post("/evaluate", request)
        if status != 200:
            return
        account = view["account"]
        if evaluation["state"] in ACTIONABLE:
            self.due_since.setdefault(account, self.clock.now())
            if self.cfg.has_bug("late_liquidation"):
                self.candidates[account] = evaluation  # the latest: honest, fresh prices when it acts
            else:
                self.candidates.setdefault(account, evaluation)
        elif evaluation["state"] in ("normal", "watch", "no_position"):
            self.candidates.pop(account, None)
            self.due_since.pop(account, None)
            self.called.discard(account)
            if account in self.pending_liquidation:
                self.pending_liquidation.discard(account)
                await self.journal("liquidation_cancel", evaluation, stage="cancelled")
        # state "unknown" (no usable price): no decision either way

    def waits(self, account: str) -> bool:
        """The ``late_liquidation`` defect: a due account is left alone for seconds (a backlog
        worked through in order, say); its evaluation and prices stay honest."""
        if not self.cfg.has_bug("late_liquidation"):
            return False
        return self.clock.now() - self.due_since.get(account, self.clock.now()) < LATE_S

    def fresh(self, evaluation: dict[str, Any], resumed_at: float | None) -> bool:
        """Every price used is within the staleness bound and newer than the last resume."""
        if self.cfg.has_bug("stale_margin_call"):
            return True  # the bug: acts on whatever evaluation it has, however old
        now = self.clock.now()
        oldest = min((p["time"] for p in evaluation.get("prices", [])), default=None)
        if oldest is None:
            return False
        return now - oldest <= self.cfg.risk.staleness_ms / 1000 and (resumed_at is None or oldest >= resumed_at)

    async def act(self, evaluation: dict[str, Any], resumed_at: float | None) -> None:
        if not self.fresh(evaluation, resumed_at):
            return  # dropped; the next cycle evaluates again with fresh prices
        account = evaluation["account"]
        if evaluation["state"] == "liquidation":
            if account in self.pending_liquidation:
                client_id = f"liq-{account}-{evaluation['time']:.6f}"
                status, _ = await self.matching.post("/internal/liquidate", {"client_id": client_id, "evaluation": evaluation})
                if status == 200:  # otherwise (halted, stale by the time it arrived) it stays pending
                    self.pending_liquidation.discard(account)
                    self.actions += 1
                    self.called.discard(account)
                return
            self.pending_liquidation.add(account)
            await self.journal("liquidation", evaluation, stage="started")
            return
        if account not in self.called:
            self.called.add(account)
            await self.journal("margin_call", evaluation)

    async def journal(self, kind: str, evaluation: dict[str, Any], *, stage: str | None = None) -> None:
        """Write a margin call or a liquidation stage with every input it was decided on."""
        now = self.clock.now()
        event_type = "margin_call" if kind == "margin_call" else "liquidation"
        event = {**evaluation, "type": event_type, "evaluated_at": evaluation.get("time"), "time": now,
                 "threshold": "1.2" if kind == "margin_call" else "1.05"}
        if stage:
            event["stage"] = stage
        record = {"client_id": f"{kind}-{evaluation['account']}-{now:.6f}", "kind": kind, "time": now,
                  "events": [event], "legs": [], "writer_epoch": self.epoch}
        await self.ledger.append(record)
        self.actions += 1
        log.info("%s %s for %s (uniMMR %s)", event_type, stage or "", evaluation["account"], evaluation.get("unimmr"))


async def build(cfg: ServiceConfig) -> web.Application:
    ref: dict[str, Liquidation] = {}
    app = make_app(cfg, health=lambda: {"actions": ref["l"].actions})
    liq = Liquidation(cfg, app["clock"])
    ref["l"] = liq
    app.on_startup.append(liq.start)
    app.on_cleanup.append(liq.stop)

    async def status(_: web.Request) -> web.Response:
        return json_response({"candidates": sorted(liq.candidates), "called": sorted(liq.called),
                              "pending_liquidation": sorted(liq.pending_liquidation), "actions": liq.actions})

    app.router.add_get("/status", status)
    return app
