"""Matching rebuilds its state from the journal after a failed journal write; the rebuilt books
must be what the journal says, including the writes whose fate the journal only settles after
the failure (seen on random-mix seed 3: a paused ledger-a, cancels acked after the rebuild had
read the journal, the cancelled orders still resting in the books)."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

from targets.umref.book import Exchange
from targets.umref.config import RiskBudget, ServiceConfig
from targets.umref.service import Clock, PeerTimeout
from targets.umref.services.matching import Matching

NOW = 1_796_300_000.0


class FakeLedger:
    """The ledger as matching's client sees it. ``held``: appends wait (a paused primary);
    ``lose_answers``: an append times out, yet the request sits in the stopped ledger's socket and
    is written once the ledger runs again, after the next read it serves."""

    def __init__(self) -> None:
        self.stored: list[dict[str, Any]] = []
        self.held = asyncio.Event()
        self.held.set()
        self.lose_answers = False
        self.buffered: list[dict[str, Any]] = []
        self.reads = 0

    def store(self, record: dict[str, Any]) -> dict[str, Any]:
        """A client id is written at most once, as the real ledger does."""
        if (old := next((r for r in self.stored if r["client_id"] == record["client_id"]), None)) is not None:
            return {"client_id": record["client_id"], "seq": old["seq"], "status": "duplicate"}
        self.stored.append({**record, "seq": len(self.stored) + 1})
        return {"client_id": record["client_id"], "seq": len(self.stored), "status": "ok"}

    async def append(self, record: dict[str, Any]) -> dict[str, Any]:
        if self.lose_answers:
            self.buffered.append(record)
            raise PeerTimeout("ledger-a/append: no answer within 3.0s")
        await self.held.wait()
        return self.store(record)

    async def records(self, after: int = 0) -> list[dict[str, Any]]:
        self.reads += 1
        answer = [dict(r) for r in self.stored if r["seq"] > after]
        for record in self.buffered:  # the resumed ledger gets to the old request after this read
            self.store(record)
        self.buffered.clear()
        return answer

    async def close(self) -> None:
        return None


def config() -> ServiceConfig:
    return ServiceConfig(name="matching", host="127.0.0.1", port=0,
                         peers={"margin": "http://127.0.0.1:9", "ledger-a": "http://127.0.0.1:9",
                                "ledger-b": "http://127.0.0.1:9"},
                         bugs=(), risk=RiskBudget(), price_seed=1, data_dir="", accounts=(), region="A")


def order_record(client_id: str, qty: str = "0.010") -> dict[str, Any]:
    record = Exchange().decide_order("acct000", client_id, "BTCUSDT", "SELL", "LIMIT", Decimal(qty),
                                     Decimal("50000.00"), False, NOW, move_custody=True)
    return {**record, "answer": {"order_id": f"o-{client_id}", "status": "NEW", "filled_qty": "0", "trades": []}}


def resting(ex: Exchange) -> dict[str, dict[str, list[dict[str, Any]]]]:
    return {symbol: book.resting() for symbol, book in ex.books.items()}


def journal_books(ledger: FakeLedger) -> dict[str, dict[str, list[dict[str, Any]]]]:
    ex = Exchange()
    for record in ledger.stored:
        ex.apply(record)
    return resting(ex)


async def started(ledger: FakeLedger) -> Matching:
    m = Matching(config(), Clock())
    m.ledger = ledger  # type: ignore[assignment]
    await m.rebuild(deadline_s=1)
    return m


async def until_rebuilt(m: Matching, ledger: FakeLedger, reads: int) -> None:
    for _ in range(200):  # bounded: 10 s
        if m.broken is None and ledger.reads >= reads:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"matching still broken: {m.broken}")


def test_a_cancel_acked_while_the_state_is_rebuilt_is_in_the_rebuilt_books() -> None:
    async def run() -> None:
        ledger = FakeLedger()
        ledger.store(order_record("c1"))
        m = await started(ledger)
        assert "o-c1" in m.ex.orders
        ledger.held.clear()  # the primary is paused: the cancel's append waits
        cancel = m.ex.decide_cancel("acct000", "c2", "o-c1", NOW + 1)
        acked = asyncio.create_task(m.commit(cancel, {"order_id": "o-c1", "status": "CANCELED"}))
        await asyncio.sleep(0)
        m._break("another write's append timed out")  # the rebuild starts while the cancel is in flight
        await asyncio.sleep(0.5)
        ledger.held.set()  # the primary runs again and writes the cancel
        assert (await acked).status == 200
        await until_rebuilt(m, ledger, reads=2)
        assert "o-c1" not in m.ex.orders
        assert resting(m.ex) == journal_books(ledger)

    asyncio.run(run())


def test_a_timed_out_write_that_lands_later_is_in_the_rebuilt_books() -> None:
    async def run() -> None:
        ledger = FakeLedger()
        m = await started(ledger)
        ledger.lose_answers = True
        answer = await m.commit(order_record("c3"), order_record("c3")["answer"])
        assert answer.status == 504  # outcome unknown, and matching rebuilds
        retried = await m.replay_or_none("c3")
        assert retried is not None and retried.status == 504  # still unknown, never a 200 from memory
        ledger.lose_answers = False
        await until_rebuilt(m, ledger, reads=2)
        assert [r["client_id"] for r in ledger.stored] == ["c3"]
        assert resting(m.ex) == journal_books(ledger)
        settled = await m.replay_or_none("c3")
        assert settled is not None and settled.status == 200  # the journal has it: now it is acked

    asyncio.run(run())


def test_a_write_the_ledger_refused_is_not_acked_on_a_retry_before_the_rebuild() -> None:
    async def run() -> None:
        ledger = FakeLedger()
        m = await started(ledger)

        async def refuse(record: dict[str, Any]) -> dict[str, Any]:
            return {"client_id": record["client_id"], "seq": None, "status": "rejected", "error": "overdraw"}

        ledger.append = refuse  # type: ignore[method-assign]
        answer = await m.commit(order_record("c4"), order_record("c4")["answer"])
        assert answer.status == 409
        retried = await m.replay_or_none("c4")
        assert retried is not None and retried.status == 409
        del ledger.append
        await until_rebuilt(m, ledger, reads=2)
        assert await m.replay_or_none("c4") is None  # not in the journal: a retry is a new request
        assert "o-c4" not in m.ex.orders

    asyncio.run(run())
