"""release_rolled_back: a release that left UM halted is rolled back by the target's own deploy
controller within its watch window, UM resumes on the version that replaced it, no risk action is
taken on the bad build's numbers, and no good release is rolled back.

Evidence, most trusted first:
- client history: the UM writes (order, transfer, leverage) acknowledged or refused ``UM_HALTED``,
  as the clients' runs of same answers (``client_runs``, as status_truthful reads them): UM was
  halted from a halted run's first answer until the first answer of the next trading run (the
  resume as the clients met it; none: halted to the end).
- the harness itself: each release it made (the ``deploy`` fault's inject ops: the service, the
  build, the controller's watch window ``params.watch_s``, whether it landed) and its own probe of
  each deployed service's version (``version`` ops every 0.1 s while the load runs: which build
  answered when). A release serves from the first answer showing its build after the deploy was
  sent until the first later answer showing another one that it does not follow within
  ``OVERLAP_S`` (or the run's end, its last op).
- the target, cross-examined: the journal's risk decisions (``risk_level`` moves, ``liquidation``
  events) from the run's first op on (a platform outliving runs keeps older ones), whose evaluation
  may name the margin build that computed it (``version``). A decision on a bad build's numbers
  is a violation; its version claim is held against the probe: a claim of one build while the
  probe saw only another answering from ``CLAIM_WINDOW_S`` before it to it is a violation.
  Decisions naming no version (older journals) are not judged by this part. The halt log
  (``/audit/halts``) is not read: whether UM was halted, and resumed, is what the clients met.

A release is bad when UM was halted (as the clients saw it, or within ``HALT_SEEN_S`` after) when
it stopped serving, or at the end while it still served: UM never resumed on it. A halt that began and ended while it served does
not make it bad (a hot-fix released during a halt, UM resuming on it). A bad release under watch
(``watch_s`` > 0) must stop serving within ``watch_s`` + ``ROLLBACK_SLACK_S`` of its first serving;
one pushed unwatched need not, but any bad release that stopped serving must see UM resume after
it, before the run's end. A good release rolled back to the build before it inside its watch
budget is a spurious rollback. A release the probe never saw is a violation; no release, or a
service whose probe never answered a version, is ``unknown``.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harness.checks.base import Audit, CheckResult, Evidence
from harness.checks.common import UmAnswer, client_runs, fault_ops, role_of, um_answers
from harness.history import History

__all__ = ["release_rolled_back", "ROLLBACK_SLACK_S", "CLAIM_WINDOW_S"]
NAME = "release_rolled_back"
# Beyond the controller's watch window: the guard's halt comes a budget after the release serves,
# the controller's poll then sees it, the old build restarts and the probe (0.1 s) sees it answer.
ROLLBACK_SLACK_S = 3.0
# How long after a halt began the clients may first meet it: every UM write in flight then waits on
# the slow margin check that halted UM (a bad build's) before it is answered; a rollback within
# that time still leaves UM halted, though no client has been refused yet.
HALT_SEEN_S = 1.0
CLAIM_WINDOW_S = 0.5  # a decision's evaluation is computed at most this long before it is journaled
# A rollout runs the old and the new build side by side until the old one stops listening: the
# probe may meet either for that moment, which is one release serving, not a rollback and a redo.
OVERLAP_S = 1.0
RISK_KINDS = ("risk_level", "liquidation")


@dataclass(frozen=True)
class Deploy:
    """One release the harness made: when it was sent, and the inject's info op."""

    id: str
    service: str
    build: str
    watch_s: float
    landed: bool
    detail: str
    sent: float
    index: int


@dataclass(frozen=True)
class Seen:
    """One answer of the version probe: which build answered, when."""

    time: float
    version: str
    index: int


@dataclass(frozen=True)
class Halt:
    """UM halted as the clients saw it: from ``start`` until ``end`` (math.inf: to the end)."""

    start: float
    end: float
    ops: tuple[int, ...]


