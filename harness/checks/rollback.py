"""rollback: nothing half-applied, whatever the record kinds. Every journal record balances per
asset; every client transfer moved exactly what was asked or nothing; suspense accounts end at zero.

Evidence. From the client history: each transfer's request (account, asset, amount, from, to) and
what the client was told: refused (``fail``: must have had no effect), applied (``ok``: the whole
effect) or unknown (``info``, or no answer: either, never part). From the harness itself: the
ledger's minor units per asset (the wire contract), to turn the requested amount into the legs it
must produce. From the target: the journal's legs only. A transfer's effect is the net of the
legs on the customer's own wallets over every record carrying its client id, plus a suffix or a
prefix after a separator (``<id>#2``): a transfer committed in two parts is judged by both, not by
what either record calls itself."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

from harness.audit import JournalRecord
from harness.checks.base import Audit, CheckResult, Evidence
from harness.checks.common import (
    journal_parts,
    missing,
    pair_completions,
    parts_of,
    unknown,
)
from harness.history import History, Op

__all__ = ["rollback"]
NAME = "rollback"
MINOR_DIGITS = {"USDT": 6, "USDC": 6, "BTC": 8, "ETH": 8}  # docs/umref-api.md, "Assets and symbols"


@lru_cache(maxsize=4096)
def to_minor(asset: str, amount: str) -> int | None:
    """The requested amount in the ledger's minor units; None if the asset or amount is not one
    the contract knows (then only the shape of the effect is judged)."""
    try:
        value = Decimal(amount).scaleb(MINOR_DIGITS[asset])
    except (KeyError, InvalidOperation):
        return None
    return int(value) if value == value.to_integral_value() else None


def _effect(records: list[JournalRecord], account: str) -> dict[tuple[str, str], int]:
    """Net legs (debit-positive) on this customer's accounts over these records, zeros dropped."""
    net: dict[tuple[str, str], int] = defaultdict(int)
    prefix = f"cust:{account}:"
    for record in records:
        for leg in record.legs:
            if leg.account.startswith(prefix):
                net[(leg.account, leg.asset)] += leg.amount
    return {k: v for k, v in net.items() if v}


def _whole(effect: dict[tuple[str, str], int], request: dict[str, Any]) -> bool:
    """Whether the effect is the requested move: the ``from`` wallet debited (its liability down)
    by the amount, the ``to`` wallet credited by it, nothing else."""
    account, asset = request.get("account"), str(request.get("asset"))
    src, dst = (f"cust:{account}:{request.get('from')}", asset), (f"cust:{account}:{request.get('to')}", asset)
    if set(effect) != {src, dst} or effect[src] <= 0 or effect[src] != -effect[dst]:
        return False
    minor = to_minor(asset, str(request.get("amount")))
    return minor is None or effect[src] == minor


def _plain_move(record: JournalRecord, request: dict[str, Any]) -> bool:
    """Whether one record is exactly the move asked: two legs, ``from`` debited, ``to`` credited."""
    if len(record.legs) != 2:
        return False
    debit, credit = sorted(record.legs, key=lambda leg: -leg.amount)
    account, asset = request.get("account"), request.get("asset")
    return (debit.account == f"cust:{account}:{request.get('from')}" and credit.account == f"cust:{account}:{request.get('to')}"
            and debit.asset == credit.asset == asset and debit.amount == -credit.amount
            and debit.amount == to_minor(str(asset), str(request.get("amount"))))


def rollback(history: History, audit: Audit) -> CheckResult:
    if absent := missing(audit, "journal"):
        return unknown(NAME, absent, audit)
    journal: list[JournalRecord] = audit["journal"]
    bad = _unbalanced(journal)
    transfers = pair_completions(history, ("transfer",))
    counts = {"ok": 0, "fail": 0, "info": 0, "applied": 0, "acked_absent": 0}
    bad += _transfers_not_whole(history, journal, transfers, counts)
    figures = {"records": len(journal), "transfers": len(transfers), "transfers_unknown_outcome": counts["info"],
               "transfers_applied": counts["applied"], "transfers_acked_without_record": counts["acked_absent"]}
    if bad:
        return CheckResult(NAME, False, f"{len(bad)} half-applied or unbalanced write(s): {bad[0].text}",
                           tuple(bad[:50]), figures)
    absent_note = (f"; {counts['acked_absent']} acknowledged transfer(s) have no record at all (lost writes: "
                   "see no_acked_write_lost)") if counts["acked_absent"] else ""
    return CheckResult(NAME, True, f"{len(journal)} records balance, suspense accounts at zero; of {len(transfers)} "
                                   f"transfer(s), {counts['applied']} moved exactly the amount asked and the rest "
                                   f"nothing ({counts['fail']} refused, {counts['info']} of unknown outcome)"
                                   f"{absent_note}", figures=figures)


