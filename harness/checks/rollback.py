"""rollback: nothing half-applied. Every journal record balances per asset; a transfer whose
outcome the client does not know is either applied whole or absent; a refused one is absent."""

from __future__ import annotations

from collections import defaultdict

from harness.checks.base import Audit, CheckResult, Evidence
from harness.checks.common import missing, unknown
from harness.history import History

__all__ = ["rollback"]
NAME = "rollback"


def rollback(history: History, audit: Audit) -> CheckResult:
    if absent := missing(audit, "journal"):
        return unknown(NAME, absent, audit)
    bad: list[Evidence] = []
    by_client = {r.client_id: r for r in audit["journal"]}
    for record in audit["journal"]:
        sums: dict[str, int] = defaultdict(int)
        for leg in record.legs:
            sums[leg.asset] += leg.amount
        if off := {a: s for a, s in sums.items() if s}:
            bad.append(Evidence(f"record {record.seq} ({record.kind} {record.client_id}) does not balance: {off}",
                                record.time, records=(record.seq,)))
        if record.kind == "transfer_debit":
            whole = record.client_id.removesuffix("#debit")
            if (credit := by_client.get(whole)) is None or credit.kind not in ("transfer_credit", "transfer"):
                bad.append(Evidence(f"transfer {whole} half-applied: debited (seq {record.seq}) but never credited",
                                    record.time, records=(record.seq,)))
    unknown_outcome = 0
    for op in history.completions("transfer"):
        cid = op.value.get("client_id")
        if op.type == "info":
            unknown_outcome += 1
        elif op.type == "fail" and (cid in by_client or f"{cid}#debit" in by_client):
            bad.append(Evidence(f"transfer {cid} was refused ({op.error}) yet the ledger applied it", op.time, (op.index,)))
    figures = {"records": len(audit["journal"]), "transfers_unknown_outcome": unknown_outcome}
    if bad:
        return CheckResult(NAME, False, f"{len(bad)} half-applied or unbalanced write(s): {bad[0].text}", tuple(bad[:50]), figures)
    return CheckResult(NAME, True, f"{len(audit['journal'])} records balance; {unknown_outcome} transfer(s) of unknown "
                                   "outcome are whole or absent", figures=figures)