@dataclass(frozen=True)
class Release:
    """A release as the probe saw it serve, and what UM did meanwhile."""

    deploy: Deploy
    first: Seen
    stop: Seen | None  # the first answer of another build after it served; None: served to the end
    previous: str | None  # the build that answered before it served
    back: Seen | None  # the first answer of ``previous`` again after it served
    halted_at_stop: Halt | None  # the halt holding its stop (or the end): it is bad
    overlapping: tuple[Halt, ...]  # the halts that met it while it served
    until: float  # its stop's time, or the run's end

    @property
    def served_s(self) -> float:
        return self.until - self.first.time

    @property
    def bad(self) -> bool:
        return self.halted_at_stop is not None

    @property
    def label(self) -> str:
        return f"{self.deploy.service} {self.deploy.build}"


def release_rolled_back(history: History, audit: Audit) -> CheckResult:
    deploys = _deploys(history)
    if not deploys:
        return CheckResult(NAME, "unknown", "no release in this run (no deploy fault)")
    probed, timelines = _timelines(history)
    end = max(op.time for op in history.ops)
    answers = um_answers(history)
    halts = _halts(answers)
    bad: list[Evidence] = []
    doubts: list[Evidence] = []
    releases: list[Release] = []
    for d in deploys:
        found = _release(d, probed, timelines, halts, end)
        if isinstance(found, Release):
            releases.append(found)
            judged, doubt = _judge(found, answers, end)
            bad += judged
            doubts += doubt
        else:
            (bad if found[0] is False else doubts).append(found[1])
    evaluator = _evaluator(audit, [r.deploy.service for r in releases])
    journal = audit.get("journal")
    unversioned = claims = 0
    if journal is None:
        doubts.append(Evidence("audit lacks journal: the risk decisions' builds are not judged"))
    else:
        risky, unversioned, claims = _decisions(journal, releases, evaluator, timelines.get(evaluator or "", []),
                                                history.ops[0].time)
        bad += risky
    figures = _figures(releases, end)
    if bad:
        return CheckResult(NAME, False, f"{len(bad)} violation(s): {bad[0].text}", tuple(bad[:50]), figures)
    if doubts:
        return CheckResult(NAME, "unknown", doubts[0].text, tuple(doubts[:50]), figures)
    return CheckResult(NAME, True, _summary(releases, claims, unversioned), figures=figures)


def _deploys(history: History) -> list[Deploy]:
    """The releases the harness made, in landing order, each with when its inject was sent."""
    sent = {op.value.get("id"): op for op in history.faults()
            if op.type == "invoke" and op.value.get("action") == "inject" and op.value.get("fault") == "deploy"}
    out = []
    for op in fault_ops(history, "inject"):
        if (v := op.value).get("fault") != "deploy":
            continue
        params = v.get("params") or {}
        invoke = sent.get(v.get("id"))
        out.append(Deploy(str(v.get("id")), str(v.get("target")), str(params.get("build")),
                          float(params.get("watch_s") or 0.0), bool(v.get("landed")), str(v.get("detail") or ""),
                          invoke.time if invoke is not None else op.time, op.index))
    return out


def _timelines(history: History) -> tuple[set[str], dict[str, list[Seen]]]:
    """The services the probe asked, and per service the answers carrying a version, in time order."""
    probed: set[str] = set()
    seen: dict[str, list[Seen]] = {}
    for op in history.of("version"):
        if op.type == "invoke":
            continue
        service = str(op.value.get("service"))
        probed.add(service)
        if op.type == "ok" and isinstance(version := op.value.get("version"), str) and version:
            seen.setdefault(service, []).append(Seen(op.time, version, op.index))
    for answers in seen.values():
        answers.sort(key=lambda s: s.time)
    return probed, seen


def _halts(answers: Sequence[UmAnswer]) -> list[Halt]:
    """UM halted as the clients saw it: each halted run until the next trading run's first answer."""
    runs = client_runs(answers)
    return [Halt(r.start, next((n.start for n in runs[k + 1:] if not n.halted), math.inf), r.ops)
            for k, r in enumerate(runs) if r.halted]


