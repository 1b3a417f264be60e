"""segregation: customer funds stay in the segregated wallet, and the balances the ledger reports
are the balances its own journal adds up to.

Evidence. From the client history: nothing (acknowledged writes against the journal are
no_acked_write_lost's and rollback's). From the harness itself: every balance recomputed here from
the journal's legs, and the balance samples the harness took while the load ran. From the target:
the journal's legs, the primary record of money, and the balances it reports, which are
cross-examined against the legs, never believed: the final ``/audit/balances`` must equal the legs
summed through its ``last_seq`` (all of them when it names none), and each sample the legs through
its own ``last_seq``; a sample naming no journal position is judged on its own figures alone.

Rules, per asset: the segregated wallet equals what is owed to customers, on the recomputed
balances and on every reported view; every fee/insurance/house movement moves custody between the
segregated and the house wallet; custody changes only by deposits and withdrawals."""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from itertools import accumulate, chain, compress, count, islice
from operator import attrgetter, ne
from typing import Any

from harness.audit import JournalRecord
from harness.checks.base import Audit, CheckResult, Evidence
from harness.checks.common import in_seq_order, missing, unknown
from harness.history import History

__all__ = ["segregation"]
NAME = "segregation"
EXCHANGE = ("fee:revenue", "insurance:fund", "house:equity")
CUSTODY = ("wallet:segregated", "wallet:house")
DEPOSIT_KINDS = ("genesis", "deposit", "withdrawal")  # custody may change only by these
OUTSIDE = "external:world"  # a record with a leg here brings money in or takes it out
DEBIT_NORMAL = ("wallet:", "suspense:")  # shown as debits minus credits; every other account the reverse
Balances = dict[str, dict[str, int]]


def _gap(balances: Mapping[str, Mapping[str, int]]) -> dict[str, int]:
    """Per asset: segregated wallet minus customer liabilities (0 when segregated)."""
    out: dict[str, int] = defaultdict(int)
    for account, assets in balances.items():
        for asset, amount in assets.items():
            if account == "wallet:segregated":
                out[asset] += amount
            elif account.startswith("cust:"):
                out[asset] -= amount
    return {a: v for a, v in out.items() if v}


def _differences(reported: Mapping[str, Mapping[str, int]], recomputed: Balances) -> list[tuple[str, str, int, int]]:
    """(account, asset, reported, recomputed) wherever the reported balances differ from the legs
    (an account or asset absent on one side counts as zero there)."""
    out = []
    for account in sorted(set(reported) | set(recomputed)):
        shown, legs = reported.get(account) or {}, recomputed.get(account) or {}
        for asset in sorted(set(shown) | set(legs)):
            if (theirs := int(shown.get(asset, 0))) != (mine := legs.get(asset, 0)):
                out.append((account, asset, theirs, mine))
    return out


def _position(view: Mapping[str, Any], seqs: list[int], epochs: Callable[[int], tuple[int, int]],
              final: bool) -> tuple[int | None, str | None]:
    """The journal position a reported view can be compared at, or why it cannot. A sample taken
    from a node whose tail was later replaced (a failover) saw other records at those seqs: it is
    compared only when the journal's prefix holds no epoch newer than the sample's own (without
    one named, only a prefix of one epoch); the final view comes from the journal's own node."""
    last = seqs[-1] if seqs else 0
    last_seq = view.get("last_seq")
    if not isinstance(last_seq, int) or isinstance(last_seq, bool):
        return (last, None) if final else (None, None)
    if last_seq > last:
        return None, f"covers seq {last_seq}, beyond the journal's last ({last})"
    i = bisect.bisect_right(seqs, last_seq) - 1
    if final or i < 0:
        return last_seq, None
    low, high = epochs(i)
    epoch = view.get("epoch")
    if (high > epoch) if isinstance(epoch, int) else (high != low):
        return None, f"at epoch {epoch}: the journal through seq {last_seq} was rewritten by a later epoch"
    return last_seq, None


