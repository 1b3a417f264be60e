"""status_truthful: the public status page told users what the clients met. It shows UM halted
within ``STATUS_BOUND_S`` of a halt's start and normal again within it of the resume; it never
says UM normal while UM writes are refused ``UM_HALTED``, nor halted while they are acknowledged,
beyond that bound; it never says spot is down while spot orders are served.

Evidence, most trusted first:
- client history: the UM writes (order, transfer, leverage) acknowledged or refused
  ``UM_HALTED``, each with its send and answer times; spot orders served or refused. From them,
  runs in which every answer said the same (halted, or trading): a run starts at its first answer
  and holds at least until its last request was sent; a request sent before the run began and
  answered otherwise was in flight across the change and says nothing of after it.
- the target, cross-examined: the status page as the clients read it (``status`` ops: one read
  every half second while the load runs, with its send and answer times); ``/audit/halts``, whose
  claimed halts are held against the page only when a client was refused inside one and none was
  acknowledged inside it (and a claimed resume only when a client was acknowledged after it and
  none refused before the next halt): the claim places a halt's start earlier than any client
  can. The page's own times (``since``, ``updated``) are the target's clock and never read.

A read is judged when it was sent more than the bound after a span began and answered before the
span ended. No read at all, no readable page, or no UM write answered is ``unknown``; so is a
halt long enough to judge that no read fell in."""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from harness.analysis import halt_intervals
from harness.checks.base import Audit, CheckResult, Evidence
from harness.checks.common import (
    HALT_SLACK_S,
    Span,
    UmAnswer,
    client_runs,
    spot_served,
    started,
    um_answers,
)
from harness.history import History, Op

__all__ = ["status_truthful", "STATUS_BOUND_S"]
NAME = "status_truthful"
# How far behind the API the page may be. Users and their bots read the page to decide whether
# to keep trading or to pull quotes: one that agrees with the API only after a few of their
# retries (a second apart) is of no use to them. Four of the harness's reads; a page refreshed
# from the engine itself is behind by much less than one.
STATUS_BOUND_S = 2.0
SLACK_S = HALT_SLACK_S
CLAIMED = "the audit's halt log claims it"


@dataclass(frozen=True)
class Read:
    """One read of the status page: what it said of UM and of spot (None: it did not say)."""

    sent: float
    answered: float
    um: str | None
    spot: str | None
    index: int


def status_truthful(history: History, audit: Audit) -> CheckResult:
    reads_ops = [op for op in history.of("status") if op.type != "invoke"]
    if not reads_ops:
        return CheckResult(NAME, "unknown", "no status page was read: the target's client API reads none "
                                            "(StatusApi), or no load ran")
    reads = _reads(reads_ops)
    if not reads:
        codes = sorted({str(op.error) for op in reads_ops})
        return CheckResult(NAME, "unknown", f"none of {len(reads_ops)} reads of the status page got a page "
                                            f"({', '.join(codes)})")
    answers = um_answers(history)
    runs = client_runs(answers)
    if not runs:
        return CheckResult(NAME, "unknown", "no UM write was acknowledged or refused UM_HALTED: nothing to hold the "
                                            "status page against")
    claimed = _claimed_spans(audit, answers, runs)
    bad: list[Evidence] = []
    lags: list[float] = []
    never = 0  # halts and resumes the page never agreed with while they lasted
    unread: list[Span] = []
    for i, span in enumerate([*runs, *claimed]):
        judged = _judged(reads, span)
        if not judged and span.halted and span.end - span.start > 2 * STATUS_BOUND_S:
            unread.append(span)
        bad += _disagreements(span, judged)
        changed = span.source == CLAIMED or span.halted or i > 0  # the clients' first run follows no change
        if changed and (lag := _lag(reads, span)) is not None:
            lags.append(lag)
        elif changed and judged:
            never += 1
    bad += _spot_said_down(reads, history.completions("spot_order"))
    halts = [r for r in runs if r.halted]
    figures: dict[str, Any] = {
        "status_samples": len(reads_ops), "status_pages_read": len(reads), "halts_seen": len(halts),
        "halts_claimed_corroborated": sum(s.halted for s in claimed), "bound_s": STATUS_BOUND_S,
        "max_lag_s": round(max(lags), 3) if lags else None, "changes_never_shown": never}
    if bad:
        return CheckResult(NAME, False, f"{len(bad)} violation(s): {bad[0].text}", tuple(bad[:50]), figures)
    if unread:
        return CheckResult(NAME, "unknown", f"UM was halted for {unread[0].end - unread[0].start:.3f} s (as "
                                            f"{unread[0].source}) and no read of the status page fell in it",
                           (Evidence("halt not read", unread[0].start, unread[0].ops[:10]),), figures)
    followed = f"; the page followed each halt and resume within {max(lags):.3f} s" if lags else ""
    return CheckResult(NAME, True, f"{len(reads)} reads of the status page agreed with the clients through "
                                   f"{len(halts)} halt(s) they saw (bound {STATUS_BOUND_S:g} s){followed}; spot never "
                                   "said down while served", figures=figures)


def _reads(ops: Iterable[Op]) -> list[Read]:
    """The reads that got a page, in order of sending."""
    out = []
    for op in ops:
        page = op.value.get("page")
        if op.type != "ok" or not isinstance(page, dict):
            continue
        sent = op.value.get("sent")
        out.append(Read(float(sent) if isinstance(sent, (int, float)) else started(op), op.time,
                        _said(page.get("um")), _said(page.get("spot")), op.index))
    return sorted(out, key=lambda r: r.sent)


