"""single_active_matching: one UM matching engine accepts writes at a time, across a failover of
the whole UM stack from one region to a standby in another (a new epoch); never two at once.

Evidence, in this order. From the clients (the history): every acknowledged UM write (``um_order``,
``transfer``, ``leverage``, and a ``cancel`` of a UM order a client placed: each a write only the
active engine may accept; spot orders and their cancels are not UM's), with the gateway that
answered it (``value["via"]`` on its completion), its invoke time and its completion time. Two
engines accepted writes at once if an ok write via region R1 was sent after an ok write via R2 was
answered, and another ok write via R2 was sent after that R1 write was answered (R2, R1, R2 in
turn; one switch, A then B, is a failover). From the harness: the region of each gateway and
engine (the topology facts of the run, ``audit["config"]["topology"]["region_of"]``). From the
target, cross-examined: the journal's records with a ``writer`` (the engine that wrote each).

- The journal alone: one writer per epoch, and in seq order no record at a lower epoch than an
  earlier one (a deposed engine writing after the new one). Either is a ``fail``: the target's own
  records contradict single-active.
- What the ledger nodes discarded (``audit["discarded"]``, a deposed primary's dropped tail): a
  record a node had acknowledged (``acked``), by an engine, at an epoch below one another engine
  had already written at by then (its time after that epoch's first record). Two engines accepted
  writes at once even though one side's were dropped afterwards and no client saw both.
- Each acknowledged write against its own record (by client id): its writer must be in the region
  of the gateway that answered (a gateway answers for its own region's engine, as umref's front
  does). A mismatch fails only when the two disagree clearly: the client id was sent once (no
  retry another gateway could have answered from the first attempt's record), one record carries
  it (not a write committed in parts), and both the gateway and the writer are in the topology.
- Each R2, R1, R2 interleaving, by its middle write and the nearest R2 writes around it (the last
  answered before it was sent, the first sent after it was answered), against their records:
  writers in the regions that answered and the middle record at an epoch strictly between the
  other two is a fail-over and back (passes); any other epochs confirm two engines at once
  (``fail``); a record missing, without a writer, or whose writer's region is not the gateway's
  (not clearly) leaves it ``unknown``, with the reason.

No acknowledged UM write, or none saying which gateway answered: ``unknown``. Writes without
``via`` are counted, not judged. A journal naming no writer at all with no interleaving passes
on the clients alone, and says so.
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from harness.audit import JournalRecord
from harness.checks.base import Audit, CheckResult, Evidence
from harness.checks.common import (
    UM_WRITE_KINDS,
    in_seq_order,
    journal_parts,
    missing,
    pair_completions,
    parts_of,
    region_of,
    unknown,
)
from harness.history import History, Op

__all__ = ["single_active_matching"]
NAME = "single_active_matching"
KINDS = (*UM_WRITE_KINDS, "cancel")  # what only the active engine may accept
Parts = tuple[dict[str, Any], dict[str, list[Any]]]  # as journal_parts gives them
Outcome = Literal["confirmed", "unresolved"]


@dataclass(frozen=True)
class Write:
    """One acknowledged UM write as its client saw it: its invoke and ok ops, and the gateway that
    answered it with that gateway's region."""

    invoke: Op
    done: Op
    via: str
    region: str

    @property
    def client_id(self) -> str:
        return str(self.invoke.value.get("client_id"))


@dataclass(frozen=True)
class Interleaving:
    """Writes via R2, R1, R2 in turn: ``middle`` sent after ``before`` was answered, ``after`` sent
    after ``middle`` was answered."""

    before: Write
    middle: Write
    after: Write

    def describe(self) -> str:
        b, m, a = self.before, self.middle, self.after
        return (f"ok writes via {b.region}, {m.region}, {b.region} in turn: op {b.done.index} ({b.via}) answered "
                f"before op {m.done.index} ({m.via}) was sent, op {a.done.index} ({a.via}) sent after it was answered")


