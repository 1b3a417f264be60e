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

from harness.analysis import Interval, halt_intervals
from harness.checks.base import Audit, CheckResult, Evidence
from harness.checks.common import (
    fault_windows,
    halt_budget_s,
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
    """A number (its text, or a JSON number) as a Decimal; None if it is none."""
    return _dec_text(value if type(value) is str else str(value))


@lru_cache(maxsize=4096)
def _dec_text(text: str) -> Decimal | None:
    """Parsed once per text: a soak's acks repeat a few quantities."""
    try:
        return Decimal(text)
    except (InvalidOperation, ValueError):
        return None


def resting_orders_preserved(history: History, audit: Audit) -> CheckResult:
    if absent := missing(audit, "journal", "books"):
        return unknown(NAME, absent, audit)
    books = audit["books"]
    acks = _acked_resting(history, float(books.get("time") or float("inf")))
    claimed = audit.get("halts") is not None
    halts, due = _halts_to_judge(history, audit) if claimed else (None, 0)
    during, snapshots, reduced_by = _replay(history, in_seq_order(history, audit), acks, halts)
    compared = _books_against_acks(acks, reduced_by, books)
    figures: dict[str, Any] = {"acked_resting": acks.placed, "judged_in_books": compared.judged}
    if not claimed:
        if compared.found:
            return CheckResult(NAME, False, f"{len(compared.found)} client order(s) not as the books show: "
                                            f"{compared.found[0].text}", compared.found[:50], figures)
        return unknown(NAME, ["halts"], audit)
    figures |= {"halts": len(halt_intervals(audit)), "halts_due_unrecorded": due, "resting_at_halt": [len(s) for s in snapshots]}
    found = [*compared.found, *during]
    if found:
        return CheckResult(NAME, False, f"{len(found)} resting order(s) changed or lost: {found[0].text}", tuple(found[:50]),
                           figures)
    unrecorded = f", {due} due halt(s) not recorded judged from the faults" if due else ""
    return CheckResult(NAME, True, f"{compared.judged} client-acked resting UM order(s) as the books show them; "
                                   f"{sum(map(len, snapshots))} resting order(s) kept through {len(snapshots)} halt(s){unrecorded}",
                       figures=figures)


@dataclass(frozen=True)
class Acks:
    """The resting orders the clients' acks leave when the books were taken (``taken``): each
    order's quantity left (less its acked cancel; the journal's fills and cancels are taken off
    in ``_replay``) and the index of its ack."""

    taken: float
    expected: dict[str, tuple[Decimal, int]]  # order id -> (remaining, index of the ack)
    cancelled_by: dict[str, int]  # order id -> index of the acked cancel's completion
    unsure: set[str]  # orders a cancel of unknown outcome may have removed: not judged
    placed: int  # UM orders the clients saw acknowledged as resting


def _acked_resting(history: History, taken: float) -> Acks:
    expected: dict[str, tuple[Decimal, int]] = {}
    for invoke, done in pair_completions(history, ["um_order"]):
        if done is None or done.type != "ok" or done.time > taken:
            continue
        body, asked = done.value.get("body"), invoke.value
        if (not isinstance(body, dict) or body.get("status") not in RESTING or not body.get("order_id")
                or asked.get("price") is None or asked.get("type", "LIMIT") != "LIMIT"):
            continue
        qty, filled = _dec(asked.get("qty")), _dec(body.get("filled_qty") or "0")
        if qty is not None and filled is not None:
            expected[str(body["order_id"])] = (qty - filled, done.index)
    placed = len(expected)
    cancelled_by: dict[str, int] = {}
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
    return Acks(taken, expected, cancelled_by, unsure, placed)


@dataclass(frozen=True)
class BookComparison:
    found: tuple[Evidence, ...]
    judged: int  # of the acked resting orders, those whose fate the clients know (no cancel of unknown outcome)


def _books_against_acks(acks: Acks, reduced_by: dict[str, list[int]], books: dict[str, Any]) -> BookComparison:
    """The resting orders rebuilt from the clients' acks less their acked cancels and the
    journal's fills and cancels, compared with the books after the run."""
    found: list[Evidence] = []
    resting: dict[str, Decimal | None] = {}
    for book in (books.get("books") or {}).values():
        for side in ("bids", "asks"):
            for order in book.get(side) or []:
                resting[str(order.get("order_id"))] = _dec(order.get("qty"))
    for oid, (left, at) in acks.expected.items():
        if oid in acks.unsure:
            continue
        shown = resting.get(oid)
        if left <= 0 and oid in resting:
            cancel = (acks.cancelled_by[oid],) if oid in acks.cancelled_by else ()
            found.append(Evidence(f"order {oid} filled or cancelled per the acks and the journal still rests with "
                                  f"{shown}", None, (at, *cancel), tuple(reduced_by.get(oid, ()))))
        elif left > 0 and oid not in resting:
            found.append(Evidence(f"order {oid} acked as resting, {left} left per the journal, is missing from the "
                                      "books, with no client cancel or journal record removing it", None, (at,)))
        elif left > 0 and shown != left:
            found.append(Evidence(f"order {oid} rests with {shown} in the books; {left} left per the acks and the "
                                      "journal's fills", None, (at,)))
    return BookComparison(tuple(found), len(acks.expected) - len(acks.unsure & acks.expected.keys()))


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


def _replay(history: History, journal: list[Any], acks: Acks,
            halts: list[Interval] | None) -> tuple[list[Evidence], list[dict[str, Decimal]], dict[str, list[int]]]:
    """One pass over the journal for both halves: the fills and cancels it records take the acked
    resting orders down (in ``acks.expected``, up to when the books were taken; ``reduced_by``: the
    records that did); and the orders resting when a halt began that it shows filled, or cancelled
    other than by a cancel its owner sent for that very order (acked or of unknown outcome), inside
    it (``during``, with the orders resting at each halt's start); without a halt record, only the
    first half."""
    expected, taken, judging = acks.expected, acks.taken, halts is not None
    halts = halts or []
    reduced_by: dict[str, list[int]] = {}
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
        for event in record.events:
            kind = event.get("type")
            if kind == "order":
                if judging and event.get("market") == "um" and event.get("price") is not None:
                    resting[event.get("order_id")] = _qty(event["qty"])
            elif kind == "trade":
                if t <= taken and (oid := event.get("maker_order_id")) in expected:
                    left, at = expected[oid]
                    expected[oid] = (left - (_dec(event.get("qty")) or Decimal(0)), at)
                    reduced_by.setdefault(oid, []).append(record.seq)
                if judging and event.get("market") == "um":
                    bad += _filled(record, event, resting, snapshots, halts, _halt_at(t, starts, ends))
            elif kind == "cancel":
                if t <= taken and (oid := event.get("order_id")) in expected:
                    expected[oid] = (Decimal(0), expected[oid][1])  # a recorded cancel; inside a halt judged below
                    reduced_by.setdefault(oid, []).append(record.seq)
                if (oid := event.get("order_id")) in resting:
                    if ((during := _halt_at(t, starts, ends)) is not None and oid in snapshots[during]
                            and client_cancels.get(record.client_id) != oid):
                        bad.append(Evidence(f"resting order {oid} cancelled (reason {event.get('reason')}) "
                                            f"{t - halts[during].start:.3f} s into a halt, not by a client's cancel of "
                                            "it", t, records=(record.seq,)))
                    del resting[oid]
    return bad, snapshots, reduced_by


def _filled(record: Any, event: dict[str, Any], resting: dict[str, Decimal], snapshots: list[dict[str, Decimal]],
            halts: list[Interval], during: int | None) -> list[Evidence]:
    """A UM trade taken off the resting orders it filled; a violation for each that was resting
    when the halt it falls in began."""
    bad: list[Evidence] = []
    for side in ("maker_order_id", "taker_order_id"):
        o = event[side]
        if o in resting:
            if during is not None and o in snapshots[during]:
                bad.append(Evidence(f"resting order {o} filled ({event['qty']}) {record.time - halts[during].start:.3f} s "
                                    "into a halt", record.time, records=(record.seq,)))
            resting[o] -= _qty(event["qty"])
            if resting[o] <= 0:
                del resting[o]
    return bad


def _halt_at(t: float, starts: list[float], ends: list[float]) -> int | None:
    """The first halt with start <= t <= end (closed): a record exactly at one halt's end and the
    next one's start is in the first. Asked only of a record touching a resting order."""
    i = bisect.bisect_right(starts, t) - 1
    return i - 1 if i > 0 and t <= ends[i - 1] else i if i >= 0 and t <= ends[i] else None