def _prefix_epochs(journal: Sequence[JournalRecord]) -> Callable[[int], tuple[int, int]]:
    """(lowest, highest) epoch among the first i + 1 records, computed on first use. The epoch
    changes at a few records only (failovers): the runs of one epoch are found in C and the
    running lowest and highest kept per run, not per record."""
    starts: list[int] = []  # where each run of one epoch begins
    lows: list[int] = []
    highs: list[int] = []

    def at(i: int) -> tuple[int, int]:
        if not starts:
            epochs = list(map(attrgetter("epoch"), journal))
            starts.extend(chain((0,), compress(count(1), map(ne, islice(epochs, 1, None), epochs))))
            runs = [epochs[s] for s in starts]
            lows.extend(accumulate(runs, min))
            highs.extend(accumulate(runs, max))
        k = bisect.bisect_right(starts, i) - 1
        return lows[k], highs[k]

    return at


INCOME = frozenset((*EXCHANGE, "wallet:house"))  # exchange income and the custody that must follow it
SPECIAL = INCOME | {*CUSTODY, OUTSIDE}  # accounts the per-record rules look at


class _Replay:
    """The journal's legs summed record by record (raw: debit-positive, per account and asset),
    with the per-record custody rules judged on the way: one pass over the legs, however many
    views are compared."""

    def __init__(self) -> None:
        self.raw: dict[str, dict[str, int]] = {}  # account -> asset -> sum (a dict per account: no key tuple per leg)
        self.bad: list[Evidence] = []
        self._view: tuple[int, Balances] | None = None  # the natural view last built, and for how many records
        self.applied = 0

    def apply(self, record: JournalRecord) -> None:
        raw = self.raw
        self.applied += 1
        income: dict[str, int] = {}  # per asset: moved on exchange accounts and the house wallet
        custody: dict[str, int] = {}
        outside = record.kind in DEPOSIT_KINDS
        for leg in record.legs:
            account, asset, amount = leg.account, leg.asset, leg.amount
            try:
                row = raw[account]
            except KeyError:
                row = raw[account] = {}
            row[asset] = row.get(asset, 0) + amount
            if account in SPECIAL:  # customers' legs, most of them, skip the rules
                if account in INCOME:
                    income[asset] = income.get(asset, 0) + amount
                if account in CUSTODY:
                    custody[asset] = custody.get(asset, 0) + amount
                if account == OUTSIDE:
                    outside = True
        if any(income.values()):  # the evidence says which asset and how, the slow way
            self.bad += _income_evidence(record)
        if not outside and any(custody.values()):
            self.bad += _custody_evidence(record, outside)

    def balances(self) -> Balances:
        """Natural balances (as the ledger shows them) of the records applied so far."""
        if self._view is None or self._view[0] != self.applied:
            view: Balances = {account: dict(row) if account.startswith(DEBIT_NORMAL) else {a: -v for a, v in row.items()}
                              for account, row in self.raw.items()}
            self._view = (self.applied, view)
        return self._view[1]


def _custody_evidence(record: JournalRecord, outside: bool) -> list[Evidence]:
    custody: dict[str, int] = defaultdict(int)
    for leg in record.legs:
        if leg.account in CUSTODY:
            custody[leg.asset] += leg.amount
    if outside or not (drift := {a: v for a, v in sorted(custody.items()) if v}):
        return []
    return [Evidence(f"record {record.seq} ({record.kind}) changes custody by {drift} without a deposit or "
                     "withdrawal: custody not conserved", record.time, records=(record.seq,))]


def _income_evidence(record: JournalRecord) -> list[Evidence]:
    exchange: dict[str, int] = defaultdict(int)
    house: dict[str, int] = defaultdict(int)
    for leg in record.legs:
        if leg.account in EXCHANGE:
            exchange[leg.asset] += leg.amount
        elif leg.account == "wallet:house":
            house[leg.asset] += leg.amount
    return [Evidence(f"record {record.seq} ({record.kind}) moves {-exchange[asset]} {asset} to exchange accounts "
                     f"but {house[asset]} into the house wallet", record.time, records=(record.seq,))
            for asset in sorted(set(exchange) | set(house)) if exchange[asset] + house[asset] != 0]