def _acked(history: History, audit: Audit) -> tuple[list[Write], int]:
    """The acknowledged UM writes whose gateway is in the topology, and how many others there were."""
    pairs = [(i, c) for i, c in pair_completions(history, KINDS) if c is not None and c.type == "ok"]
    um_orders = {body.get("order_id") for i, c in pairs
                 if i.f == "um_order" and isinstance(body := c.value.get("body"), dict)} - {None}
    writes: list[Write] = []
    unplaced = 0
    for invoke, done in pairs:
        if invoke.f == "cancel" and invoke.value.get("order_id") not in um_orders:
            continue  # a spot order's cancel, or one no client placed as a UM order
        via = done.value.get("via")
        region = region_of(audit, via) if isinstance(via, str) else None
        if region is None:
            unplaced += 1
        else:
            writes.append(Write(invoke, done, str(via), region))
    return writes, unplaced


def _interleavings(writes: list[Write]) -> list[Interleaving]:
    """Every write answered between writes of another region, with its nearest neighbours there."""
    by_region: dict[str, list[Write]] = {}
    for w in writes:
        by_region.setdefault(w.region, []).append(w)
    answered = {r: sorted(ws, key=lambda w: w.done.time) for r, ws in by_region.items()}
    sent = {r: sorted(ws, key=lambda w: w.invoke.time) for r, ws in by_region.items()}
    answered_at = {r: [w.done.time for w in ws] for r, ws in answered.items()}
    sent_at = {r: [w.invoke.time for w in ws] for r, ws in sent.items()}
    found: list[Interleaving] = []
    for middle in writes:
        for other in by_region:
            if other == middle.region:
                continue
            i = bisect.bisect_left(answered_at[other], middle.invoke.time)  # answered strictly before it was sent
            j = bisect.bisect_right(sent_at[other], middle.done.time)  # sent strictly after it was answered
            if i > 0 and j < len(sent_at[other]):
                found.append(Interleaving(answered[other][i - 1], middle, sent[other][j]))
    return found


def _dropped_after_takeover(discarded: Any, writers: Mapping[int, Mapping[str, JournalRecord]]) -> list[Evidence]:
    """Acknowledged records a deposed node dropped, written by an engine after another engine had
    begun writing at a higher epoch (split brain whose losing side was truncated)."""
    if not isinstance(discarded, list):
        return []
    bad: list[Evidence] = []
    for r in discarded:
        if not (isinstance(r, dict) and r.get("acked") is True and r.get("writer")):
            continue
        epoch, at = int(r.get("epoch") or 0), float(r.get("time") or 0.0)
        later = [first for e, firsts in writers.items() if e > epoch for w, first in firsts.items()
                 if w != r["writer"] and first.time < at]
        if later:
            first = min(later, key=lambda x: x.time)
            bad.append(Evidence(f"{r.get('node')} acknowledged record {r.get('seq')} ({r.get('kind')} "
                                f"{r.get('client_id')}) by {r['writer']} at epoch {epoch}, {at - first.time:.3f} s after "
                                f"{first.writer} wrote record {first.seq} at epoch {first.epoch}, then discarded it: "
                                "two engines at once, the losing side's writes dropped", at, records=(first.seq,)))
    return bad


