"""safe_halt: a margin-latency breach halts UM within budget; nothing UM is accepted inside a
halt; spot is never halted; UM does not resume while margin is still breaching or before it has
been healthy for the guard's healthy period (hysteresis: no halt/resume storm).

Evidence, most trusted first:
- client history: the UM writes (order, transfer, leverage) clients saw acknowledged, each with
  its invoke..completion window; the ``UM_HALTED`` refusals they saw on UM writes and on spot
  orders; spot 503s; the latencies and timeouts of UM calls after a fault landed (the breach as
  the clients saw it).
- the harness itself: each fault's landing and heal, whether it was expected to halt UM and
  whether it is confined to the UM path; the risk budget it configured.
- the target: ``/audit/halts`` (claimed halt intervals) and the journal's UM record times. A
  claimed halt is corroborated by ``UM_HALTED`` refusals clients saw inside it, never simply
  believed; an acknowledged write inside it is a violation whatever the journal's times say (a
  leak can be journaled at the resume). The halt's ``scope`` field is never read.

Client cancels stay allowed in a halt: umref refuses new orders, transfers and leverage changes
only, and a customer may always pull a resting order (it adds no exposure, needs no margin)."""

from __future__ import annotations

import bisect
import operator
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import chain, islice
from typing import Any

from harness.analysis import Interval, halt_intervals
from harness.audit import JournalRecord
from harness.checks.base import Audit, CheckResult, Evidence
from harness.checks.common import (
    CLIENT_KINDS,
    HALT_SLACK_S,
    UM_RECORD_KINDS,
    UM_WRITE_KINDS,
    FaultWindow,
    fault_windows,
    halt_budget_s,
    inside,
    merge,
    missing,
    overlaps,
    pair_completions,
    paired,
    risk_of,
    shared_spans,
    started,
    unknown,
    within,
)
from harness.checks.margin_oracle import MARGIN_ASSET
from harness.history import History, Op

__all__ = ["safe_halt"]
NAME = "safe_halt"
SLACK_S = HALT_SLACK_S
MIN_SPOT_BEFORE = 10  # spot orders before the faults needed to call spot "fine before"
MIN_SPOT_REFUSALS = 3  # spot 503s during UM-only faults that make a spill, not a stray answer
STABLE_ASSETS = frozenset(MARGIN_ASSET.values())  # the margin assets of UM contracts


@dataclass(frozen=True)
class Detection:
    """How one fault that should halt UM was met: the halt's start and what vouches for it."""

    fault: str
    source: str  # "claimed, corroborated" | "clients only"
    from_landing_s: float
    from_client_breach_s: float | None


def _by_margin_asset(pairs: Iterable[tuple[Op, Op]]) -> dict[str, int]:
    """UM_HALTED refusals by the margin asset of what was asked (an order's or a leverage
    change's contract, a transfer's asset): one halt covers USDT- and USDC-margined contracts."""
    counts: dict[str, int] = {}
    for invoke, answer in pairs:
        if answer.error == "UM_HALTED":
            asked = invoke.value.get("asset") if invoke.f == "transfer" else MARGIN_ASSET.get(str(invoke.value.get("symbol")))
            if asked in STABLE_ASSETS:
                counts[asked] = counts.get(asked, 0) + 1
    return dict(sorted(counts.items()))


