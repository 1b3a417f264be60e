"""resting_orders_preserved: every resting UM order the clients placed is in the books after the
run with the quantity their acks, their cancels and the journal's fills leave; and no resting
order was filled or cancelled (other than by its owner) while UM was halted.

Evidence, most trusted first:
- client history: UM orders acknowledged as resting (``order_id``, ``status`` NEW or
  PARTIALLY_FILLED, ``filled_qty``; the quantity and price from the request), cancels
  acknowledged to the clients, and the ``UM_HALTED`` refusals that vouch for a halt. An order or
  a cancel whose outcome the client does not know (``info``) is not judged: it may or may not be
  in the book.
- the harness itself: the faults it injected that should halt UM; with no claimed halt
  covering one, the span it kept UM due to be halted is judged as a halt (never vacuous).
- the target: the journal's trade and cancel events (what reduced an order) and the books after
  the run (``/audit/books``), cross-examined against the acks: an order missing from the books,
  or resting with another quantity, with no journal record explaining it, is a violation; and
  ``/audit/halts`` for the claimed halts."""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

from harness.checks.base import Audit, CheckResult, Evidence
from harness.checks.common import (
    Interval,
    fault_windows,
    halt_budget_s,
    halt_intervals,
    in_seq_order,
    merge,
    missing,
    pair_completions,
    risk_of,
    unknown,
)
from harness.history import History

__all__ = ["resting_orders_preserved"]
NAME = "resting_orders_preserved"
RESTING = ("NEW", "PARTIALLY_FILLED")


@lru_cache(maxsize=4096)
def _qty(text: str) -> Decimal:
    """A quantity's text as a number, parsed once: a soak's journal repeats a few of them."""
    return Decimal(text)


def _dec(value: Any) -> Decimal | None:
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


def resting_orders_preserved(history: History, audit: Audit) -> CheckResult:
    if absent := missing(audit, "journal", "books"):
        return unknown(NAME, absent, audit)
    journal = in_seq_order(audit)
    books = audit["books"]
    compared = _books_against_acks(history, journal, books)
    figures: dict[str, Any] = {"acked_resting": compared.placed, "judged_in_books": compared.judged}
    if audit.get("halts") is None:
        if compared.found:
            return CheckResult(NAME, False, f"{len(compared.found)} client order(s) not as the books show: "
                                            f"{compared.found[0].text}", compared.found[:50], figures)
        return unknown(NAME, ["halts"], audit)
    halts, due = _halts_to_judge(history, audit)
    during, snapshots = _changed_during_halts(history, journal, halts)
    figures |= {"halts": len(halt_intervals(audit)), "halts_due_unrecorded": due, "resting_at_halt": [len(s) for s in snapshots]}
    found = [*compared.found, *during]
    if found:
        return CheckResult(NAME, False, f"{len(found)} resting order(s) changed or lost: {found[0].text}", tuple(found[:50]),
                           figures)
    unrecorded = f", {due} due halt(s) not recorded judged from the faults" if due else ""
    return CheckResult(NAME, True, f"{compared.judged} client-acked resting UM order(s) as the books show them; "
                                   f"{sum(map(len, snapshots))} resting order(s) kept through {len(halts)} halt(s){unrecorded}",
                       figures=figures)


@dataclass(frozen=True)
class BookComparison:
    found: tuple[Evidence, ...]
    placed: int  # UM orders the clients saw acknowledged as resting
    judged: int  # of them, those whose fate the clients know (no cancel of unknown outcome)