def _unbalanced(journal: list[JournalRecord]) -> list[Evidence]:
    """Records whose legs do not sum to zero per asset, and suspense accounts not back at zero."""
    bad: list[Evidence] = []
    suspense: dict[tuple[str, str], int] = defaultdict(int)
    for record in journal:
        if not (legs := record.legs):
            continue
        asset, total, mixed, parked = legs[0].asset, 0, False, False
        for leg in legs:  # the common record: one asset, no suspense leg, summing to zero
            total += leg.amount
            if leg.asset != asset:
                mixed = True
            if "suspense:" in leg.account:
                parked = True
        if not (mixed or total or parked):
            continue
        sums: dict[str, int] = defaultdict(int)
        for leg in legs:
            sums[leg.asset] += leg.amount
            if leg.account.startswith("suspense:"):
                suspense[(leg.account, leg.asset)] += leg.amount
        if off := {a: s for a, s in sums.items() if s}:
            bad.append(Evidence(f"record {record.seq} ({record.kind} {record.client_id}) does not balance: {off}",
                                record.time, records=(record.seq,)))
    for (account, asset), amount in sorted(suspense.items()):
        if amount:
            seqs = tuple(r.seq for r in journal if any(leg.account == account for leg in r.legs))
            bad.append(Evidence(f"{account} ends at {amount} {asset} (minor units), not zero: a write left "
                                "half-applied", records=seqs[-20:]))
    return bad


def _transfers_not_whole(history: History, journal: list[JournalRecord], transfers: tuple[tuple[Op, Op | None], ...],
                         counts: dict[str, int]) -> list[Evidence]:
    """Each transfer's net effect on the customer's wallets against what the client asked and saw:
    all of it when acknowledged, none when refused (``counts`` tallies outcomes as it goes)."""
    bad: list[Evidence] = []
    ids = {str(i.value.get("client_id")) for i, _ in transfers}
    parts = journal_parts(history, journal, ids)
    for invoke, done in transfers:
        request, cid = invoke.value, str(invoke.value.get("client_id"))
        outcome = done.type if done is not None else "info"  # never answered: unknown outcome
        counts[outcome] += 1
        own = parts[0].get(cid)
        if own is not None and outcome != "fail" and cid not in parts[1] and _plain_move(own, request):
            counts["applied"] += 1  # the common case: one record, the two legs asked for
            continue
        records = parts_of(cid, parts)
        if not records:  # no record: no effect
            counts["acked_absent"] += outcome == "ok"  # a lost write: no_acked_write_lost's to judge
            continue
        effect = _effect(records, str(request.get("account")))
        counts["applied"] += bool(effect)
        if (effect and _whole(effect, request) and outcome != "fail") or (not effect and outcome != "ok"):
            continue
        seqs = tuple(sorted(r.seq for r in records))
        asked = (f"{request.get('amount')} {request.get('asset')} {request.get('from')}->{request.get('to')} "
                 f"for {request.get('account')}")
        when, ops = (done or invoke).time, (invoke.index,) + ((done.index,) if done else ())
        if not effect:
            bad.append(Evidence(f"transfer {cid} ({asked}) was acknowledged but its record(s) {list(seqs)} have no "
                                "effect on the customer's wallets", when, ops, seqs))
        elif not _whole(effect, request):
            bad.append(Evidence(f"transfer {cid} ({asked}, client saw {outcome}) half-applied or mis-sized: "
                                f"net effect {dict(sorted(effect.items()))} over record(s) {list(seqs)}",
                                when, ops, seqs))
        else:
            bad.append(Evidence(f"transfer {cid} ({asked}) was refused ({done.error if done else ''}) yet the "
                                f"ledger applied it (record(s) {list(seqs)})", when, ops, seqs))
    return bad