def _release(d: Deploy, probed: set[str], timelines: Mapping[str, list[Seen]], halts: Sequence[Halt],
             end: float) -> Release | tuple[bool | str, Evidence]:
    """Release ``d`` as the probe saw it serve, or (False: a violation | "unknown", why)."""
    if not d.landed:
        return False, Evidence(f"release {d.id} of {d.service} {d.build} did not land: {d.detail}", d.sent, (d.index,))
    if d.service not in probed:
        return "unknown", Evidence(f"no version probe of {d.service}: the target shows no version on /health",
                                   d.sent, (d.index,))
    timeline = timelines.get(d.service, [])
    if not timeline:
        return "unknown", Evidence(f"the version probe of {d.service} never got a version", d.sent, (d.index,))
    at = bisect.bisect_left(timeline, d.sent, key=lambda s: s.time)
    k = next((i for i in range(at, len(timeline)) if timeline[i].version == d.build), None)
    if k is None:
        return False, Evidence(f"{d.service} {d.build}: release never served (the probe never saw it answer after "
                               f"{d.id} was sent: {d.detail})", d.sent, (d.index,))
    first, after = timeline[k], timeline[k:]
    stop = _stop(after, d.build)
    previous = next((s.version for s in reversed(timeline[:k]) if s.version != d.build), None)
    back = next((s for s in after if s.version == previous and stop is not None and s.time >= stop.time), None)
    until = stop.time if stop is not None else end
    holding = next((h for h in halts if h.start <= until + HALT_SEEN_S and until < h.end), None)
    overlapping = tuple(h for h in halts if h.start <= until and h.end >= first.time)
    return Release(d, first, stop, previous, back, holding, overlapping, until)


def _stop(after: Sequence[Seen], build: str) -> Seen | None:
    """The answer from which ``build`` no longer serves: the first of another build that it does
    not follow within ``OVERLAP_S`` (a rollout runs both side by side for a moment)."""
    for i, seen in enumerate(after):
        if seen.version == build:
            continue
        j = i + 1
        while j < len(after) and after[j].time <= seen.time + OVERLAP_S and after[j].version != build:
            j += 1
        if j == len(after) or after[j].time > seen.time + OVERLAP_S:
            return seen
    return None


def _judge(r: Release, answers: Sequence[UmAnswer], end: float) -> tuple[list[Evidence], list[Evidence]]:
    """(violations, doubts) of one release that served."""
    d, budget, until = r.deploy, r.deploy.watch_s + ROLLBACK_SLACK_S, r.until
    ops = (d.index, r.first.index) + ((r.stop.index,) if r.stop else ())
    lo = bisect.bisect_left(answers, (r.first.time,))
    if not (lo < len(answers) and answers[lo][0] <= until) and not r.overlapping:
        return [], [Evidence(f"{r.label}: no UM write was answered while it served: whether UM halted on it is not "
                             "known", r.first.time, ops)]
    h = r.halted_at_stop
    if h is None:
        spurious = d.watch_s > 0 and r.stop is not None and r.stop.version == r.previous and r.served_s <= budget
        return ([Evidence(f"a good release was rolled back: {r.label} was replaced by {r.previous} after "
                          f"{r.served_s:.1f} s (watch {d.watch_s:g} s) while UM was not halted on it", until, ops)]
                if spurious else []), []
    bad: list[Evidence] = []
    halt_ops = ops + h.ops[:5]
    if d.watch_s > 0 and r.served_s > budget:
        how = "not rolled back" if r.stop is None else f"replaced by {r.stop.version} only then"
        bad.append(Evidence(f"{r.label} served {r.served_s:.1f} s with UM halted, budget {budget:g} s: {how}",
                            r.first.time + budget, halt_ops))
    elif d.watch_s > 0 and r.stop is None:
        return [], [Evidence(f"{r.label} left UM halted and the run ended {r.served_s:.1f} s into its {budget:g} s "
                             "rollback budget: whether it was rolled back is not known", end, halt_ops)]
    if r.stop is not None and h.end == math.inf:
        bad.append(Evidence(f"UM never resumed after {r.label} was replaced by {r.stop.version} "
                            f"(halted from {h.start - r.first.time:+.1f} s of its serving to the run's end)",
                            r.stop.time, halt_ops))
    return bad, []


def _evaluator(audit: Audit, services: Sequence[str]) -> str | None:
    """The released service whose build a risk decision's evaluation names: margin, the far end of
    the topology's margin link; else the only service released."""
    link = role_of(audit, "margin_link")
    far = link[0].split("->")[-1].strip() if link else None
    if far is not None and far in services:
        return far
    return services[0] if len(set(services)) == 1 else None


