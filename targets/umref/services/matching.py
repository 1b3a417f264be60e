"""Matching: order books, positions, the pre-trade margin check and the UM risk guard.

Every write is decided against the in-memory state, applied, journaled to the ledger, and only
then answered. If the journal write fails the state may hold something the ledger does not, so
matching refuses writes and rebuilds itself from the journal (the ledger is the truth), once every
write it applied has a settled fate there.

One matching engine is active at a time: the one in the region of the primary ledger. Region B's
is a warm standby that refuses every request (503 NOT_ACTIVE) until the coordinator promotes it
under a new epoch; it then rebuilds its books from the replicated journal. Every journal record
it writes carries its name and epoch, and the ledger refuses a record from an older epoch: an
engine so fenced steps down at once and never fills another order.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from decimal import ROUND_DOWN, Decimal
from typing import Any

from aiohttp import web

from targets.umref import money
from targets.umref.batching import MicroBatcher
from targets.umref.book import (
    Exchange,
    apply_fill,
    cancel_event,
    cust,
    exchange_income_legs,
    transfer_legs,
)
from targets.umref.config import ServiceConfig
from targets.umref.ledger_client import Fenced, LedgerClient
from targets.umref.margin_model import RESTRICTED, RISK_LEVELS
from targets.umref.riskguard import RiskGuard
from targets.umref.service import (
    ApiError,
    Clock,
    Peer,
    PeerTimeout,
    PeerUnavailable,
    json_response,
    make_app,
    read_json,
)
from targets.umref.services import switched_off

__all__ = ["build"]

log = logging.getLogger("umref.matching")
SIDES = ("BUY", "SELL")
ORDER_TYPES = ("LIMIT", "MARKET")
WALLETS = ("spot", "um")


WriteHandler = Callable[["Matching", web.Request, dict[str, Any], str, str], Awaitable[web.Response]]


def customer_write(handler: WriteHandler) -> Callable[[Matching, web.Request], Awaitable[web.Response]]:
    """A customer write: its account (set by the gateway) and client id, answered once per client id."""

    @functools.wraps(handler)
    async def idempotent(self: Matching, request: web.Request) -> web.Response:
        body = await read_json(request)
        account, client_id = account_of(request), required(body, "client_id")
        if (replayed := await self.replay_or_none(client_id)) is not None:
            return replayed
        return await handler(self, request, body, account, client_id)

    return idempotent


class Matching:
    def __init__(self, cfg: ServiceConfig, clock: Clock) -> None:
        self.cfg = cfg
        self.clock = clock
        self.ex = Exchange()
        self.guard = RiskGuard(cfg.risk, never_halt=cfg.has_bug("no_halt"))
        self.halt_scope = ["um", "spot"] if cfg.has_bug("halt_spot_too") else ["um"]
        self.halt_log: list[dict[str, Any]] = []
        self.margin = Peer(cfg.peers["margin"], timeout_s=2 * cfg.risk.max_call_ms / 1000)
        self.margin_checks: MicroBatcher[dict[str, Any], dict[str, Any]] = MicroBatcher(self._check_batch)
        self.ledger = LedgerClient({n: cfg.peers[n] for n in ("ledger-a", "ledger-b")})
        self.lock = asyncio.Lock()
        self.broken: str | None = None  # why writes are refused until the state is rebuilt
        self.pending: dict[str, asyncio.Future[tuple[int, dict[str, Any]]]] = {}
        # Since the last rebuild: the answer given for each write whose journal write failed (a
        # retry gets it again, never the in-memory result), and the records of those whose
        # outcome is unknown (appended again before the rebuild reads the journal).
        self.failed: dict[str, tuple[int, dict[str, Any]]] = {}
        self.unsettled: dict[str, dict[str, Any]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._heartbeats: set[asyncio.Task[None]] = set()
        self._counter = 0
        self.leaked: list[dict[str, Any]] = []  # halt_leak: transfers acked while halted, journaled at resume
        self._halted_transfers = 0
        self.home_ledger = "ledger-a" if cfg.region == "A" else "ledger-b"
        self.active = False
        self.epoch = 0

    # ---- lifecycle -------------------------------------------------------------------------
    async def start(self, _: web.Application) -> None:
        await self.rebuild(deadline_s=15)
        await self.learn_role()

    async def learn_role(self) -> None:
        """Active when the primary ledger is this region's (a fresh region A, or a standby the
        coordinator promoted before this process started); otherwise a standby."""
        primary, epoch = await self.ledger.primary_state()
        if primary == self.home_ledger or (self.cfg.has_bug("dual_active_matching") and self.cfg.region == "A"):
            self.activate(epoch, self.clock.now())  # the defect: region A's engine takes its old role back
        elif self.active:
            self.depose(f"the primary ledger is {primary} at epoch {epoch}")

    def activate(self, epoch: int, now: float) -> None:
        self.active, self.epoch = True, epoch
        self.guard.resumed_at = now  # no risk action on prices from before this engine took over
        if self.halt_log and self.halt_log[-1].get("type") == "halt" and not self.guard.halted:
            self.guard.carry_on_halt(float(self.halt_log[-1]["time"]))  # UM stays halted across the move
        if not self._tasks:
            self._tasks = [asyncio.create_task(self._guard_loop()), asyncio.create_task(self._heartbeat_loop())]
        log.warning("%s active at epoch %d", self.cfg.name, epoch)

    def depose(self, why: str) -> None:
        if self.cfg.has_bug("dual_active_matching") or not self.active:
            return  # the defect: a deposed engine goes on taking orders
        self.active = False
        for task in self._tasks:
            task.cancel()
        self._tasks = []
        log.warning("%s stands down: %s", self.cfg.name, why)

    async def promote(self, request: web.Request) -> web.Response:
        """The coordinator hands this engine the role at a new epoch: the books as the journal has them."""
        epoch = int((await read_json(request)).get("epoch", 0))
        if epoch < 1:
            raise ApiError(400, "BAD_REQUEST", "epoch must be a positive integer")
        async with self.lock:
            if not (self.active and self.epoch >= epoch):
                await self.rebuild(deadline_s=10, keep_halts=False)
                if self.cfg.has_bug("cold_standby_books"):
                    for order in list(self.ex.orders.values()):  # the defect: books start empty
                        self.ex._reduce(order, order.qty)
                self.activate(epoch, self.clock.now())
        return json_response({"active": self.active, "epoch": self.epoch, "last_seq": self.ex.last_seq})

    def stamped(self, record: dict[str, Any]) -> dict[str, Any]:
        """Who wrote the record, and at which epoch (the ``dual_active_matching`` defect leaves the
        epoch out, so that no ledger can fence it)."""
        record["writer"] = self.cfg.name
        if not self.cfg.has_bug("dual_active_matching"):
            record["writer_epoch"] = self.epoch
        return record

    async def stop(self, _: web.Application) -> None:
        for task in [*self._tasks, *self._heartbeats]:
            task.cancel()
        await self.margin.close()
        await self.ledger.close()

    async def rebuild(self, deadline_s: float = 5.0, *, keep_halts: bool = True) -> None:
        """Replace the state with a replay of the ledger's journal (called with the lock held, so
        that no new write is decided meanwhile)."""
        until = time.monotonic() + deadline_s
        await self._settle_writes(until)
        while True:
            try:
                records = await self.ledger.records(after=0)
                break
            except (PeerUnavailable, PeerTimeout) as exc:
                if time.monotonic() > until:
                    raise RuntimeError(f"ledger unreachable while rebuilding: {exc}") from None
                await asyncio.sleep(0.2)
        fresh = Exchange()
        for record in records:
            fresh.apply(record)
        self.ex = fresh
        if not self.halt_log or not keep_halts:
            self.halt_log = list(fresh.halts)
        self.failed.clear()
        self.broken = None
        log.info("state rebuilt from %d journal records", len(records))

    async def _settle_writes(self, until: float) -> None:
        """Before the journal is read, every write applied here must have its fate settled there.
        A commit still waiting for the ledger would be acknowledged after the read and be missing
        from the rebuilt state (an acked cancel whose order still rests); an append that timed out
        may still land after the read (a stopped ledger reads it when it runs again), so it is
        sent again: the ledger writes a client id at most once, and its answer is final."""
        while self.pending:
            left = until - time.monotonic()
            if left <= 0:
                raise RuntimeError(f"{len(self.pending)} journal write(s) still in flight")
            await asyncio.wait(list(self.pending.values()), timeout=left)
        for client_id, record in list(self.unsettled.items()):
            try:
                await self.ledger.append(record)  # PeerTimeout / PeerUnavailable: still unsettled, later
            except Fenced as exc:  # definitely not written, and never will be by this engine
                self.depose(str(exc))
            del self.unsettled[client_id]

    # ---- risk guard ------------------------------------------------------------------------
    async def _check_batch(self, bodies: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """One HTTP call for the checks that queued up while the previous one was in flight."""
        status, answer = await self.margin.post("/check", {"batch": bodies})
        if status != 200 or not isinstance(answer, dict) or len(answer.get("results", ())) != len(bodies):
            return [{"status": status, "body": answer}] * len(bodies)
        return list(answer["results"])

    async def timed_margin(self, body: dict[str, Any]) -> tuple[int, Any]:
        """A margin check, timed by the risk guard from submission to answer."""
        token = self.guard.call_started(self.clock.now())
        try:
            result = await self.margin_checks.submit(body)
        except (PeerUnavailable, PeerTimeout):
            self.guard.call_finished(token, self.clock.now(), ok=False)
            raise ApiError(503, "MARGIN_UNAVAILABLE", "margin service unreachable") from None
        status = int(result["status"])
        self.guard.call_finished(token, self.clock.now(), ok=status < 500 or status == 503)
        return status, result["body"]

    async def _heartbeat_loop(self) -> None:
        async def beat() -> None:
            with contextlib.suppress(ApiError):
                await self.timed_margin({"ping": True})

        while True:
            if len(self._heartbeats) < 50:  # bounded even when margin black-holes every call
                task = asyncio.create_task(beat())
                self._heartbeats.add(task)
                task.add_done_callback(self._heartbeats.discard)
            await asyncio.sleep(self.cfg.risk.heartbeat_ms / 1000)

    async def _guard_loop(self) -> None:
        while True:
            await asyncio.sleep(0.025)
            transition = self.guard.tick(self.clock.now())
            if transition is None:
                continue
            event = {"type": transition.kind, "time": transition.time, "reason": transition.reason,
                     "scope": self.halt_scope}
            self.halt_log.append(event)
            log.warning("UM %s: %s", transition.kind.upper(), transition.reason)
            record: dict[str, Any] = {"client_id": f"{transition.kind}-{transition.time:.6f}", "kind": transition.kind,
                                      "time": transition.time, "legs": [],
                                      "events": [{k: v for k, v in event.items() if k != "time"}]}
            if transition.kind == "halt" and self.cfg.has_bug("halt_cancels_orders"):
                record["events"] += [cancel_event(o, "halt") for o in list(self.ex.orders.values()) if o.market == "um"]
                self.ex.apply({**record, "events": [e for e in record["events"] if e["type"] == "cancel"]})
            records = [record]
            if transition.kind == "resume":
                if self.cfg.has_bug("resume_shrinks_orders"):
                    self.shrink_resting_orders()
                records += self.leaked_records(transition.time)
            asyncio.create_task(self._journal_quietly(*records))

    async def _journal_quietly(self, *records: dict[str, Any]) -> None:
        """Journal records in order (a resume before what it releases), logging a failure."""
        for record in records:
            try:
                await self.ledger.append(self.stamped(record))
            except (PeerUnavailable, PeerTimeout) as exc:
                log.error("could not journal %s: %s", record["kind"], exc)

    def shrink_resting_orders(self) -> None:
        """The ``resume_shrinks_orders`` defect: on resume every resting UM order keeps half its
        remaining quantity (to the step, at least one step), in the book only: no journal record."""
        for order in list(self.ex.orders.values()):
            if order.market != "um":
                continue
            step = money.QTY_STEP[order.symbol]
            keep = max(step, (order.qty / 2).quantize(step, ROUND_DOWN))
            if keep < order.qty:
                self.ex._reduce(order, order.qty - keep)

    def leaks_through_halt(self) -> bool:
        """The ``halt_leak`` defect: while halted, every other margin transfer skips the halt check."""
        if not self.cfg.has_bug("halt_leak") or not self.guard.halted:
            return False
        self._halted_transfers += 1
        return self._halted_transfers % 2 == 1

    def leaked_records(self, resumed_at: float) -> list[dict[str, Any]]:
        """What ``halt_leak`` accepted during the halt, stamped just after the resume, so that the
        journal shows no UM write inside the halt."""
        leaked, self.leaked = self.leaked, []
        for i, record in enumerate(leaked):
            record["time"] = resumed_at + 1e-6 * (i + 1)
        return leaked

    def refuse_if_halted(self, market: str) -> None:
        if self.guard.halted and market in self.halt_scope:
            raise ApiError(503, "UM_HALTED", "UM is halted: margin calculation is slow or unreachable")

    def refuse_if_restricted(self, account: str, symbol: str | None = None, side: str = "", qty: Decimal = Decimal(0)) -> None:
        """An account at REDUCE_ONLY or beyond may only reduce: an order that would open or add
        exposure, or collateral taken out of its UM wallet (``symbol`` None), is refused."""
        level = self.ex.risk_level_of(account)
        if level in RESTRICTED and (symbol is None or not self.ex.reduces(account, symbol, side, qty)):
            what = "collateral may not leave the UM wallet" if symbol is None else "only orders that reduce a position"
            raise ApiError(400, "REDUCE_ONLY", f"account is {level} (uniMMR at or below its threshold): {what}")

    def refuse_stale(self, evaluation: dict[str, Any], now: float) -> None:
        """A risk action's evaluation must still be fresh when it is applied: handing it over took
        time (unless the stale_margin_call defect is on, which ignores price age everywhere)."""
        oldest = min((float(p["time"]) for p in evaluation.get("prices", [])), default=None)
        if oldest is None and not evaluation.get("positions"):
            return  # no position: nothing was priced
        if not self.cfg.has_bug("stale_margin_call") and (
                oldest is None or now - oldest > self.cfg.risk.staleness_ms / 1000):
            raise ApiError(409, "STALE_EVALUATION", "the evaluation's prices are older than the staleness bound")

    # ---- the write path --------------------------------------------------------------------
    async def commit(self, record: dict[str, Any], answer: dict[str, Any]) -> web.Response:
        """Apply, journal, answer — once per client id, however often it is retried."""
        client_id = record["client_id"]
        record["answer"] = answer
        self.ex.apply(record)
        future: asyncio.Future[tuple[int, dict[str, Any]]] = asyncio.get_running_loop().create_future()
        self.pending[client_id] = future
        try:
            result = await self.ledger.append(self.stamped(record))
            if result.get("status") == "rejected":
                self._break(f"ledger rejected {client_id}: {result.get('error')}")
                outcome = (409, {"error": {"code": "REJECTED", "message": str(result.get("error"))}})
            else:
                outcome = (200, answer)
        except PeerTimeout as exc:
            self._break(str(exc))
            self.unsettled[client_id] = record
            outcome = (504, {"error": {"code": "UPSTREAM_TIMEOUT", "message": f"journal outcome unknown: {exc}"}})
        except Fenced as exc:
            self.depose(str(exc))
            self._break(str(exc))
            outcome = (503, {"error": {"code": "NOT_ACTIVE", "message": f"this engine lost its role: {exc}"}})
        except PeerUnavailable as exc:
            self._break(str(exc))
            outcome = (503, {"error": {"code": "JOURNAL_UNAVAILABLE", "message": str(exc)}})
        finally:
            self.pending.pop(client_id, None)
        if outcome[0] != 200:
            self.failed[client_id] = outcome
        future.set_result(outcome)
        return json_response(outcome[1], outcome[0])

    def _break(self, why: str) -> None:
        if self.broken is None:
            self.broken = why
            log.error("journal write failed (%s); refusing writes until rebuilt", why)
            asyncio.create_task(self._rebuild_when_possible())

    async def _rebuild_when_possible(self) -> None:
        for _ in range(600):  # bounded: about two minutes of attempts
            await asyncio.sleep(0.2)
            with contextlib.suppress(Exception):
                async with self.lock:
                    await self.rebuild(deadline_s=1)
                await self.learn_role()
                return

    async def replay_or_none(self, client_id: str) -> web.Response | None:
        if client_id in self.pending:
            status, body = await asyncio.shield(self.pending[client_id])
            return json_response(body, status)
        if client_id in self.failed:  # applied in memory only: until the rebuild, the same answer
            status, body = self.failed[client_id]
            return json_response(body, status)
        if client_id in self.ex.results:
            return json_response(self.ex.results[client_id])
        return None

    def writable(self) -> None:
        self.serving()
        if self.broken is not None:
            raise ApiError(503, "JOURNAL_UNAVAILABLE", f"rebuilding from the journal: {self.broken}")

    def serving(self) -> None:
        if not self.active:
            raise ApiError(503, "NOT_ACTIVE", f"{self.cfg.name} is a standby: the active engine is elsewhere")

    # ---- handlers --------------------------------------------------------------------------
    @customer_write
    async def order(self, request: web.Request, body: dict[str, Any], account: str, client_id: str) -> web.Response:
        symbol = required(body, "symbol")
        market = "spot" if symbol in money.SPOT_SYMBOLS else "um"
        if symbol not in money.ALL_SYMBOLS or request.query.get("market", market) != market:
            known = money.SPOT_SYMBOLS if request.query.get("market") == "spot" else money.UM_SYMBOLS
            raise ApiError(400, "UNKNOWN_SYMBOL", f"unknown symbol {symbol!r}; known here: {', '.join(known)}")
        side, order_type = choice(body, "side", SIDES), choice(body, "type", ORDER_TYPES, "LIMIT")
        qty = money.parse_qty(symbol, body.get("qty"))
        price = money.parse_price(symbol, body.get("price")) if order_type == "LIMIT" else None
        reduce_only = bool(body.get("reduce_only", False))
        self.writable()
        self.refuse_if_halted(market)
        if market == "um":
            self.refuse_if_restricted(account, symbol, side, qty)
        if market == "um" and not reduce_only:
            view = self.ex.margin_view(account)
            view["order"] = {"symbol": symbol, "side": side, "qty": str(qty), "price": None if price is None else str(price),
                             "leverage": self.ex.leverage_of(account, symbol)}
            status, answer = await self.timed_margin(view)
            margin_refusal(status, answer)
        elif market == "spot":
            self.spot_funds_check(account, symbol, side, qty, price)
        async with self.lock:
            self.writable()
            self.refuse_if_halted(market)  # the guard may have halted while margin was answering
            if market == "um":
                self.refuse_if_restricted(account, symbol, side, qty)  # or the risk engine restricted it
            record = self.ex.decide_order(account, client_id, symbol, side, order_type, qty, price, reduce_only,
                                          self.clock.now(), move_custody=not self.cfg.has_bug("commingle_fees"))
            trades = [e for e in record["events"] if e["type"] == "trade"]
            filled = sum((Decimal(t["qty"]) for t in trades), Decimal(0))
            status_text = "FILLED" if filled == qty else ("PARTIALLY_FILLED" if filled else "NEW")
            if order_type == "MARKET" and filled < qty:
                status_text = "EXPIRED" if not filled else "PARTIALLY_FILLED"
            answer = {"order_id": record["events"][0]["order_id"], "status": status_text, "filled_qty": str(filled),
                      "trades": [{"price": t["price"], "qty": t["qty"]} for t in trades]}
        return await self.commit(record, answer)

    def spot_funds_check(self, account: str, symbol: str, side: str, qty: Decimal, price: Decimal | None) -> None:
        base, quote = money.SPOT_SYMBOLS[symbol]
        if side == "SELL":
            need, asset = money.to_minor(base, qty), base
        else:
            ref = price if price is not None else (self.ex.books[symbol].best()[1] or Decimal(0))
            need, asset = money.to_minor(quote, qty * ref), quote
        if self.ex.balance(cust(account, "spot"), asset) < need:
            raise ApiError(400, "INSUFFICIENT_BALANCE", f"spot {asset} balance too low")

    @customer_write
    async def cancel(self, request: web.Request, body: dict[str, Any], account: str, client_id: str) -> web.Response:
        order_id = required(body, "order_id")
        self.writable()
        async with self.lock:
            record = self.ex.decide_cancel(account, client_id, order_id, self.clock.now())
            answer = {"order_id": order_id, "status": "CANCELED"}
        return await self.commit(record, answer)

    @customer_write
    async def leverage(self, request: web.Request, body: dict[str, Any], account: str, client_id: str) -> web.Response:
        symbol = required(body, "symbol")
        if symbol not in money.UM_SYMBOLS:
            raise ApiError(400, "UNKNOWN_SYMBOL", f"unknown UM symbol {symbol!r}")
        lev = body.get("leverage")
        if not isinstance(lev, int) or isinstance(lev, bool) or not 1 <= lev <= 125:
            raise ApiError(400, "INVALID_LEVERAGE", "leverage must be an integer from 1 to 125")
        self.writable()
        self.refuse_if_halted("um")
        async with self.lock:
            self.refuse_if_halted("um")
            record = {"client_id": client_id, "kind": "leverage", "time": self.clock.now(), "legs": [],
                      "events": [{"type": "leverage", "account": account, "symbol": symbol, "leverage": lev}]}
        return await self.commit(record, {"symbol": symbol, "leverage": lev})

    @customer_write
    async def transfer(self, request: web.Request, body: dict[str, Any], account: str, client_id: str) -> web.Response:
        asset = required(body, "asset")
        if asset not in money.ASSETS:
            raise ApiError(400, "UNKNOWN_ASSET", f"unknown asset {asset!r}")
        amount = money.parse_amount(asset, body.get("amount"))
        src, dst = choice(body, "from", WALLETS), choice(body, "to", WALLETS)
        if src == dst:
            raise ApiError(400, "BAD_REQUEST", "from and to must differ")
        minor = money.to_minor(asset, amount)
        self.writable()
        leak = self.leaks_through_halt()
        if not leak:
            self.refuse_if_halted("um")
        if src == "um":  # withdrawing collateral must leave the initial margin covered
            self.refuse_if_restricted(account)
            view = self.ex.margin_view(account)
            view["wallet"][asset] = str(Decimal(view["wallet"].get(asset, "0")) - amount)
            view["order"] = None
            status, answer = await self.timed_margin(view)
            margin_refusal(status, answer)
        async with self.lock:
            self.writable()
            if not leak:
                self.refuse_if_halted("um")
            if src == "um":
                self.refuse_if_restricted(account)
            if self.ex.balance(cust(account, src), asset) < minor:
                raise ApiError(400, "INSUFFICIENT_BALANCE", f"{src} {asset} balance too low")
            event = {"type": "transfer", "account": account, "asset": asset, "amount": str(amount), "from": src, "to": dst}
            now = self.clock.now()
            answer = {"status": "DONE", **event}
            if self.cfg.has_bug("non_atomic_transfer"):
                records = non_atomic_transfer(client_id, event, asset, minor, now)
            else:
                records = [{"client_id": client_id, "kind": "transfer", "time": now, "events": [event],
                            "legs": transfer_legs(cust(account, src), cust(account, dst), asset, minor)}]
            if leak and self.guard.halted:
                for record in records:  # applied and acknowledged now, journaled at the resume
                    self.ex.apply({**record, "answer": answer})
                    self.leaked.append({**record, "answer": answer})
                return json_response(answer)
        for record in records[:-1]:  # non_atomic_transfer: each half its own commit, no lock held
            first = await self.commit(record, answer)
            if first.status != 200:
                return first
        return await self.commit(records[-1], answer)

    async def liquidate(self, request: web.Request) -> web.Response:
        """The liquidation engine hands over an account: its UM positions go to the insurance fund."""
        body = await read_json(request)
        client_id, evaluation = required(body, "client_id"), body.get("evaluation")
        if not isinstance(evaluation, dict):
            raise ApiError(400, "BAD_REQUEST", "evaluation required")
        if (replayed := await self.replay_or_none(client_id)) is not None:
            return replayed
        account = required(evaluation, "account")
        prices = {p["asset"]: Decimal(p["price"]) for p in evaluation.get("prices", [])}
        self.writable()
        self.refuse_if_halted("um")
        async with self.lock:
            self.refuse_if_halted("um")
            now = self.clock.now()
            self.refuse_stale(evaluation, now)
            if self.ex.risk_level_of(account) != "FORCE_LIQUIDATION":
                raise ApiError(409, "LEVEL_CHANGED", f"{account} is {self.ex.risk_level_of(account)}, not in forced liquidation")
            legs: list[dict[str, Any]] = []
            closed = []
            for (acct, symbol), pos in sorted(self.ex.positions.items()):
                if acct != account or pos.qty == 0:
                    continue
                asset, base = money.UM_SYMBOLS[symbol], money.base_of(symbol)
                if base not in prices:
                    raise ApiError(409, "PRICE_MISSING", f"evaluation has no {base} price")
                _, realized = apply_fill(pos, -pos.qty, prices[base])
                minor = money.to_minor(asset, abs(realized))
                wallet = cust(account, "um")
                if realized < 0:
                    minor = min(minor, max(0, self.ex.balance(wallet, asset)))
                    legs += exchange_income_legs(wallet, "insurance:fund", asset, minor, move_custody=True)
                elif realized > 0:
                    legs += transfer_legs("insurance:fund", wallet, asset, minor)
                    legs += [{"account": "wallet:segregated", "asset": asset, "amount": minor},
                             {"account": "wallet:house", "asset": asset, "amount": -minor}]
                closed.append({"symbol": symbol, "qty": str(pos.qty), "price": str(prices[base]), "realized": str(realized)})
            event = {**evaluation, "type": "liquidation", "stage": "executed", "threshold": "1.05", "closed": closed,
                     "evaluated_at": evaluation.get("time"), "time": now}
            record = {"client_id": client_id, "kind": "liquidation", "time": event["time"], "events": [event], "legs": legs}
        return await self.commit(record, {"status": "LIQUIDATED", "closed": closed})

    async def risk_level(self, request: web.Request) -> web.Response:
        """The risk engine moves an account to the level its evaluation shows: journaled with
        every input (the user-data stream's ``riskLevelChange``). Entering FORCE_LIQUIDATION
        cancels the account's open UM orders first; the liquidation itself is a later, fresh
        evaluation's (``liquidate``), and a recovery before it cancels it."""
        body = await read_json(request)
        client_id, evaluation = required(body, "client_id"), body.get("evaluation")
        if not isinstance(evaluation, dict) or evaluation.get("state") not in RISK_LEVELS:
            raise ApiError(400, "BAD_REQUEST", "an evaluation with a risk level as its state is required")
        if (replayed := await self.replay_or_none(client_id)) is not None:
            return replayed
        account, to, seen = required(evaluation, "account"), evaluation["state"], body.get("from")
        self.writable()
        during_halt = self.cfg.has_bug("margin_call_during_halt")
        if not during_halt:
            self.refuse_if_halted("um")
        async with self.lock:
            if not during_halt:
                self.refuse_if_halted("um")
            now = self.clock.now()
            self.refuse_stale(evaluation, now)
            if (level := self.ex.risk_level_of(account)) != seen or level == to:
                raise ApiError(409, "LEVEL_CHANGED", f"{account} is {level}: no move from {seen} to {to}")
            events = [{**evaluation, "type": "risk_level", "from": level, "to": to, "evaluated_at": evaluation.get("time"),
                       "time": now}]
            if to == "FORCE_LIQUIDATION":
                events += [cancel_event(o, "force_liquidation") for o in self.ex.open_orders(account, "um")]
            record = {"client_id": client_id, "kind": "risk_level", "time": now, "events": events, "legs": []}
        return await self.commit(record, {"account": account, "from": level, "to": to})

    async def mass_cancel(self, request: web.Request) -> web.Response:
        """The operators' maintenance mass-cancel: every resting UM order cancelled in one journal
        record (a venue's tool before a risky maintenance; customers are told to place again)."""
        body = await read_json(request)
        client_id, reason = required(body, "client_id"), str(body.get("reason") or "maintenance")
        if (replayed := await self.replay_or_none(client_id)) is not None:
            return replayed
        self.writable()
        async with self.lock:
            events = [cancel_event(o, reason) for o in list(self.ex.orders.values()) if o.market == "um"]
            record = {"client_id": client_id, "kind": "cancel", "time": self.clock.now(), "legs": [], "events": events}
        return await self.commit(record, {"cancelled": len(events)})

    # ---- reads -----------------------------------------------------------------------------
    async def account(self, request: web.Request) -> web.Response:
        account = request.match_info["account"]
        ex = self.ex
        return json_response({
            "account": account,
            "balances": {w: {a: str(money.from_minor(a, v)) for a, v in ex.wallet(account, w).items()} for w in WALLETS},
            "positions": ex.um_positions(account),
            "open_orders": [o.view() for o in ex.open_orders(account)],
        })

    async def user_stream(self, request: web.Request) -> web.Response:
        """The account's user-data stream from ``after`` (how many events the reader has seen):
        rebuilt from the journal like all state, so a promoted engine tells what its predecessor did."""
        self.serving()
        try:
            after = max(0, int(request.query.get("after", "0")))
        except ValueError:
            raise ApiError(400, "BAD_REQUEST", "after must be an integer") from None
        events = self.ex.streams.get(request.match_info["account"], [])
        return json_response({"events": events[after:], "next": len(events)})

    async def accounts_at_risk(self, _: web.Request) -> web.Response:
        self.serving()
        return json_response({"accounts": [self.ex.margin_view(a) for a in self.ex.accounts_at_risk() if a != "insurance"]})

    async def state(self, _: web.Request) -> web.Response:
        now = self.clock.now()
        return json_response({
            "halted": self.guard.halted, "scope": self.halt_scope if self.guard.halted else [],
            "halted_since": self.guard.halted_since, "resumed_at": self.guard.resumed_at, "time": now,
            "guard": {"p99_ms": round(1000 * self.guard.p99_s(now), 3), "breach": self.guard.breach(now)},
            "broken": self.broken, "last_seq": self.ex.last_seq, "active": self.active, "epoch": self.epoch,
        })

    async def market(self, _: web.Request) -> web.Response:
        self.serving()
        symbols = {}
        for symbol, book in self.ex.books.items():
            bid, ask = book.best()
            last = self.ex.last_price.get(symbol)
            mid = (bid + ask) / 2 if bid is not None and ask is not None else None
            mark = last or mid or money.REFERENCE_PRICE[money.base_of(symbol)]
            symbols[symbol] = {"best_bid": str(bid) if bid else None, "best_ask": str(ask) if ask else None,
                               "last": str(last) if last else None, "mark": str(mark)}
        return json_response({"symbols": symbols, "halted": self.guard.halted})

    async def audit_halts(self, _: web.Request) -> web.Response:
        self.serving()
        return json_response({"events": self.halt_log, "halted": self.guard.halted})

    async def audit_books(self, _: web.Request) -> web.Response:
        self.serving()
        return json_response({"time": self.clock.now(), "books": {s: b.resting() for s, b in self.ex.books.items()}})


def non_atomic_transfer(client_id: str, event: dict[str, Any], asset: str, minor: int,
                        now: float) -> list[dict[str, Any]]:
    """The ``non_atomic_transfer`` defect: the debit and the credit as two records, each balanced
    through ``suspense:transfer`` and each a ``transfer`` carrying the transfer's event, committed
    one after the other. Nothing shows unless the second never lands (a crash between the two
    commits, or the second failing): then the money sits in suspense."""
    account, src, dst = event["account"], event["from"], event["to"]
    return [
        {"client_id": f"{client_id}#debit", "kind": "transfer", "time": now, "events": [event],
         "legs": transfer_legs(cust(account, src), "suspense:transfer", asset, minor)},
        {"client_id": client_id, "kind": "transfer", "time": now, "events": [event],
         "legs": transfer_legs("suspense:transfer", cust(account, dst), asset, minor)},
    ]


def account_of(request: web.Request) -> str:
    """The account the gateway authenticated (never taken from the body)."""
    account = request.headers.get("X-Account", "")
    if not account:
        raise ApiError(400, "BAD_REQUEST", "X-Account header required (set by the gateway)")
    return account


def required(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise ApiError(400, "BAD_REQUEST", f"field {name!r} is required and must be a non-empty string")
    return value


def choice(body: dict[str, Any], name: str, allowed: tuple[str, ...], default: str | None = None) -> str:
    value = body.get(name, default)
    if value not in allowed:
        raise ApiError(400, "BAD_REQUEST", f"field {name!r} must be one of {', '.join(allowed)}")
    return str(value)


def margin_refusal(status: int, answer: Any) -> None:
    """Turn margin's answer into a refusal, or return when the order/transfer fits."""
    if status == 503:
        code = (answer or {}).get("error", {}).get("code", "PRICE_UNAVAILABLE")
        raise ApiError(503, code, "margin cannot judge the order now")
    if status != 200 or not isinstance(answer, dict):
        raise ApiError(503, "MARGIN_UNAVAILABLE", f"margin answered {status}")
    if not answer.get("ok"):
        raise ApiError(400, answer.get("code") or "INSUFFICIENT_MARGIN", "initial margin would not be covered")


async def build(cfg: ServiceConfig) -> web.Application:
    matching_ref: dict[str, Matching] = {}
    app = make_app(cfg, health=lambda: {"halted": matching_ref["m"].guard.halted, "active": matching_ref["m"].active})
    m = Matching(cfg, app["clock"])
    matching_ref["m"] = m
    app.on_startup.append(m.start)
    app.on_cleanup.append(m.stop)
    app.router.add_post("/order", m.order)
    app.router.add_post("/cancel", m.cancel)
    app.router.add_post("/leverage", m.leverage)
    app.router.add_post("/transfer", m.transfer)
    app.router.add_post("/internal/liquidate", m.liquidate)
    app.router.add_post("/internal/risk_level", m.risk_level)
    app.router.add_post("/promote", m.promote)
    app.router.add_post("/admin/mass_cancel", m.mass_cancel)
    app.router.add_get("/internal/accounts", m.accounts_at_risk)
    app.router.add_get("/account/{account}", m.account)
    app.router.add_get("/internal/stream/{account}", m.user_stream)
    app.router.add_get("/state", m.state)
    app.router.add_get("/market", m.market)
    app.router.add_get("/audit/halts", m.audit_halts)
    app.router.add_get("/audit/books", m.audit_books)
    app["metrics"].gauges["um_halted"] = lambda: float(m.guard.halted)
    return switched_off(app, cfg)
