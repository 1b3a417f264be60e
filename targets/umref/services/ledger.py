"""A ledger node (``ledger-a`` primary in region A, ``ledger-b`` standby in region B).

The primary gathers concurrent appends into one batch (group commit), commits it locally, ships
it to the standby, and answers only when the standby confirmed (RPO 0). A standby refuses
records from a lower epoch (409 FENCED); a primary told FENCED steps down and drops what it
could not replicate, so an old primary never writes at its old epoch. After a failover the new
primary runs alone until the old one comes back as its standby. What a node drops when it is
fenced or demoted is kept as evidence (``/audit/discarded``).

The primary holds a lease from the witness (region C), renewed a few times a second. When its
standby stops answering it may go on alone only with the witness's leave (``/solo``: the standby
is then not promotable) and only while its lease holds; without either it acknowledges nothing
new. A record stamped by a writer (a matching engine) at an epoch older than this node's is
refused (409 FENCED): a deposed engine can never fill an order after it lost its role.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web

from targets.umref.config import ServiceConfig
from targets.umref.ledger_store import LedgerStore, natural_balance
from targets.umref.money import to_minor
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

log = logging.getLogger("umref.ledger")
REPLICATION_TIMEOUT_S = 1.0
# A shipment is cut into requests of at most this many records and bytes: a standby far behind
# (back after a failover) gets its backlog in pieces it parses quickly, never as one body over its
# request size limit (which it would refuse, every time).
SHIP_CHUNK = 200
SHIP_BYTES = 256 * 1024
# One ship() call stops sending more pieces after this long; its caller comes back for the rest
# (the coordinator's resync would otherwise time out while a long backlog is sent).
SHIP_BUDGET_S = 0.4
# Replications that may wait for their turn at a standby; more are refused (503 BUSY) unread, so a
# flood from a primary can never pile up parsed bodies and stall the standby's audit endpoints.
REPLICATION_QUEUE = 4
# The async_replication shipper's retries of a standby that confirmed nothing: rounds, and the pause
# between them.
SHIPPER_PATIENCE = 20
SHIPPER_PAUSE_S = 0.25
RENEW_EVERY_S = 0.2
LEASE_TRUST = 0.8  # of the lease the witness grants, the part this node counts on (it counts from before asking)
AUDIT_EVENTS = {"orders": ("order", "cancel"), "trades": ("trade",), "risk-levels": ("risk_level",),
                "liquidations": ("liquidation",)}


class NotPrimary(Exception):
    pass


class BalanceCache:
    """The ``ledger_misreport`` defect: balances folded incrementally from the journal, but the
    fold skips the legs of every 5th record that has legs. Each skipped record balances, so the
    totals still agree with each other (segregation holds on paper); only balances recomputed
    from the journal's legs show the difference."""

    SKIP_EVERY = 5

    def __init__(self, store: LedgerStore) -> None:
        self.store = store
        self._reset()

    def _reset(self) -> None:
        self.through = 0
        self.with_legs = 0
        self.truncations = self.store.truncations
        self.raw: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))

    def balances_through(self) -> tuple[int, dict[str, dict[str, int]]]:
        if self.truncations != self.store.truncations or self.store.last_seq < self.through:
            self._reset()
        with self.store.view_lock:
            new = self.store.records[self.through:]
        for record in new:
            if record.get("legs"):
                self.with_legs += 1
                if self.with_legs % self.SKIP_EVERY == 0:
                    continue
            for leg in record.get("legs", []):
                self.raw[leg["account"]][leg["asset"]] += leg["amount"]
        self.through += len(new)
        return self.through, {acct: {a: natural_balance(acct, v) for a, v in assets.items()}
                              for acct, assets in self.raw.items()}