def _journal_rules(journal: Iterable[JournalRecord]) -> tuple[list[Evidence], dict[int, dict[str, JournalRecord]]]:
    """The journal's engine records against single-active: a second writer in an epoch, a record
    at an epoch below one written before it; and each epoch's writers (with their first records)."""
    writers: dict[int, dict[str, JournalRecord]] = {}
    bad: list[Evidence] = []
    top: JournalRecord | None = None  # the earliest record at the highest epoch so far
    for r in journal:
        if not r.writer:
            continue
        writers.setdefault(r.epoch, {}).setdefault(r.writer, r)
        if top is not None and r.epoch < top.epoch:
            bad.append(Evidence(f"record {r.seq} ({r.kind} {r.client_id}) by {r.writer} at epoch {r.epoch} follows "
                                f"record {top.seq} by {top.writer} at epoch {top.epoch}: a deposed engine wrote after "
                                "the new one", r.time, records=(top.seq, r.seq)))
        elif top is None or r.epoch > top.epoch:
            top = r
    for epoch, firsts in sorted(writers.items()):
        if len(firsts) > 1:
            named = ", ".join(f"{w} (first record {r.seq})" for w, r in firsts.items())
            bad.append(Evidence(f"epoch {epoch} has {len(firsts)} writers: {named}", min(r.time for r in firsts.values()),
                                records=tuple(r.seq for r in firsts.values())))
    return bad, writers


@dataclass(frozen=True)
class Written:
    """A write's own journal record (None: none under its client id), its writer's region (None: no
    writer, or one not in the topology), and whether a disagreement with its gateway would be clear."""

    record: JournalRecord | None
    region: str | None
    clear: bool


def _written(writes: list[Write], history: History, journal: list[JournalRecord], audit: Audit) -> dict[int, Written]:
    """Each write's record, by the index of its ok op."""
    sends = Counter(op.value.get("client_id") for op in history.of(*KINDS) if op.type == "invoke")
    parts: Parts = journal_parts(history, journal, {w.client_id for w in writes})
    out: dict[int, Written] = {}
    for w in writes:
        record: JournalRecord | None = parts[0].get(w.client_id)
        region = region_of(audit, record.writer) if record is not None and record.writer else None
        clear = sends[w.client_id] == 1 and len(parts_of(w.client_id, parts)) == 1
        out[w.done.index] = Written(record, region, clear)
    return out


def _mismatches(writes: list[Write], written: Mapping[int, Written]) -> list[Evidence]:
    """Writes a gateway answered for its region whose record another region's engine clearly wrote."""
    bad: list[Evidence] = []
    for w in writes:
        if (o := written[w.done.index]).clear and o.region is not None and o.region != w.region and o.record is not None:
            bad.append(Evidence(f"op {w.done.index} ({w.invoke.f} {w.client_id}) was answered by {w.via} (region "
                                f"{w.region}) but record {o.record.seq} was written by {o.record.writer} (region "
                                f"{o.region}) at epoch {o.record.epoch}: the gateway answered for a region whose "
                                "engine did not write it", w.done.time, (w.invoke.index, w.done.index), (o.record.seq,)))
    return bad


def _judge(t: Interleaving, written: Mapping[int, Written]) -> tuple[Outcome, Evidence] | None:
    """An interleaving against the journal: two engines at once confirmed, or unresolved (with why);
    None: a fail-over and back, at successive epochs."""
    trio = (t.before, t.middle, t.after)
    seen = [written[w.done.index] for w in trio]
    ops = tuple(w.done.index for w in trio)
    seqs = tuple(o.record.seq for o in seen if o.record is not None)
    if blind := [w.done.index for w, o in zip(trio, seen, strict=True) if o.region is None]:
        why = f"the journal names no writer in the topology for op(s) {', '.join(map(str, blind))}"
        return "unresolved", Evidence(f"{t.describe()}; {why}", t.middle.invoke.time, ops, seqs)
    if off := [w.done.index for w, o in zip(trio, seen, strict=True) if o.region != w.region]:
        why = f"the journal's writer is not in the answering gateway's region for op(s) {', '.join(map(str, off))}"
        return "unresolved", Evidence(f"{t.describe()}; {why}", t.middle.invoke.time, ops, seqs)
    records = [o.record for o in seen if o.record is not None]
    if records[0].epoch < records[1].epoch < records[2].epoch:
        return None
    written_by = ", ".join(f"record {r.seq} by {r.writer} at epoch {r.epoch}" for r in records)
    return "confirmed", Evidence(f"{t.describe()}; the journal confirms two engines at once: {written_by}",
                                 t.middle.invoke.time, ops, seqs)