def safe_halt(history: History, audit: Audit) -> CheckResult:
    if absent := missing(audit, "halts", "journal"):
        return unknown(NAME, absent, audit)
    risk = risk_of(audit)
    budget_s, healthy_s = halt_budget_s(risk), risk["healthy_for_ms"] / 1000
    halts = halt_intervals(audit)
    faults = fault_windows(history)
    expecting = [f for f in faults if f.expect_um_halt]
    if not_landed := [f for f in expecting if not f.landed]:
        return CheckResult(NAME, "unknown", f"fault {not_landed[0].id} did not land: cannot judge the halt",
                           tuple(Evidence(f"{f.id} {f.detail}", f.start, (f.index,)) for f in not_landed))
    pairs, sent = _answered_by_send(history)
    refused = sorted(c.time for _, c in pairs if c.error == "UM_HALTED")
    bad: list[Evidence] = []
    corroborated = [_refusals_in(refused, h.start - SLACK_S, h.end + SLACK_S) > 0 for h in halts]
    doubts = _contradicted(halts, corroborated, pairs)
    detections: list[Detection] = []
    long_enough = [f for f in expecting if f.end - f.start >= budget_s]
    for f in long_enough:
        found = _detect(f, halts, corroborated, refused, pairs, budget_s, healthy_s, risk["p99_ms"] / 1000)
        if isinstance(found, Detection):
            detections.append(found)
        else:
            verdict, evidence = found
            (bad if verdict is False else doubts).append(evidence)

    bad += _early_resumes(long_enough, halts, budget_s, healthy_s)
    bad += _acked_inside(pairs, sent, halts, long_enough, budget_s, healthy_s)
    bad += _journaled_inside(audit["journal"], halts)
    bad += _spot_halted(history, faults)

    unclaimed = len(refused) - _claimed(halts, refused)
    measured = [d.from_landing_s for d in detections]
    from_breach = [d.from_client_breach_s for d in detections if d.from_client_breach_s is not None]
    figures: dict[str, Any] = {
        "halts": len(halts), "corroborated_halts": sum(corroborated), "um_halted_refusals": len(refused),
        "um_halted_refusals_unclaimed": unclaimed, "expecting_faults": len(expecting), "budget_s": round(budget_s, 3),
        **{f"um_halted_refusals_{asset}": n for asset, n in _by_margin_asset(pairs).items()},
        "detect_from_landing_s": round(max(measured), 3) if measured else None,
        "detect_from_client_breach_s": round(max(from_breach), 3) if from_breach else None,
        "detections": [{"fault": d.fault, "source": d.source, "from_landing_s": round(d.from_landing_s, 3),
                        "from_client_breach_s": None if d.from_client_breach_s is None else round(d.from_client_breach_s, 3)}
                       for d in detections]}
    if bad:
        return CheckResult(NAME, False, f"{len(bad)} violation(s): {bad[0].text}", tuple(bad[:50]), figures)
    if doubts:
        return CheckResult(NAME, "unknown", f"the halt record is not corroborated by the clients: {doubts[0].text}",
                           tuple(doubts[:50]), figures)
    spot = "spot never refused as halted"
    if not long_enough:
        return CheckResult(NAME, True, "no fault was expected to halt UM; no UM write acknowledged or journaled inside a "
                                       f"claimed halt; {spot}", figures=figures)
    breach = f", {max(from_breach):.3f} s after the clients' first breach" if from_breach else ""
    note = f"; {unclaimed} UM_HALTED refusal(s) clients saw outside any claimed halt" if unclaimed else ""
    return CheckResult(NAME, True, f"UM halted at most {max(measured):.3f} s after the landing of each of {len(detections)} "
                                   f"fault(s) (budget {budget_s:.3f} s){breach}; {sum(corroborated)} of {len(halts)} "
                                   f"claimed halt(s) corroborated by {len(refused)} UM_HALTED refusal(s){note}; "
                                   f"no UM write acknowledged inside a halt; {spot}", figures=figures)



def _contradicted(halts: list[Interval], corroborated: list[bool], pairs: list[tuple[Op, Op]]) -> list[Evidence]:
    """Claimed halts no client saw: uncorroborated by any UM_HALTED refusal, with a UM write inside
    that was answered otherwise."""
    doubts: list[Evidence] = []
    for h, ok in zip(halts, corroborated, strict=True):
        if not ok and (tried := _attempt_inside(pairs, h)) is not None:
            length = "open to the end" if h.end == float("inf") else f"{h.end - h.start:.3f} s long"
            doubts.append(Evidence(f"a claimed halt ({length}) is contradicted: client UM write "
                                   f"{tried.value.get('client_id')} inside it was not refused UM_HALTED "
                                   f"({tried.type} {tried.error or tried.value.get('status')})", h.start, (tried.index,)))
    return doubts


def _early_resumes(faults: list[FaultWindow], halts: list[Interval], budget_s: float, healthy_s: float) -> list[Evidence]:
    """Resumes decided after the guard could see a fault, before margin was healthy long enough:
    counted from when the heal was sent, the earliest the fault may have stopped acting."""
    bad: list[Evidence] = []
    for f in faults:
        if f.end == float("inf"):
            continue
        for h in halts:
            if f.start + budget_s < h.end < f.heal_sent + healthy_s - SLACK_S:
                bad.append(Evidence(f"UM resumed {h.end - f.heal_sent:+.3f} s from the heal of fault {f.id} (sent): "
                                    f"margin had not been healthy for {healthy_s:g} s (no hysteresis)", h.end))
    return bad