def _said(line: Any) -> str | None:
    status = line.get("status") if isinstance(line, dict) else None
    return status if status in ("normal", "halted") else None


def _claimed_spans(audit: Audit, answers: Sequence[UmAnswer], runs: Sequence[Span]) -> list[Span]:
    """The halts ``/audit/halts`` claims and the trading after each resume, each kept only when
    the clients corroborate it and none contradicts it."""
    halts = halt_intervals(audit)
    out = []
    for k, h in enumerate(halts):
        if _corroborated(answers, h.start, h.end, halted=True):
            out.append(Span(True, h.start, h.end, CLAIMED))
        after_end = halts[k + 1].start if k + 1 < len(halts) else float("inf")
        if h.end < float("inf") and _corroborated(answers, h.end, after_end, halted=False):
            out.append(Span(False, h.end, min(after_end, _last_trading(runs, h.end)), CLAIMED))
    return out


def _corroborated(answers: Sequence[UmAnswer], start: float, end: float, *, halted: bool) -> bool:
    """Some UM write sent and answered inside [start, end] met this state; none sent and answered
    inside it met the other."""
    at = bisect.bisect_left(answers, (start - SLACK_S,))
    seen = False
    for answered, sent, refused, _ in answers[at:]:
        if answered > end + SLACK_S:
            break
        if refused == halted and sent >= start - SLACK_S:
            seen = True
        elif refused != halted and sent > start + SLACK_S and answered < end - SLACK_S:
            return False
    return seen


def _last_trading(runs: Sequence[Span], after: float) -> float:
    """Until when clients saw UM trading after ``after`` (the end of their last trading run before
    the next halted one)."""
    end = after
    for r in runs:
        if r.start >= after - SLACK_S:
            if r.halted:
                break
            end = max(end, r.end)
    return end


def _judged(reads: Sequence[Read], span: Span) -> list[Read]:
    """The reads sent more than the bound after ``span`` began and answered before it ended."""
    at = bisect.bisect_left(reads, span.start + STATUS_BOUND_S, key=lambda r: r.sent)
    return [r for r in reads[at:] if r.sent < span.end and r.answered <= span.end]


def _disagreements(span: Span, judged: Sequence[Read]) -> list[Evidence]:
    """The reads of ``judged`` that said the opposite of ``span`` about UM, as one fact."""
    want = "halted" if span.halted else "normal"
    wrong = [r for r in judged if r.um is not None and r.um != want]
    if not wrong:
        return []
    first = wrong[0]
    state = "halted (writes refused UM_HALTED)" if span.halted else "trading (writes acknowledged)"
    rule = ("not shown halted within the bound of the halt" if span.halted else
            "not cleared within the bound of the resume") if first is judged[0] else \
        ("said UM normal while UM was halted" if span.halted else "said UM halted while UM traded")
    length = "to the end" if span.end == float("inf") else f"for {span.end - span.start:.3f} s"
    return [Evidence(f"status page {rule}: UM was {state} as {span.source}, {length}; {len(wrong)} of {len(judged)} "
                     f"reads taken from {STATUS_BOUND_S:g} s into it said UM {first.um}, the first "
                     f"{first.sent - span.start:.3f} s in", first.sent, (*span.ops[:5], *(r.index for r in wrong[:10])))]


def _lag(reads: Sequence[Read], span: Span) -> float | None:
    """How long after ``span`` began the page first agreed with it (None: not while it lasted)."""
    want = "halted" if span.halted else "normal"
    at = bisect.bisect_left(reads, span.start - STATUS_BOUND_S, key=lambda r: r.sent)
    for r in reads[at:]:
        if r.sent > span.end:
            return None
        if r.um == want and r.answered >= span.start - STATUS_BOUND_S:
            return max(0.0, r.answered - span.start)
    return None


def _spot_said_down(reads: Sequence[Read], spot: Sequence[Op]) -> list[Evidence]:
    """Reads saying spot halted while spot orders were served around then (answered from the
    bound before the read was sent until it was answered) and none was refused: one fact per
    stretch of such reads."""
    answered = sorted(spot, key=lambda op: op.time)
    times = [op.time for op in answered]
    wrong: list[tuple[Read, int]] = []
    for r in reads:
        if r.spot != "halted":
            continue
        around = answered[bisect.bisect_left(times, r.sent - STATUS_BOUND_S):bisect.bisect_right(times, r.answered + SLACK_S)]
        served = [op for op in around if op.type == "ok" and spot_served(op)]
        if served and all(map(spot_served, around)):
            wrong.append((r, len(served)))
    out: list[Evidence] = []
    for group in _stretches(wrong, reads):
        first, count = group[0]
        out.append(Evidence(f"status page said spot halted in {len(group)} read(s) while spot orders were served "
                            f"around each ({count} around the first) and none was refused",
                            first.sent, tuple(r.index for r, _ in group[:10])))
    return out


def _stretches(wrong: list[tuple[Read, int]], reads: Sequence[Read]) -> list[list[tuple[Read, int]]]:
    """``wrong`` cut where a read between two of them was not wrong."""
    place = {r.index: k for k, r in enumerate(reads)}
    groups: list[list[tuple[Read, int]]] = []
    for item in wrong:
        if groups and place[item[0].index] == place[groups[-1][-1][0].index] + 1:
            groups[-1].append(item)
        else:
            groups.append([item])
    return groups