def _failovers(in_order: list[Write]) -> int:
    """Switches of the answering region, in the order of the answers: a write via another region
    sent after the current region's last answer (writes in flight across a switch do not count)."""
    switches, current, last = 0, "", 0.0
    for w in in_order:
        if w.region == current:
            last = w.done.time
        elif not current or w.invoke.time > last:
            switches += bool(current)
            current, last = w.region, w.done.time
    return switches


def _figures(writes: list[Write], unplaced: int, writers: Mapping[int, Mapping[str, JournalRecord]],
             judged: Mapping[Outcome, list[Evidence]], successive: int, mismatches: int) -> dict[str, Any]:
    in_order = sorted(writes, key=lambda w: w.done.time)
    by_region: dict[str, list[Write]] = {}
    for w in in_order:
        by_region.setdefault(w.region, []).append(w)
    return {"ok_writes_by_region": {r: len(ws) for r, ws in sorted(by_region.items())},
            "ok_writes_without_via": unplaced,
            "first_last_ok_by_region": {r: [round(ws[0].done.time, 3), round(ws[-1].done.time, 3)]
                                        for r, ws in sorted(by_region.items())},
            "writers_by_epoch": {str(e): sorted(ws) for e, ws in sorted(writers.items())},
            "failovers_seen": _failovers(in_order),
            "interleavings": successive + sum(map(len, judged.values())),
            "interleavings_at_successive_epochs": successive,
            "via_writer_mismatches": mismatches}


def single_active_matching(history: History, audit: Audit) -> CheckResult:
    if absent := missing(audit, "journal"):
        return unknown(NAME, absent, audit)
    journal = in_seq_order(history, audit)
    bad, writers = _journal_rules(journal)
    bad += _dropped_after_takeover(audit.get("discarded"), writers)
    writes, unplaced = _acked(history, audit)
    written = _written(writes, history, journal, audit)
    mismatches = _mismatches(writes, written)
    judged: dict[Outcome, list[Evidence]] = {"confirmed": [], "unresolved": []}
    successive = 0
    for t in _interleavings(writes):
        if (verdict := _judge(t, written)) is None:
            successive += 1
        else:
            judged[verdict[0]].append(verdict[1])
    bad += mismatches + judged["confirmed"]
    figures = _figures(writes, unplaced, writers, judged, successive, len(mismatches))
    if bad:
        return CheckResult(NAME, False, f"{len(bad)} sign(s) of two matching engines accepting writes at once: "
                                        f"{bad[0].text}", tuple(bad[:50]), figures)
    if not writes:
        why = f"none of {unplaced} says which gateway answered it (via)" if unplaced else "there is none"
        return CheckResult(NAME, "unknown", f"no acknowledged UM write to judge by its gateway: {why}", figures=figures)
    if unresolved := judged["unresolved"]:
        return CheckResult(NAME, "unknown", f"{len(unresolved)} interleaving(s) of regions the journal cannot settle: "
                                            f"{unresolved[0].text}", tuple(unresolved[:50]), figures)
    return CheckResult(NAME, True, _one_at_a_time(figures, unplaced, bool(writers)), figures=figures)


def _one_at_a_time(figures: Mapping[str, Any], unplaced: int, writers_named: bool) -> str:
    regions = ", ".join(f"{r} {n} ok write(s)" for r, n in figures["ok_writes_by_region"].items())
    epochs = "; ".join(f"epoch {e}: {', '.join(ws)}" for e, ws in figures["writers_by_epoch"].items())
    text = (f"one engine at a time: {regions}, {figures['failovers_seen']} failover(s) seen, "
            f"{figures['interleavings_at_successive_epochs']} write(s) between others' at successive epochs; ")
    text += f"writers by {epochs}" if writers_named else "the journal names no writer: judged on the clients alone"
    return text + (f"; {unplaced} ok write(s) without a gateway in the topology not judged" if unplaced else "")