def _answered_by_send(history: History) -> tuple[list[tuple[Op, Op]], list[float]]:
    """The answered client UM writes, each kind paired alone, in the order they were sent (ties
    by kind), and their send times. In a merged history with no process mixing kinds and no two
    sends at one time, that is the order the shared pairing already has: checked, not sorted."""
    if not paired(history, CLIENT_KINDS).crossed:
        pairs = [(i, c) for i, c in pair_completions(history, UM_WRITE_KINDS) if c is not None]
        sent = [i.time for i, _ in pairs]
        if all(map(operator.lt, sent, islice(sent, 1, None))):
            return pairs, sent
    pairs = sorted(((i, c) for kind in UM_WRITE_KINDS for i, c in pair_completions(history, [kind]) if c is not None),
                   key=lambda p: p[0].time)
    return pairs, [i.time for i, _ in pairs]


def _claimed(halts: Sequence[Interval], refused: Sequence[float]) -> int:
    """How many refusals (sorted times) fall in a claimed halt, give or take the clocks' slack:
    per halt, the refusals from its start to its end by bisection, never counting one twice."""
    claimed = done = 0  # ``done``: refusals before it are counted or past
    for h in halts:
        lo = bisect.bisect_left(refused, h.start, lo=done, key=lambda t: t + SLACK_S)  # start <= t + slack
        hi = bisect.bisect_right(refused, h.end + SLACK_S, lo=done)
        claimed += max(0, hi - max(lo, done))
        done = max(done, hi)
    return claimed


def _refusals_in(refused: Sequence[float], start: float, end: float) -> int:
    return bisect.bisect_right(refused, end) - bisect.bisect_left(refused, start)


def _attempt_inside(pairs: Sequence[tuple[Op, Op]], h: Interval) -> Op | None:
    """A client UM write sent and answered inside a claimed halt (so it met the halt whole)."""
    at = bisect.bisect_left(pairs, h.start + SLACK_S, key=lambda p: p[0].time)
    while at < len(pairs) and pairs[at][0].time < h.end - SLACK_S:
        if pairs[at][1].time <= h.end - SLACK_S:
            return pairs[at][1]
        at += 1
    return None


def _detect(f: FaultWindow, halts: Sequence[Interval], corroborated: Sequence[bool], refused: Sequence[float],
            pairs: Sequence[tuple[Op, Op]], budget_s: float, healthy_s: float,
            over_s: float) -> Detection | tuple[bool | str, Evidence]:
    """The halt that met fault ``f``, or (False: a violation | "unknown", why)."""
    label = f"fault {f.id} ({f.fault})"
    due = f.start + budget_s
    breach = _client_breach(pairs, f.start, over_s)
    first_seen = refused[i] if (i := bisect.bisect_left(refused, f.start)) < len(refused) \
        and refused[i] <= f.end + healthy_s else None
    covering = [(h, ok) for h, ok in zip(halts, corroborated, strict=True) if h.start <= due and h.end > f.start]
    if covering:
        h, ok = covering[0]
        if ok:
            return Detection(f.id, "claimed, corroborated", h.start - f.start, None if breach is None else h.start - breach)
        if first_seen is not None and first_seen <= due:
            return Detection(f.id, "clients only", first_seen - f.start, None if breach is None else first_seen - breach)
        return "unknown", Evidence(f"{label}: the claimed halt {h.start - f.start:+.3f} s from its landing is not "
                                   "corroborated: no client saw UM_HALTED in it", h.start, (f.index,))
    if first_seen is not None and first_seen <= due:
        return Detection(f.id, "clients only", first_seen - f.start, None if breach is None else first_seen - breach)
    later = [h.start for h in halts if h.start > due]
    if later:
        return False, Evidence(f"{label}: UM not halted within {budget_s:.3f} s (first halt {later[0] - f.start:.3f} s "
                               "after)", f.start, (f.index,))
    if first_seen is None:
        return False, Evidence(f"{label}: UM not halted within {budget_s:.3f} s (no halt at all: none recorded, and no "
                               "client saw UM_HALTED)", f.start, (f.index,))
    return "unknown", Evidence(f"{label}: clients saw UM halted only {first_seen - f.start:.3f} s after its landing and "
                               "no halt is recorded: when it began cannot be placed", f.start, (f.index,))


def _client_breach(pairs: Sequence[tuple[Op, Op]], landing: float, over_s: float) -> float | None:
    """When the clients first saw the breach after ``landing``: a UM call crossing the latency
    budget (its send plus the budget), or one refused UM_HALTED or left without an answer."""
    best: float | None = None
    at = bisect.bisect_left(pairs, landing, key=lambda p: p[0].time)
    while at < len(pairs) and (best is None or pairs[at][0].time < best):
        invoke, done = pairs[at]
        if (done.latency_ms or 0.0) / 1000 > over_s:
            seen = invoke.time + over_s
        elif done.error == "UM_HALTED" or done.type == "info":
            seen = done.time
        else:
            seen = None
        if seen is not None and (best is None or seen < best):
            best = seen
        at += 1
    return best


