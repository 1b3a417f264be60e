"""auth_fail_closed: no request without a valid key was accepted, and no account's request touched
another account; judged only when it was put to the test, with forged requests sent while auth
itself was faulted (fail closed, not open).

Evidence. From the client history: which requests carried a forged key (``api_key_valid`` false
on the invoke), which account each request came from, and what each was answered. From the harness
itself: when it faulted auth (the landed fault ops whose target names ``auth``: the service or a
link to it), so a run that never sent a forged request while auth was down is ``unknown``, not a
vacuous pass. From the target: the journal, searched for records of forged requests and for
events on an account other than the requester's."""

from __future__ import annotations

import bisect
from typing import Any

from harness.checks.base import Audit, CheckResult, Evidence
from harness.checks.common import fault_spans_touching, missing, pair_completions, role_of, unknown
from harness.history import History, Op
from harness.workload import WRITE_KINDS

__all__ = ["auth_fail_closed"]
NAME = "auth_fail_closed"
ACCOUNT_EVENTS = ("order", "cancel", "transfer", "leverage")  # events naming the account acted on


def auth_fail_closed(history: History, audit: Audit) -> CheckResult:
    if absent := missing(audit, "journal"):
        return unknown(NAME, absent, audit)
    pairs = pair_completions(history, WRITE_KINDS)
    owner: dict[Any, Any] = {}  # client id -> the account it was sent from (the last request under it)
    forged: list[tuple[Op, Op | None]] = []
    for pair in pairs:  # one pass over the requests: a soak has a million
        value = pair[0].value
        owner[value.get("client_id")] = value.get("account")
        if value.get("api_key_valid") is False:
            forged.append(pair)
    bad = [Evidence(f"{i.f} {i.value.get('client_id')} with an invalid key was accepted", c.time, (i.index, c.index))
           for i, c in forged if c is not None and c.type == "ok"]
    forged_ids = {i.value.get("client_id") for i, _ in forged}
    for record in audit["journal"]:
        cid = record.client_id
        if cid in forged_ids:
            bad.append(Evidence(f"journal holds {record.kind} {cid} sent with an invalid key", record.time,
                                records=(record.seq,)))
        if cid not in owner:
            continue
        sender = owner[cid]
        for event in record.events:
            if event.get("type") in ACCOUNT_EVENTS and (account := event.get("account")) is not None \
                    and account != sender:
                bad.append(Evidence(f"{cid} from {sender} touched account {account}", record.time,
                                    records=(record.seq,)))

    auth = set(role_of(audit, "auth"))  # the services whose faults put failing closed to the test
    spans = sorted((start, end) for start, end, _ in fault_spans_touching(history, auth))
    starts = [s for s, _ in spans]
    during = 0
    for invoke, _ in forged:  # sent while an auth fault held (spans may overlap: any of them)
        i = bisect.bisect_right(starts, invoke.time)
        during += any(end >= invoke.time for _, end in spans[:i])
    figures = {"invalid_key_requests": len(forged), "invalid_key_during_auth_fault": during,
               "auth_faults": len(spans)}
    if bad:
        return CheckResult(NAME, False, f"{len(bad)} auth violation(s): {bad[0].text}", tuple(bad[:50]), figures)
    if not forged:
        return CheckResult(NAME, "unknown", "no request with an invalid key was sent (add bad_key to the load mix): "
                                            "failing closed was never tried", figures=figures)
    if not during:
        why = "no fault touched auth" if not spans else f"none while auth was faulted ({len(spans)} auth fault(s))"
        return CheckResult(NAME, "unknown", f"{len(forged)} request(s) with an invalid key were refused, but {why}: "
                                            "failing closed while auth is down was never tried", figures=figures)
    return CheckResult(NAME, True, f"all {len(forged)} request(s) with an invalid key were refused, {during} of them "
                                   "while auth was faulted; no cross-account write", figures=figures)
