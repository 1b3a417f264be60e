"""no_acked_write_lost: every write a client saw acknowledged is in the journal, as the client
asked it, after recovery and failover (RPO 0); after a failover nothing was written at an old epoch.

Evidence. From the client history: each acknowledged write's request (account, symbol, side,
qty, price; asset, amount, from, to; the order to cancel; the leverage) and the order id its
answer gave. A journal record under the right client id whose content differs is a lie, not a
match. From the harness itself: which faults it injected, so a failover-relevant fault (one
touching ledger-a or region A) with no replication view to judge fencing by makes that half
``unknown``, not skipped. From the target: the journal, the replication view (failovers with their
epoch, time and ``keep_through_seq``) and, when it keeps them, the records a ledger node
discarded when it was fenced or demoted (``audit["discarded"]``): an acknowledged write found
only there was lost; one a deposed node wrote at its old epoch after the failover and
acknowledged (the client saw ok, or the node says so) is a fencing violation; any record a node
says it acknowledged and then discarded is a lost write. One it committed locally and rolled back
unacknowledged is how a fenced node should behave: counted, not judged."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from operator import itemgetter
from typing import Any

from harness.audit import JournalRecord
from harness.checks.base import Audit, CheckResult, Evidence
from harness.checks.common import (
    client_parts,
    fault_ops,
    fault_spans_touching,
    in_seq_order,
    journal_parts,
    missing,
    paired,
    parts_of,
    region_of,
    role_of,
    unknown,
)
from harness.history import History, Op
from harness.workload import WRITE_KINDS

__all__ = ["no_acked_write_lost"]
Parts = tuple[dict[str, Any], dict[str, list[Any]]]  # as journal_parts and client_parts give them
NAME = "no_acked_write_lost"
NUMERIC = ("qty", "price", "amount", "leverage")
# What an acknowledged write must be in the journal: the event type and the request fields it carries.
CONTENT: dict[str, tuple[str, tuple[str, ...]]] = {
    "um_order": ("order", ("account", "symbol", "side", "qty", "price")),
    "spot_order": ("order", ("account", "symbol", "side", "qty", "price")),
    "transfer": ("transfer", ("account", "asset", "amount", "from", "to")),
    "cancel": ("cancel", ("account", "order_id")),
    "leverage": ("leverage", ("account", "symbol", "leverage")),
}
GETTERS = {f: itemgetter(*fields) for f, (_, fields) in CONTENT.items()}
PLAIN = {f: (kind, GETTERS[f]) for f, (kind, _) in CONTENT.items()}  # one lookup per write


def _same(field: str, asked: Any, written: Any) -> bool:
    """Equal as the request and the record spell it, or as numbers ("0.0050" is "0.005")."""
    if asked == written:
        return True
    if field in NUMERIC:
        try:
            return Decimal(str(asked)) == Decimal(str(written))
        except InvalidOperation:
            return False
    return str(asked) == str(written)


def _expected(invoke: Op, done: Op) -> tuple[str, dict[str, Any]]:
    """The event an acknowledged write must have left: the request's fields (those it carried;
    a market order names no price) and the order id its answer gave."""
    kind, fields = CONTENT[invoke.f]
    value = invoke.value
    try:
        want = dict(zip(fields, GETTERS[invoke.f](value), strict=True))  # in C: a million writes
    except KeyError:
        want = {f: value.get(f) for f in fields}
    if None in want.values():
        want = {f: v for f, v in want.items() if v is not None}
    body = done.value.get("body")
    if kind == "order" and isinstance(body, dict) and (order_id := body.get("order_id")) is not None:
        want["order_id"] = order_id
    return kind, want


def _carries(events: Sequence[Mapping[str, Any]], kind: str, want: dict[str, Any]) -> bool:
    """Whether an event of this type holds these fields: spelled the same (compared in C), or as
    numbers equal."""
    for e in events:
        if e.get("type") == kind and (want.items() <= e.items() or all(_same(f, v, e.get(f)) for f, v in want.items())):
            return True
    return False


def _plainly(events: Sequence[Mapping[str, Any]], invoke: Op, done: Op) -> bool:
    """Whether an event holds the request's fields spelled exactly as asked (tuples compared in
    C): what nearly every record does. Anything else goes the slow way, numbers compared."""
    kind, getter = PLAIN[invoke.f]
    try:
        asked = getter(invoke.value)
    except KeyError:  # a field the request did not carry (a market order's price)
        return False
    order_id = None
    if kind == "order" and isinstance(body := done.value.get("body"), dict):
        order_id = body.get("order_id")
    for e in events:
        if e.get("type") == kind and (order_id is None or e.get("order_id") == order_id):
            try:
                if getter(e) == asked:
                    return True
            except KeyError:
                continue
    return False


def _acked(history: History) -> list[tuple[Op, Op]]:
    """(invoke, ok completion) of every acknowledged client write, paired by process, in the
    order of the acknowledgements."""
    return [pair for pair in paired(history, WRITE_KINDS).answered if pair[1].type == "ok"]


def _fencing(journal: list[JournalRecord], failovers: list[dict[str, Any]]) -> list[Evidence]:
    """Journal records past a failover's keep point at an epoch older than the failover's."""
    bad: list[Evidence] = []
    for failover in failovers:
        # The new primary held everything through keep_through_seq when it was promoted: a later
        # record at an older epoch was written by a deposed primary. Without that figure, fall back
        # to "after the first record of the new epoch".
        epoch = int(failover["epoch"])
        through = failover.get("keep_through_seq")
        if through is None:
            through = next((r.seq for r in journal if r.epoch >= epoch), None)
        if through is None:
            continue
        stale = [r for r in journal if r.seq > int(through) and r.epoch < epoch]
        bad += [Evidence(f"record {r.seq} ({r.kind} {r.client_id}) written at epoch {r.epoch} after the "
                         f"failover to epoch {epoch}", r.time, records=(r.seq,)) for r in stale[:20]]
    return bad


def _after_failover(record: Mapping[str, Any], failovers: list[dict[str, Any]]) -> int | None:
    """The epoch of a failover this discarded record was written after, at an older epoch."""
    for failover in failovers:
        epoch, t = int(failover.get("epoch", 0)), failover.get("time")
        if int(record.get("epoch") or 0) < epoch and isinstance(t, (int, float)) and float(record.get("time") or 0) > t:
            return epoch
    return None


def no_acked_write_lost(history: History, audit: Audit) -> CheckResult:
    if absent := missing(audit, "journal"):
        return unknown(NAME, absent, audit)
    journal = in_seq_order(history, audit)
    replication = audit.get("replication")
    failovers: list[dict[str, Any]] = list((replication or {}).get("failovers") or [])
    discarded: list[Mapping[str, Any]] = [d for d in audit.get("discarded") or [] if isinstance(d, Mapping)]

    acked = _acked(history)
    cids = [str(i.value.get("client_id")) for i, _ in acked]
    ids = set(cids)
    parts = journal_parts(history, journal, ids)
    dropped = client_parts(ids, [(str(d.get("client_id")), d) for d in discarded])
    own_record = parts[0]
    bad, lies, lost = _lost_or_altered(acked, cids, parts, dropped, failovers)
    bad += _fencing(journal, failovers)
    rolled_back = 0
    for d in discarded:  # the node's own admissions: a record it acknowledged, then dropped
        cid, epoch = str(d.get("client_id")), _after_failover(d, failovers)
        rolled_back += epoch is not None
        if d.get("acked") is True and cid not in ids and cid not in own_record:  # not a client's (judged above)
            fencing = f" after the failover to epoch {epoch} (fencing)" if epoch is not None else ""
            bad.append(Evidence(f"{d.get('node')} acknowledged {d.get('kind')} {cid} (seq {d.get('seq')}, epoch "
                                f"{d.get('epoch')}){fencing}, then discarded it: an acknowledged write lost",
                                float(d.get("time") or 0)))

    fenced_faults = fault_spans_touching(history, _failover_relevant(audit))
    figures = {"acked_writes": len(acked), "lost": lost, "content_differs": lies, "failovers": len(failovers),
               "discarded_records": len(discarded), "discarded_after_failover_at_old_epoch": rolled_back,
               "failover_relevant_faults": len(fenced_faults), "journal_node": audit.get("journal_node")}
    if bad:
        return CheckResult(NAME, False, f"{len(bad)} acknowledged write(s) lost or altered, or fenced writes "
                                        f"accepted: {bad[0].text}", tuple(bad[:50]), figures)
    written = f"all {len(acked)} acknowledged writes are in the journal with the content the clients asked"
    if replication is None and not _failover_relevant(audit) and any(
            op.value.get("landed") for op in fault_ops(history, "inject")):
        return CheckResult(NAME, "unknown", f"{written}, but fencing is not judged: no replication view, and the "
                                            "audit config names no primary ledger to tell whether a fault touched it",
                           figures=figures)
    if replication is None and fenced_faults:
        return CheckResult(NAME, "unknown", f"{written}, but fencing is not judged: no replication view, and "
                                            f"fault(s) {', '.join(f for _, _, f in fenced_faults)} touched the "
                                            "primary ledger or its region", figures=figures)
    if replication is None:
        fencing = "no failover-relevant fault, no replication view"
    else:
        kept = "" if "discarded" in audit and audit["discarded"] is not None else \
            " (the target keeps no discarded records: only the journal was searched)"
        fencing = (f"{len(failovers)} failover(s), no write at an old epoch{kept}; {rolled_back} discarded "
                   "record(s) at an old epoch after a failover, none acknowledged")
    return CheckResult(NAME, True, f"{written}; {fencing}", figures=figures)


def _lost_or_altered(acked: list[tuple[Op, Op]], cids: list[str], parts: Parts, dropped: Parts,
                     failovers: list[dict[str, Any]]) -> tuple[list[Evidence], int, int]:
    """Each acknowledged write against the journal: there with the content the client asked, else
    altered (``lies``) or absent (``lost``, with where a deposed node discarded it, if it did)."""
    own_record = parts[0]
    bad: list[Evidence] = []
    lies = lost = 0
    for (invoke, done), cid in zip(acked, cids, strict=True):
        if (own := own_record.get(cid)) is not None and _plainly(own.events, invoke, done):
            continue  # the common case: its own record, spelled as the client asked
        kind, want = _expected(invoke, done)
        ops = (invoke.index, done.index)
        if records := parts_of(cid, parts):
            if not any(_carries(r.events, kind, want) for r in records):
                lies += 1
                shown = [e for r in records for e in r.events if e.get("type") == kind] or \
                        [e for r in records for e in r.events]
                bad.append(Evidence(f"acknowledged {invoke.f} {cid} is in the journal with other content: asked "
                                    f"{want}, record(s) {sorted(r.seq for r in records)} hold {shown[:2]}", done.time, ops,
                                    tuple(r.seq for r in records)))
            continue
        lost += 1
        where = ""
        if gone := parts_of(cid, dropped):
            d = min(gone, key=lambda g: int(g.get("seq") or 0))
            where = (f"; only in the records {d.get('node')} discarded (seq {d.get('seq')}, epoch {d.get('epoch')}, "
                     f"{d.get('reason') or 'no reason given'})")
            if (epoch := _after_failover(d, failovers)) is not None:
                where += f": a deposed primary acknowledged it after the failover to epoch {epoch} (fencing)"
        bad.append(Evidence(f"acknowledged {invoke.f} {cid} is not in the journal{where}", done.time, ops))
    return bad, lies, lost


def _failover_relevant(audit: Audit) -> set[str]:
    """The home primary ledger and its region (a fault on either may cause a failover), as the
    harness's topology facts name them."""
    primary = role_of(audit, "ledgers")[:1]
    return {*primary, *(r for p in primary if (r := region_of(audit, p)) is not None)}
