"""auth_fail_closed: no request without a valid key was accepted, and no account's request
touched another account."""

from __future__ import annotations

from harness.checks.base import Audit, CheckResult, Evidence
from harness.checks.common import missing, pair_completions, unknown
from harness.history import WRITE_KINDS, History

__all__ = ["auth_fail_closed"]
NAME = "auth_fail_closed"


def auth_fail_closed(history: History, audit: Audit) -> CheckResult:
    if absent := missing(audit, "journal"):
        return unknown(NAME, absent, audit)
    pairs = pair_completions(history, WRITE_KINDS)
    forged = [(i, c) for i, c in pairs if i.value.get("api_key_valid") is False]
    bad = [Evidence(f"{i.f} {i.value.get('client_id')} with an invalid key was accepted", c.time, (i.index, c.index))
           for i, c in forged if c is not None and c.type == "ok"]
    owner = {i.value.get("client_id"): i.value.get("account") for i, _ in pairs}
    forged_ids = {i.value.get("client_id") for i, _ in forged}
    for record in audit["journal"]:
        cid = record.client_id
        if cid in forged_ids:
            bad.append(Evidence(f"journal holds {record.kind} {cid} sent with an invalid key", record.time,
                                records=(record.seq,)))
        for event in record.events:
            account = event.get("account") if event.get("type") in ("order", "cancel", "transfer", "leverage") else None
            if cid in owner and account is not None and account != owner[cid]:
                bad.append(Evidence(f"{cid} from {owner[cid]} touched account {account}", record.time,
                                    records=(record.seq,)))
    figures = {"invalid_key_requests": len(forged)}
    if bad:
        return CheckResult(NAME, False, f"{len(bad)} auth violation(s): {bad[0].text}", tuple(bad[:50]), figures)
    return CheckResult(NAME, True, f"all {len(forged)} request(s) with an invalid key were refused; no cross-account write",
                       figures=figures)