def segregation(history: History, audit: Audit) -> CheckResult:
    if absent := missing(audit, "journal", "balances"):
        return unknown(NAME, absent, audit)
    journal = in_seq_order(history, audit)
    seqs = [r.seq for r in journal]
    epochs = _prefix_epochs(journal)
    samples: list[Mapping[str, Any]] = list(audit.get("balance_samples") or [])
    views = [(f"balance sample at {s.get('time')}", s, False) for s in samples]
    views.append(("final /audit/balances", audit["balances"], True))
    compared: list[tuple[int, str, Mapping[str, Any]]] = []
    not_compared: list[str] = []
    bad: list[Evidence] = []
    alone = 0
    for label, view, is_final in views:
        through, why = _position(view, seqs, epochs, is_final)
        if through is not None:
            compared.append((through, label, view))
            continue
        if why is not None:
            not_compared.append(f"{label} {why}")
        else:
            alone += 1
        if gap := _gap(view["balances"]):  # judged on its own figures alone
            bad.append(_unsegregated(label, gap, view))

    replay = _Replay()
    compared.sort(key=lambda c: c[0])
    k = 0
    for record in [*journal, None]:
        while k < len(compared) and (record is None or compared[k][0] < record.seq):
            through, label, view = compared[k]
            k += 1
            reported, recomputed = view["balances"], replay.balances()
            if reported != recomputed and (diffs := _differences(reported, recomputed)):  # equality in C
                bad.append(_mismatch(label, through, diffs, float(view.get("time") or 0)))
            if gap := _gap(reported):
                bad.append(_unsegregated(label, gap, view))
        if record is not None and record.legs:  # most records (orders resting, cancels) move no money
            replay.apply(record)
    bad = replay.bad + bad
    if gap := _gap(replay.balances()):
        bad.append(Evidence(f"the journal's legs leave the segregated wallet off customer liabilities by {gap} "
                            "(minor units)"))

    figures = {"records": len(journal), "samples": len(samples), "views_compared_with_legs": len(compared),
               "samples_judged_alone": alone, "views_not_comparable": len(not_compared)}
    if bad:
        return CheckResult(NAME, False, f"{len(bad)} segregation violation(s): {bad[0].text}", tuple(bad[:50]), figures)
    if final_unjudged := [n for n in not_compared if n.startswith("final")]:
        return CheckResult(NAME, "unknown", f"the final balances cannot be checked against the journal: "
                                            f"{final_unjudged[0]}", tuple(Evidence(n) for n in not_compared[:5]), figures)
    notes = f"; {len(not_compared)} sample(s) not comparable ({not_compared[0]})" if not_compared else ""
    alone_note = f"; {alone} sample(s) name no journal position, judged on their own figures" if alone else ""
    return CheckResult(NAME, True, f"balances recomputed from {len(journal)} records' legs equal {len(compared)} "
                                   f"reported view(s) and are segregated{alone_note}{notes}; every exchange "
                                   "movement left the customer wallet; custody conserved", figures=figures)


def _unsegregated(label: str, gap: dict[str, int], view: Mapping[str, Any]) -> Evidence:
    return Evidence(f"{label}: segregated wallet differs from customer liabilities by {gap} (minor units)",
                    float(view.get("time") or 0))


def _mismatch(label: str, through: int, diffs: list[tuple[str, str, int, int]], t: float | None) -> Evidence:
    named = "; ".join(f"{acct} {asset} reported {r}, legs give {m} (difference {r - m:+d})"
                      for acct, asset, r, m in diffs[:5])
    return Evidence(f"{label} differs from the journal's legs through seq {through} on {len(diffs)} "
                    f"account/asset(s): {named}", t)
