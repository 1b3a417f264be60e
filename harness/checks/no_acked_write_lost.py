"""no_acked_write_lost: every acknowledged write is in the journal after recovery and
failover (RPO 0), and after a failover nothing was written at an old epoch."""

from __future__ import annotations

from harness.checks.base import Audit, CheckResult, Evidence
from harness.checks.common import missing, unknown
from harness.history import WRITE_KINDS, History

__all__ = ["no_acked_write_lost"]
NAME = "no_acked_write_lost"


def no_acked_write_lost(history: History, audit: Audit) -> CheckResult:
    if absent := missing(audit, "journal"):
        return unknown(NAME, absent, audit)
    journal = sorted(audit["journal"], key=lambda r: r.seq)
    present = {r.client_id for r in journal}
    acked = [op for op in history.completions(*WRITE_KINDS) if op.type == "ok"]
    bad = [Evidence(f"acknowledged {op.f} {op.value.get('client_id')} is not in the journal", op.time, (op.index,))
           for op in acked if op.value.get("client_id") not in present]
    failovers = (audit.get("replication") or {}).get("failovers") or []
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
    figures = {"acked_writes": len(acked), "failovers": len(failovers), "journal_node": audit.get("journal_node")}
    if bad:
        return CheckResult(NAME, False, f"{len(bad)} acknowledged write(s) lost or fenced writes accepted: {bad[0].text}",
                           tuple(bad[:50]), figures)
    return CheckResult(NAME, True, f"all {len(acked)} acknowledged writes are in the journal; {len(failovers)} failover(s), "
                                   "no write at an old epoch", figures=figures)