def _acked_inside(pairs: Sequence[tuple[Op, Op]], sent: Sequence[float], halts: Sequence[Interval],
                  expecting: Sequence[FaultWindow], budget_s: float, healthy_s: float) -> list[Evidence]:
    """UM writes a client saw acknowledged while UM was halted: sent and answered inside a claimed
    halt, or inside the span a fault kept UM due to be halted (from the halt's deadline to the
    heal plus the healthy period), whatever the halt record or the journal says. Only the writes
    sent inside one of those spans can be: found by bisection (``sent``: the pairs' send times)."""
    due = merge((f.start + budget_s, f.end + healthy_s) for f in expecting)
    candidates: Iterable[tuple[Op, Op]] = pairs
    if not any(map(operator.gt, sent, [c.time for _, c in pairs])):  # answered after sent: bounded by the span
        spans = merge([*halts, *due])  # disjoint, in order: so are the runs of writes sent in them
        candidates = chain.from_iterable(pairs[bisect.bisect_left(sent, start):bisect.bisect_right(sent, end)]
                                         for start, end in spans)
    out: list[Evidence] = []
    for invoke, done in candidates:
        if done.type != "ok":
            continue
        sent_at, answered = invoke.time - SLACK_S, done.time + SLACK_S
        h = inside(invoke.time, halts)
        where = ""
        if h is not None and h.start <= sent_at and answered <= h.end:
            where = f"{invoke.time - h.start:.3f} s into a claimed halt"
        elif within(due, sent_at, answered):
            where = "while a fault kept UM due to be halted"
        if where:
            out.append(Evidence(f"UM {invoke.f} {invoke.value.get('client_id')} acknowledged to the client {where}",
                                done.time, (invoke.index, done.index)))
    return out


def _journaled_inside(journal: Sequence[JournalRecord], halts: Sequence[Interval]) -> list[Evidence]:
    """UM records the journal stamps inside a claimed halt, in journal order: found by bisecting
    the records' times, sorted, per halt."""
    times = list(map(operator.attrgetter("time"), journal))
    by_time = sorted(range(len(times)), key=times.__getitem__)  # nearly in order already: a resume is stamped first
    times.sort()
    inside_any: set[int] = set()
    for h in halts:
        inside_any.update(by_time[bisect.bisect_right(times, h.start):bisect.bisect_left(times, h.end)])
    candidates = map(journal.__getitem__, sorted(inside_any))
    out: list[Evidence] = []
    for record in candidates:
        if record.kind in UM_RECORD_KINDS and (held := inside(record.time, halts)):
            out.append(Evidence(f"UM {record.kind} {record.client_id} journaled {record.time - held.start:.3f} s into a "
                                "halt", record.time, records=(record.seq,)))
    return out


def _spot_halted(history: History, faults: Sequence[FaultWindow]) -> list[Evidence]:
    """Spot halted, as spot clients saw it: a spot order refused UM_HALTED, or spot orders refused
    503 during faults confined to the UM path while none was before the faults (not while spot was
    still coming back from a fault it shares)."""
    spot = history.completions("spot_order")
    out = [Evidence("a spot order was refused with UM_HALTED", op.time, (op.index,)) for op in spot if op.error == "UM_HALTED"]
    um_only = merge((f.start, f.end) for f in faults if f.um_only)
    shared = shared_spans(faults, spot)
    if not um_only:
        return out
    first = min(f.start for f in faults)
    before = [op for op in spot if op.time < first]
    if len(before) < MIN_SPOT_BEFORE or any(op.value.get("status") == 503 for op in before):
        return out
    refused = [op for op in spot if op.value.get("status") == 503 and op.error != "UM_HALTED"
               and within(um_only, started(op), op.time) and not overlaps(shared, started(op), op.time)]
    if len(refused) >= MIN_SPOT_REFUSALS:
        codes = sorted({str(op.error) for op in refused})
        out.append(Evidence(f"{len(refused)} spot order(s) refused 503 ({', '.join(codes)}) during faults confined to "
                            f"UM, none of {len(before)} before the faults: spot was halted with UM",
                            refused[0].time, tuple(op.index for op in refused[:10])))
    return out