def piece(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The first records that fit in SHIP_BYTES (at least one)."""
    size = 0
    for i, record in enumerate(records):
        size += len(orjson.dumps(record))
        if size > SHIP_BYTES and i:
            return records[:i]
    return records


class LedgerNode:
    def __init__(self, cfg: ServiceConfig, clock: Clock) -> None:
        self.cfg = cfg
        self.clock = clock
        self.name = cfg.name
        self.peer_name = "ledger-b" if self.name == "ledger-a" else "ledger-a"
        self.store = LedgerStore(Path(cfg.data_dir) / f"{self.name}.sqlite3", self.name)
        self.peer = Peer(cfg.peers[self.peer_name], timeout_s=REPLICATION_TIMEOUT_S)
        self.coordinator = Peer(cfg.peers["coordinator"], timeout_s=1.0)
        self.witness = Peer(cfg.peers["witness"], timeout_s=0.5)
        self.lease_until = 0.0  # monotonic: until when this node may act as primary on its own say
        self.alone_by_leave = False  # solo with the witness's leave, while the standby is unreachable
        self.role = "standby"
        self.epoch = int(self.store.meta("epoch", "1") or 1)
        self.solo = False  # a promoted primary without a standby yet
        self.peer_acked = 0  # highest seq the standby confirmed
        # What this node acknowledged as written, as seq ranges [first, last]; of records older than
        # this process (seq <= known_from) it cannot tell.
        self.answered: list[list[int]] = []
        self.known_from = self.store.last_seq
        self.balance_cache = BalanceCache(self.store) if cfg.has_bug("ledger_misreport") else None
        self.blocked = False  # the standby missed records: ack nothing new until it caught up
        self.queue: asyncio.Queue[tuple[dict[str, Any], asyncio.Future[dict[str, Any]]]] = asyncio.Queue()
        self.failovers: list[dict[str, Any]] = []
        self._tasks: list[asyncio.Task[None]] = []
        # Epoch checks and what they guard happen as one step: a replication checked at epoch 1 but
        # applied after a promotion to epoch 2 would put an old-epoch record past keep_through_seq.
        self.epoch_lock = asyncio.Lock()
        # One shipment in flight per primary: concurrent ones would each resend the same tail.
        self.ship_lock = asyncio.Lock()
        self._shipper: asyncio.Task[None] | None = None
        # A standby reads and applies one replication body at a time.
        self.replication_turn = asyncio.Semaphore(1)
        self.replications_waiting = 0

    # ---- lifecycle -------------------------------------------------------------------------
    async def start(self, _: web.Application) -> None:
        fresh = not self.store.records
        if fresh and self.name == "ledger-a":
            self.become("primary", 1)
            self.genesis()
            await self.replicate_genesis()
        elif fresh:
            self.become("standby", 1)
        else:
            self.become("fenced", self.epoch)  # until the coordinator says what we are
            self._tasks.append(asyncio.create_task(self._learn_role()))
        self._tasks.append(asyncio.create_task(self._writer()))
        self._tasks.append(asyncio.create_task(self._hold_lease()))

    async def _hold_lease(self) -> None:
        """While primary: renew the lease; while alone by leave: try to bring the standby back."""
        while True:
            await asyncio.sleep(RENEW_EVERY_S)
            if self.role != "primary":
                continue
            await self.renew()
            if self.alone_by_leave:
                await self.catch_up()

    async def renew(self) -> None:
        if self.cfg.has_bug("no_witness"):
            return  # the defect: no witness is ever asked
        with contextlib.suppress(PeerUnavailable, PeerTimeout, KeyError, TypeError, ValueError):
            asked = time.monotonic()
            status, body = await self.witness.post("/renew", {"node": self.name, "epoch": self.epoch})
            if status == 200:
                self.lease_until = asked + LEASE_TRUST * float(body["lease_s"])
            elif status == 409 and not self.cfg.has_bug("no_fencing"):
                async with self.epoch_lock:
                    self.become("fenced", self.epoch)  # the witness granted a newer epoch elsewhere

    @property
    def alone(self) -> bool:
        """Acknowledging without the standby: promoted with none yet, or by the witness's leave."""
        return self.solo or self.alone_by_leave

    async def tell_synced(self) -> None:
        """The standby has everything again: the witness hears it is promotable."""
        if self.cfg.has_bug("no_witness"):
            return
        with contextlib.suppress(PeerUnavailable, PeerTimeout):
            await self.witness.post("/synced", {"node": self.name, "epoch": self.epoch})
            log.warning("%s: standby caught up", self.name)

    def leased(self) -> bool:
        return self.cfg.has_bug("no_witness") or self.cfg.has_bug("no_fencing") or time.monotonic() < self.lease_until

    async def leave_to_go_alone(self) -> bool:
        """The witness's leave to acknowledge what the standby has not confirmed (the ``no_witness``
        defect takes it without asking)."""
        if self.cfg.has_bug("no_witness"):
            self.alone_by_leave = True
            return True
        try:
            status, _ = await self.witness.post("/solo", {"node": self.name, "epoch": self.epoch})
        except (PeerUnavailable, PeerTimeout):
            return False
        self.alone_by_leave = status == 200
        if self.alone_by_leave:
            log.warning("%s goes on alone at epoch %d: standby unreachable, witness agreed", self.name, self.epoch)
        return self.alone_by_leave

    async def catch_up(self) -> None:
        """The standby answers again: from now on every write waits for it; once it has all, the
        witness hears it is promotable again."""
        self.alone_by_leave = False
        if not await self.ship():
            self.alone_by_leave = True
            return
        await self.tell_synced()

    async def stop(self, _: web.Application) -> None:
        for task in [*self._tasks, *([self._shipper] if self._shipper else [])]:
            task.cancel()
        for peer in (self.peer, self.coordinator, self.witness):
            await peer.close()
        self.store.close()

    def become(self, role: str, epoch: int) -> None:
        self.role, self.epoch = role, epoch
        self.store.set_meta(role=role, epoch=epoch)
        log.warning("%s is now %s at epoch %d", self.name, role, epoch)

    def genesis(self) -> None:
        """Opening deposits, one record per account (written before anyone can ask for it)."""
        batch = []
        for acct in self.cfg.accounts:
            legs = []
            for wallet, assets in acct.deposits.items():
                for asset, amount in assets.items():
                    minor = to_minor(asset, Decimal(amount))
                    legs += [{"account": "wallet:segregated", "asset": asset, "amount": minor},
                             {"account": f"cust:{acct.account}:{wallet}", "asset": asset, "amount": -minor}]
            batch.append({"client_id": f"genesis-{acct.account}", "kind": "genesis", "time": self.clock.now(),
                          "events": [{"type": "deposit", "account": acct.account, "deposits": acct.deposits}], "legs": legs})
        self.store.append(batch, epoch=self.epoch, time_now=self.clock.now())

    async def replicate_genesis(self, deadline_s: float = 10.0) -> None:
        """The opening deposits are on the standby before this node says it is healthy."""
        until = time.monotonic() + deadline_s
        while not await self.ship():
            if time.monotonic() > until:
                raise RuntimeError("standby never confirmed the genesis records")
            await asyncio.sleep(0.1)

    async def _learn_role(self) -> None:
        for _ in range(1200):  # bounded: ten minutes of asking
            with contextlib.suppress(PeerUnavailable, PeerTimeout, KeyError, TypeError):
                status, body = await self.coordinator.get("/primary")
                if status == 200:
                    if body["primary"] == self.name and int(body["epoch"]) == self.epoch:
                        self.become("primary", self.epoch)
                    else:
                        self.demote(int(body["epoch"]), body.get("keep_through_seq"))
                    return
            await asyncio.sleep(0.5)

    def demote(self, epoch: int, keep_through_seq: int | None) -> None:
        if keep_through_seq is not None:
            dropped = self.truncate(int(keep_through_seq), "demoted", epoch)
            if dropped:
                log.warning("%s dropped %d unreplicated record(s) after seq %s", self.name, dropped, keep_through_seq)
        self.become("standby", epoch)

    # ---- the write path --------------------------------------------------------------------
    async def _writer(self) -> None:
        while True:
            batch = [await self.queue.get()]
            while not self.queue.empty() and len(batch) < 2000:
                batch.append(self.queue.get_nowait())
            answers: list[dict[str, Any] | ApiError]
            try:
                answers = await self.commit([rec for rec, _ in batch])
            except ApiError as exc:
                answers = [exc] * len(batch)
            except Exception as exc:  # noqa: BLE001 - keep the writer alive, fail this batch
                log.exception("append failed")
                answers = [ApiError(500, "INTERNAL", repr(exc))] * len(batch)
            for (_, future), answer in zip(batch, answers, strict=True):
                if not future.done():
                    if isinstance(answer, Exception):
                        future.set_exception(answer)
                    else:
                        future.set_result(answer)

    async def commit(self, records: list[dict[str, Any]]) -> list[dict[str, Any] | ApiError]:
        if self.role != "primary":
            raise ApiError(503, "NOT_PRIMARY", f"{self.name} is {self.role} at epoch {self.epoch}")
        # (the async_replication bug never waits for the standby, so never stops on it either)
        if self.blocked and not self.alone and not self.cfg.has_bug("async_replication") and not await self.ship() \
                and not await self.leave_to_go_alone():
            raise ApiError(503, "REPLICATION_UNAVAILABLE", "standby unreachable: nothing new can be acknowledged")
        if self.alone and not self.leased():
            raise ApiError(503, "NOT_PRIMARY", f"{self.name} has no lease from the witness: it may have been replaced")
        async with self.epoch_lock:  # a demotion lands before this write or after it, never inside it
            if self.role != "primary":
                raise ApiError(503, "NOT_PRIMARY", f"{self.name} was demoted to epoch {self.epoch}")
            fenced = {i for i, r in enumerate(records) if int(r.get("writer_epoch") or self.epoch) < self.epoch}
            kept = [r for i, r in enumerate(records) if i not in fenced]
            results, new = await asyncio.to_thread(self.store.append, kept, epoch=self.epoch, time_now=self.clock.now())
        views = [r.view() for r in results]
        if new:
            views = await self.replicated(new, views)
        answers: list[dict[str, Any] | ApiError] = list(views)
        for i in sorted(fenced):
            answers.insert(i, ApiError(409, "FENCED", f"writer epoch {records[i].get('writer_epoch')} < {self.epoch}"))
        return answers

    async def replicated(self, new: list[dict[str, Any]], views: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The answers to records just written here, once they are safe to acknowledge."""
        if self.cfg.has_bug("async_replication"):
            self.ship_behind()  # the bug: acknowledged before the standby has it
            return self.acknowledged(new, views)
        if self.alone or await self.ship():
            if self.alone and not self.leased():
                raise ApiError(504, "REPLICATION_TIMEOUT", "lease lapsed while writing alone; outcome unknown")
            return self.acknowledged(new, views)
        if self.role != "primary":  # fenced while shipping: what we wrote is not the truth any more
            self.truncate(new[0]["seq"] - 1, "fenced", None)
            raise ApiError(503, "NOT_PRIMARY", f"{self.name} was fenced by a newer epoch")
        if await self.leave_to_go_alone() and self.leased():
            return self.acknowledged(new, views)
        self.blocked = True
        raise ApiError(504, "REPLICATION_TIMEOUT", "standby did not confirm in time; outcome unknown")

    def acknowledged(self, new: list[dict[str, Any]], views: list[dict[str, Any]]) -> list[dict[str, Any]]:
        first, last = new[0]["seq"], new[-1]["seq"]
        if self.answered and self.answered[-1][1] == first - 1:
            self.answered[-1][1] = last
        else:
            self.answered.append([first, last])
        return views

    def was_acked(self, seq: int) -> bool | None:
        if seq <= self.known_from:
            return None
        return any(first <= seq <= last for first, last in reversed(self.answered))

    def truncate(self, keep_through: int, reason: str, superseded_by_epoch: int | None) -> int:
        """Drop the tail after ``keep_through``, kept as evidence with whether it was acknowledged."""
        dropped = self.store.truncate_after(keep_through, reason=reason, time_now=self.clock.now(),
                                            superseded_by_epoch=superseded_by_epoch, acked=self.was_acked)
        self.answered = [[f, min(last, keep_through)] for f, last in self.answered if f <= keep_through]
        self.known_from = min(self.known_from, keep_through)
        return dropped

    def ship_behind(self) -> None:
        """Ship in the background (the async_replication bug), by one task that keeps going while
        it makes progress: a task per batch would send the same tail many times over at once."""
        if self._shipper is None or self._shipper.done():
            self._shipper = asyncio.create_task(self._ship_while_progressing())

    async def _ship_while_progressing(self) -> None:
        """Keep shipping until the standby has everything. A busy or slow standby (503 BUSY, a
        piece timed out) is tried again after a pause, as an async replicator does; only a standby
        that confirmed nothing for SHIPPER_PATIENCE rounds in a row is left for the next commit."""
        idle = 0
        for _ in range(100_000):  # bounded, and ended by the patience below
            before = self.peer_acked
            if self.role != "primary" or await self.ship():
                return
            idle = 0 if self.peer_acked > before else idle + 1
            if idle >= SHIPPER_PATIENCE:
                return
            if idle:
                await asyncio.sleep(SHIPPER_PAUSE_S)

    async def ship(self, standby_last_seq: int | None = None) -> bool:
        """Send the standby everything it lacks (from ``standby_last_seq`` when given), in pieces,
        one shipment at a time; True when it confirmed all of it."""
        async with self.ship_lock:
            if standby_last_seq is not None:
                self.peer_acked = standby_last_seq
            until = time.monotonic() + SHIP_BUDGET_S
            for _ in range(10_000):  # bounded; the time budget ends it first
                pending = self.store.after(self.peer_acked, SHIP_CHUNK)
                if not pending:
                    self.blocked = False
                    return True
                if time.monotonic() > until or not await self._ship_piece(piece(pending)):
                    return False
            return False

    async def _ship_piece(self, records: list[dict[str, Any]]) -> bool:
        """One /replicate; True when the standby answered (it may still lack later records)."""
        try:
            status, body = await self.peer.post("/replicate", {"epoch": self.epoch, "records": records})
        except (PeerUnavailable, PeerTimeout):
            return False
        if status == 409 and (body or {}).get("error", {}).get("code") == "FENCED" and not self.cfg.has_bug("no_fencing"):
            self.become("fenced", self.epoch)
            return False
        if status != 200:
            return False
        self.peer_acked = int(body["last_seq"])
        self.blocked = self.peer_acked < self.store.last_seq
        return True

    async def append(self, request: web.Request) -> web.Response:
        body = await read_json(request)
        records = body.get("records")
        if not isinstance(records, list) or not records or not all(isinstance(r, dict) for r in records):
            raise ApiError(400, "BAD_REQUEST", "records must be a non-empty list of objects")
        futures = []
        for record in records:
            future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
            self.queue.put_nowait((record, future))
            futures.append(future)
        results = await asyncio.gather(*futures)
        return json_response({"results": results})

    # ---- replication and roles ---------------------------------------------------------------
    async def replicate(self, request: web.Request) -> web.Response:
        if self.replications_waiting >= REPLICATION_QUEUE:
            raise ApiError(503, "BUSY", "replications already waiting here; send again later")
        self.replications_waiting += 1
        try:
            async with self.replication_turn:  # bodies are read one at a time, not all at once
                return await self._replicate(request)
        finally:
            self.replications_waiting -= 1

    async def _replicate(self, request: web.Request) -> web.Response:
        body = await read_json(request)
        epoch = int(body.get("epoch", 0))
        async with self.epoch_lock:
            if epoch < self.epoch and not self.cfg.has_bug("no_fencing"):
                raise ApiError(409, "FENCED", f"sender epoch {epoch} < {self.epoch}")
            if self.role == "primary" and epoch == self.epoch and not self.cfg.has_bug("no_fencing"):
                raise ApiError(409, "FENCED", "two primaries at one epoch")
            if epoch > self.epoch or self.role == "fenced":
                self.become("standby", max(epoch, self.epoch))
            last = await asyncio.to_thread(self.store.apply_replicated, body.get("records", []))
            return json_response({"last_seq": last, "epoch": self.epoch})

    async def promote(self, request: web.Request) -> web.Response:
        body = await read_json(request)
        epoch = int(body.get("epoch", 0))
        async with self.epoch_lock:  # after any replication in flight, before the next one
            if epoch <= self.epoch and self.role == "primary":
                return json_response({"last_seq": self.store.last_seq, "epoch": self.epoch})
            self.solo = True
            self.peer_acked = self.store.last_seq
            self.become("primary", epoch)
            self.failovers.append({"time": self.clock.now(), "to": self.name, "epoch": epoch,
                                   "keep_through_seq": self.store.last_seq})
        await self.renew()  # the witness granted this epoch a lease just now: hold it from the start
        return json_response({"last_seq": self.store.last_seq, "epoch": epoch})

    async def demote_handler(self, request: web.Request) -> web.Response:
        body = await read_json(request)
        epoch = int(body.get("epoch", 0))
        async with self.epoch_lock:
            if epoch < self.epoch:
                raise ApiError(409, "FENCED", f"demote at old epoch {epoch} < {self.epoch}")
            self.demote(epoch, body.get("keep_through_seq"))
            return json_response({"last_seq": self.store.last_seq, "epoch": self.epoch, "role": self.role})

    async def resync(self, request: web.Request) -> web.Response:
        """The coordinator says our old primary is back as standby: replicate to it again."""
        body = await read_json(request)
        if not self.ship_lock.locked():  # else a shipment in flight is already bringing it up to date
            was_solo = self.solo
            self.solo = False  # from now on every write waits for the standby ...
            if not await self.ship(int(body.get("last_seq", 0))):
                self.solo = was_solo
            elif was_solo:  # ... which has everything: promotable again
                await self.tell_synced()
        return json_response({"solo": self.solo, "peer_acked": self.peer_acked})

    # ---- reads -----------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return {"node": self.name, "role": self.role, "epoch": self.epoch, "last_seq": self.store.last_seq,
                "acked_seq": self.peer_acked, "solo": self.alone, "blocked": self.blocked,
                "leased": self.role == "primary" and self.leased()}

    async def state_handler(self, _: web.Request) -> web.Response:
        return json_response(self.state())

    async def records(self, request: web.Request) -> web.Response:
        try:
            after = int(request.query.get("after", "0"))
            limit = int(request.query["limit"]) if "limit" in request.query else None
        except ValueError:
            raise ApiError(400, "BAD_REQUEST", "after and limit must be integers") from None
        return json_response({"records": self.store.after(after, limit), **self.state()})

    async def balances(self, _: web.Request) -> web.Response:
        last_seq, balances = (self.balance_cache or self.store).balances_through()
        return json_response({"time": self.clock.now(), "node": self.name, "epoch": self.epoch, "last_seq": last_seq,
                              "balances": balances})

    async def audit_discarded(self, _: web.Request) -> web.Response:
        """What this node wrote and later dropped (fenced, or demoted after a failover)."""
        return json_response({"node": self.name, "epoch": self.epoch, "records": self.store.discarded})

    async def audit_ledger(self, request: web.Request) -> web.StreamResponse:
        """The whole journal; ``?format=jsonl`` streams it as a header line, then one record per
        line, so neither side holds a soak's journal as one JSON document."""
        if request.query.get("format") != "jsonl":
            return json_response({"node": self.name, "epoch": self.epoch, "records": self.store.records})
        records = self.store.after(0)  # a snapshot of the list: appends after this are not sent
        response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        await response.prepare(request)
        await response.write(orjson.dumps({"node": self.name, "epoch": self.epoch}) + b"\n")
        for start in range(0, len(records), 1000):
            await response.write(b"".join(orjson.dumps(r) + b"\n" for r in records[start:start + 1000]))
        await response.write_eof()
        return response

    def audit_events(self, types: tuple[str, ...]) -> Any:
        async def handler(_: web.Request) -> web.Response:
            events = [{"time": r["time"], **e, "seq": r["seq"], "epoch": r["epoch"], "client_id": r["client_id"]}
                      for r in self.store.records for e in r.get("events", []) if e.get("type") in types]
            return json_response({"events": events})

        return handler

    async def audit_replication(self, _: web.Request) -> web.Response:
        return json_response({**self.state(), "failovers": self.failovers})


async def build(cfg: ServiceConfig) -> web.Application:
    ref: dict[str, LedgerNode] = {}
    app = make_app(cfg, health=lambda: {"role": ref["n"].role, "epoch": ref["n"].epoch})
    node = LedgerNode(cfg, app["clock"])
    ref["n"] = node
    app.on_startup.append(node.start)
    app.on_cleanup.append(node.stop)
    app.router.add_post("/append", node.append)
    app.router.add_post("/replicate", node.replicate)
    app.router.add_post("/promote", node.promote)
    app.router.add_post("/demote", node.demote_handler)
    app.router.add_post("/resync", node.resync)
    app.router.add_get("/state", node.state_handler)
    app.router.add_get("/records", node.records)
    app.router.add_get("/balances", node.balances)
    app.router.add_get("/audit/balances", node.balances)
    app.router.add_get("/audit/ledger", node.audit_ledger)
    app.router.add_get("/audit/replication", node.audit_replication)
    app.router.add_get("/audit/discarded", node.audit_discarded)
    for name, types in AUDIT_EVENTS.items():
        app.router.add_get(f"/audit/{name}", node.audit_events(types))
    app["metrics"].gauges["ledger_last_seq"] = lambda: float(node.store.last_seq)
    return switched_off(app, cfg)