def _version(event: Mapping[str, Any]) -> str | None:
    """The build a decision's evaluation names: umref journals the evaluation's fields in the event."""
    nested = event.get("evaluation")
    version = event.get("version") or (nested.get("version") if isinstance(nested, dict) else None)
    return str(version) if version else None


def _decisions(journal: Iterable[Any], releases: Sequence[Release], evaluator: str | None,
               timeline: Sequence[Seen], since: float) -> tuple[list[Evidence], int, int]:
    """(violations, decisions naming no build, decisions held against the probe) of the journal's
    risk decisions from the run's start."""
    bad_builds = {r.deploy.build for r in releases if r.bad and r.deploy.service == (evaluator or r.deploy.service)}
    bad: list[Evidence] = []
    unversioned = claims = 0
    for record in journal:
        for event in record.events:
            if (kind := event.get("type")) not in RISK_KINDS:
                continue
            t = float(event.get("time", record.time))
            if t < since:
                continue
            if (version := _version(event)) is None:
                unversioned += 1
                continue
            who = f"{event.get('account')} {kind} {t - since:.1f} s into the run"
            if version in bad_builds:
                bad.append(Evidence(f"{who} decided on the numbers of {evaluator or 'the'} {version}, a bad release",
                                    t, records=(record.seq,)))
            lo = bisect.bisect_left(timeline, t - CLAIM_WINDOW_S, key=lambda s: s.time)
            window = [s for s in timeline[lo:] if s.time <= t]
            if window:
                claims += 1
                if all(s.version != version for s in window):
                    saw = ", ".join(sorted({s.version for s in window}))
                    bad.append(Evidence(f"{who}: the journal says {version}, the probe saw {saw} (from "
                                        f"{CLAIM_WINDOW_S:g} s before it)", t, tuple(s.index for s in window[:5]),
                                        (record.seq,)))
    return bad, unversioned, claims


def _figures(releases: Sequence[Release], end: float) -> dict[str, Any]:
    per: dict[str, dict[str, Any]] = {}
    halts: dict[float, float] = {}  # a halt's start -> its length (to the run's end if never over)
    for r in releases:
        lengths = [min(h.end, end) - h.start for h in r.overlapping]
        halts.update((h.start, n) for h, n in zip(r.overlapping, lengths, strict=True))
        per[r.deploy.id] = {"service": r.deploy.service, "build": r.deploy.build, "watch_s": r.deploy.watch_s,
                            "bad": r.bad, "served_s": round(r.served_s, 3), "um_halt_s": round(sum(lengths), 3),
                            **({"deploy_to_rollback_s": round(r.back.time - r.deploy.sent, 3)} if r.back else {})}
    rollbacks = [v["deploy_to_rollback_s"] for v in per.values() if "deploy_to_rollback_s" in v]
    return {"releases": len(releases), "rolled_back": len(rollbacks), "bad_releases": sum(r.bad for r in releases),
            "bad_version_served_s": round(sum(r.served_s for r in releases if r.bad), 3),
            "um_halt_s": round(sum(halts.values()), 3),
            **({"deploy_to_rollback_s": max(rollbacks)} if rollbacks else {}), "deploys": per}


def _summary(releases: Sequence[Release], claims: int, unversioned: int) -> str:
    parts = []
    for r in releases:
        if not r.bad:
            parts.append(f"{r.label} good ({r.served_s:.1f} s served" + (f", replaced by {r.stop.version})" if r.stop else ")"))
        elif r.stop is None:
            parts.append(f"{r.label} bad, unwatched, still serving with UM halted at the end (no rollback expected)")
        else:
            assert r.halted_at_stop is not None
            parts.append(f"{r.label} bad, replaced by {r.stop.version} after {r.served_s:.1f} s, UM resumed "
                         f"{r.halted_at_stop.end - r.stop.time:.1f} s later")
    note = f"; {unversioned} decision(s) name no build, not judged by it" if unversioned else ""
    return (f"{len(releases)} release(s): {'; '.join(parts)}; no good release rolled back; no risk decision on a bad "
            f"build's numbers, {claims} decision(s) whose build the probe bears out{note}")