def _books_against_acks(history: History, journal: list[Any], books: dict[str, Any]) -> BookComparison:
    """Rebuild the resting orders from the clients' acks less their acked cancels and the
    journal's fills and cancels, and compare them with the books after the run."""
    found: list[Evidence] = []
    taken = float(books.get("time") or float("inf"))
    expected: dict[str, tuple[Decimal, int]] = {}  # order id -> (remaining, index of the ack)
    cancelled_by: dict[str, int] = {}  # order id -> index of the acked cancel's completion
    reduced_by: dict[str, list[int]] = {}  # order id -> seqs of the journal records that reduced it
    for invoke, done in pair_completions(history, ["um_order"]):
        body = done.value.get("body") if done is not None else None
        if done is None or done.type != "ok" or done.time > taken or not isinstance(body, dict):
            continue
        qty, filled = _dec(invoke.value.get("qty")), _dec(body.get("filled_qty") or "0")
        if (body.get("status") not in RESTING or not body.get("order_id") or invoke.value.get("price") is None
                or invoke.value.get("type", "LIMIT") != "LIMIT" or qty is None or filled is None):
            continue
        expected[str(body["order_id"])] = (qty - filled, done.index)
    placed = len(expected)
    unsure: set[str] = set()
    for invoke, done in pair_completions(history, ["cancel"]):
        oid = str(invoke.value.get("order_id"))
        if oid not in expected:
            continue
        if done is None or done.type == "info" or done.time > taken:
            unsure.add(oid)  # may or may not have been applied
        elif done.type == "ok":
            expected[oid] = (Decimal(0), expected[oid][1])  # gone: it must not rest any more
            cancelled_by[oid] = done.index
    for record in journal:
        if record.time > taken:
            continue
        for event in record.events:
            kind = event.get("type")
            if kind == "trade" and (oid := event.get("maker_order_id")) in expected:
                left, at = expected[oid]
                expected[oid] = (left - (_dec(event.get("qty")) or Decimal(0)), at)
                reduced_by.setdefault(oid, []).append(record.seq)
            elif kind == "cancel" and (oid := event.get("order_id")) in expected:
                expected[oid] = (Decimal(0), expected[oid][1])  # a recorded cancel; inside a halt judged below
                reduced_by.setdefault(oid, []).append(record.seq)
    resting: dict[str, Decimal | None] = {}
    for book in (books.get("books") or {}).values():
        for side in ("bids", "asks"):
            for order in book.get(side) or []:
                resting[str(order.get("order_id"))] = _dec(order.get("qty"))
    for oid, (left, at) in expected.items():
        if oid in unsure:
            continue
        shown = resting.get(oid)
        if left <= 0 and oid in resting:
            cancel = (cancelled_by[oid],) if oid in cancelled_by else ()
            found.append(Evidence(f"order {oid} filled or cancelled per the acks and the journal still rests with "
                                  f"{shown}", None, (at, *cancel), tuple(reduced_by.get(oid, ()))))
        elif left > 0 and oid not in resting:
            found.append(Evidence(f"order {oid} acked as resting, {left} left per the journal, is missing from the "
                                      "books, with no client cancel or journal record removing it", None, (at,)))
        elif left > 0 and shown != left:
            found.append(Evidence(f"order {oid} rests with {shown} in the books; {left} left per the acks and the "
                                      "journal's fills", None, (at,)))
    return BookComparison(tuple(found), placed, len(expected) - len(unsure & expected.keys()))


def _halts_to_judge(history: History, audit: Audit) -> tuple[list[Interval], int]:
    """The claimed halts, and for each fault that should have halted UM with no claimed halt
    covering it, the span it kept UM due to be halted (whether or not the target says so)."""
    claimed = halt_intervals(audit)
    risk = risk_of(audit)
    budget_s, healthy_s = halt_budget_s(risk), risk["healthy_for_ms"] / 1000
    due = [(f.start + budget_s, f.end + healthy_s) for f in fault_windows(history)
           if f.expect_um_halt and f.landed and f.end - f.start >= budget_s
           and not any(h.start <= f.start + budget_s and h.end > f.start for h in claimed)]
    spans = merge([(h.start, h.end) for h in claimed] + due)
    return [Interval(s, e) for s, e in spans], len(due)


def _changed_during_halts(history: History, journal: list[Any],
                          halts: list[Interval]) -> tuple[list[Evidence], list[dict[str, Decimal]]]:
    """Orders resting when a halt began that the journal shows filled, or cancelled other than by
    a cancel its owner sent for that very order (acked or of unknown outcome), inside it."""
    client_cancels = {op.value.get("client_id"): op.value.get("order_id") for op in history.of("cancel")
                      if op.type == "invoke"}
    resting: dict[str, Decimal] = {}
    snapshots: list[dict[str, Decimal]] = [{} for _ in halts]
    bad: list[Evidence] = []
    starts = [h.start for h in halts]  # sorted, the intervals disjoint: a bisect, not a scan per record
    ends = [h.end for h in halts]
    upcoming = 0
    for record in journal:
        t = record.time
        while upcoming < len(halts) and t >= halts[upcoming].start:
            snapshots[upcoming] = dict(resting)
            upcoming += 1
        # the first halt with start <= t <= end (closed): a record exactly at one halt's end and
        # the next one's start is in the first (inline: a call per record was a tenth of the check)
        i = bisect.bisect_right(starts, t) - 1
        during = i - 1 if i > 0 and t <= ends[i - 1] else i if i >= 0 and t <= ends[i] else None
        for event in record.events:
            kind, oid = event.get("type"), event.get("order_id")
            if kind == "order" and event.get("market") == "um" and event.get("price") is not None:
                resting[oid] = _qty(event["qty"])
            elif kind == "trade" and event.get("market") == "um":
                for side in ("maker_order_id", "taker_order_id"):
                    o = event[side]
                    if o in resting:
                        if during is not None and o in snapshots[during]:
                            bad.append(Evidence(f"resting order {o} filled ({event['qty']}) {t - halts[during].start:.3f} s "
                                                "into a halt", t, records=(record.seq,)))
                        resting[o] -= _qty(event["qty"])
                        if resting[o] <= 0:
                            del resting[o]
            elif kind == "cancel" and oid in resting:
                if during is not None and oid in snapshots[during] and client_cancels.get(record.client_id) != oid:
                    bad.append(Evidence(f"resting order {oid} cancelled (reason {event.get('reason')}) "
                                        f"{t - halts[during].start:.3f} s into a halt, not by a client's cancel of it",
                                        t, records=(record.seq,)))
                del resting[oid]
    return bad, snapshots
