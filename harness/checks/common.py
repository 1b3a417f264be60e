"""Facts several checks need, derived once from the history and the audit (pure)."""

from __future__ import annotations

import bisect
import itertools
import math
import operator
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, replace
from itertools import islice
from operator import attrgetter
from typing import Any, TypeVar
from weakref import WeakKeyDictionary

from harness.analysis import Interval, halt_intervals
from harness.audit import JournalRecord
from harness.checks.base import Audit, CheckResult, Evidence
from harness.history import History, Op
from harness.scenario.faults import is_instant
from harness.workload import WRITE_KINDS

__all__ = ["Interval", "halt_intervals", "inside", "in_seq_order", "risk_of", "missing", "unknown",
           "fault_ops", "recovery_budgets", "pair_completions", "paired", "Pairs", "once",
           "Ticks", "TICK_TIME_TOLERANCE_S", "UM_RECORD_KINDS", "DEFAULT_RISK"]

DEFAULT_RISK = {"window_ms": 1000, "p99_ms": 200, "max_call_ms": 1000, "halt_within_ms": 250, "heartbeat_ms": 100,
                "resume_p99_ms": 100, "healthy_for_ms": 3000, "staleness_ms": 1000, "act_within_ms": 2000}
# Journal record kinds that are UM writes: refused while UM is halted.
UM_RECORD_KINDS = ("order", "leverage", "transfer", "liquidation")


def inside(t: float, intervals: Sequence[Interval]) -> Interval | None:
    """The interval holding t. ``intervals`` as ``halt_intervals`` gives them: sorted by start and
    disjoint, so a bisection finds the only candidate (a scan per record was quadratic on soaks)."""
    i = bisect.bisect_left(intervals, (t,)) - 1  # (t,) sorts before every (t, end)
    return intervals[i] if i >= 0 and intervals[i].holds(t) else None


def in_seq_order(history: History, audit: Audit) -> list[JournalRecord]:
    """The journal's records by seq: the journal itself when the ledger streamed it so, as it does
    (then the checks that match writes against it share one index of it, see ``journal_parts``).
    Found once per journal (cached on the history, keyed by the journal's identity)."""
    journal: list[JournalRecord] = audit["journal"]
    return once(history, ("seq order", id(journal)), lambda: (journal, _in_seq_order(journal)))[1]


def _in_seq_order(journal: list[JournalRecord]) -> list[JournalRecord]:
    seqs = list(map(attrgetter("seq"), journal))
    if all(map(operator.le, seqs, islice(seqs, 1, None))):
        return journal
    return sorted(journal, key=attrgetter("seq"))


def risk_of(audit: Audit) -> dict[str, Any]:
    return {**DEFAULT_RISK, **((audit.get("config") or {}).get("risk") or {})}


def missing(audit: Audit, *keys: str) -> list[str]:
    return [k for k in keys if audit.get(k) is None]


def unknown(name: str, absent: list[str], audit: Audit) -> CheckResult:
    errors = tuple(Evidence(e) for e in (audit.get("errors") or [])[:5])
    return CheckResult(name, "unknown", f"audit lacks {', '.join(absent)}", errors)


def fault_ops(history: History, action: str) -> list[Op]:
    """Completed fault ops (type info) of one action: inject or heal."""
    return [op for op in history.faults() if op.type == "info" and op.value.get("action") == action]


def recovery_budgets(history: History) -> list[float]:
    """The recovery budget(s) the runner wrote when the faults were healed (one per run)."""
    return [float(budget) for op in history.of("phase") if op.value.get("phase") == "faults_healed"
            and isinstance(budget := op.value.get("recovery_within_s"), (int, float))]


T = TypeVar("T")
_FACTS: WeakKeyDictionary[History, dict[Hashable, Any]] = WeakKeyDictionary()


def once(history: History, key: Hashable, compute: Callable[[], T]) -> T:
    """A fact derived from the history alone, computed once however many checks ask for it (ten
    checks each pairing a million ops was a third of their time). A History never changes once
    built, so it keys the cache, and the facts go with it."""
    facts = _FACTS.setdefault(history, {})
    if key not in facts:
        facts[key] = compute()
    return facts[key]  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Pairs:
    """Client ops of some kinds paired by process: every invoke with its completion (None: never
    answered) in invoke order, and the answered ones in the order of their answers. ``crossed``:
    some op met its process's open invoke of another kind (or two invokes share an index), so a
    pairing of fewer kinds may differ from this one's pairs of those kinds."""

    all: tuple[tuple[Op, Op | None], ...]
    answered: tuple[tuple[Op, Op], ...]
    crossed: bool


CLIENT_KINDS = frozenset(WRITE_KINDS)


def paired(history: History, kinds: Iterable[str]) -> Pairs:
    """The client ops of these kinds paired by process, once per history and set of kinds."""
    wanted = frozenset(kinds)
    return once(history, ("pairs", wanted), lambda: _pair(history, wanted))


def _pair(history: History, wanted: frozenset[str]) -> Pairs:
    open_by_process: dict[str, Op] = {}
    pairs: dict[int, tuple[Op, Op | None]] = {}
    answered: list[tuple[Op, Op]] = []
    crossed = invokes = 0
    for op in history.of(*wanted):
        if op.type == "invoke":
            if (before := open_by_process.get(op.process)) is not None and before.f != op.f:
                crossed += 1
            open_by_process[op.process] = op
            pairs[op.index] = (op, None)
            invokes += 1
        elif (invoke := open_by_process.pop(op.process, None)) is not None:
            crossed += invoke.f != op.f
            pairs[invoke.index] = pair = (invoke, op)
            answered.append(pair)
    return Pairs(tuple(pairs.values()), tuple(answered), bool(crossed) or len(pairs) != invokes)


def pair_completions(history: History, kinds: Iterable[str]) -> tuple[tuple[Op, Op | None], ...]:
    """(invoke, its completion or None) for client ops of these kinds, pairing by process. The
    client writes are paired in one pass, once per history; where no process ever mixed kinds
    (every well-formed history), the pairs of fewer kinds are those of that pass, picked out."""
    wanted = frozenset(kinds)
    if not wanted < CLIENT_KINDS or (whole := paired(history, CLIENT_KINDS)).crossed:
        return paired(history, wanted).all
    if len(wanted) == 1:
        (kind,) = wanted
        return once(history, "pairs by kind", lambda: _by_kind(whole.all)).get(kind, ())
    return once(history, ("pairs of", wanted), lambda: tuple([p for p in whole.all if p[0].f in wanted]))


def _by_kind(pairs: Iterable[tuple[Op, Op | None]]) -> dict[str, tuple[tuple[Op, Op | None], ...]]:
    out: dict[str, list[tuple[Op, Op | None]]] = {}
    for pair in pairs:
        out.setdefault(pair[0].f, []).append(pair)
    return {kind: tuple(kind_pairs) for kind, kind_pairs in out.items()}


TICK_TIME_TOLERANCE_S = 1e-6  # a tick's time as a float after a trip through JSON and back


@dataclass(frozen=True)
class Ticks:
    """The prices the harness published: one ``tick`` op per tick (its time, its prices as decimal
    strings, whether the target's intake accepted it), in time order. The harness is the market,
    so this is the truth: the price at t is that of the last tick at or before t, delivered or not;
    a target can only be expected to act on the delivered ones."""

    times: tuple[float, ...]
    prices: tuple[dict[str, str], ...]
    delivered: tuple[bool, ...]

    @staticmethod
    def from_history(history: History) -> Ticks:
        ops = sorted((op for op in history.of("tick") if op.type == "info" and isinstance(op.value.get("prices"), dict)),
                     key=lambda op: op.time)
        return Ticks(tuple(op.time for op in ops), tuple(op.value["prices"] for op in ops),
                     tuple(op.value.get("delivered") is True for op in ops))

    def __len__(self) -> int:
        return len(self.times)

    def last_at(self, t: float) -> int | None:
        """The index of the last tick at or before t (None before the first)."""
        i = bisect.bisect_right(self.times, t + TICK_TIME_TOLERANCE_S) - 1
        return i if i >= 0 else None

    def published_at(self, t: float) -> int | None:
        """The index of the tick stamped t, if the harness published one then."""
        i = self.last_at(t)
        return i if i is not None and abs(self.times[i] - t) <= TICK_TIME_TOLERANCE_S else None


# ---- faults as the harness knows them, client writes as the clients saw them ------------------
UM_WRITE_KINDS = ("um_order", "transfer", "leverage")  # client writes a UM halt refuses (a cancel is not one)
HALT_SLACK_S = 0.1  # measurement slack between the harness's and the exchange's view of "now"


@dataclass(frozen=True)
class FaultWindow:
    """One injected fault as the harness knows it: from its landing (the inject's info op) to
    its heal's info op (``math.inf`` if never healed). ``heal_sent``: when the heal was sent (its
    invoke op): the fault may have stopped acting any time from then until ``end`` (a heal through
    a remote engine takes a while)."""

    id: str
    fault: str
    start: float
    end: float
    um_only: bool
    expect_um_halt: bool
    landed: bool
    detail: str
    index: int
    heal_sent: float = math.inf


def fault_windows(history: History) -> list[FaultWindow]:
    """Infrastructure faults in landing order; a price shock or drift is a market event, not one of them."""
    heals = {op.value.get("id"): op.time for op in fault_ops(history, "heal")}
    sent = {op.value.get("id"): op.time for op in history.faults() if op.type == "invoke" and op.value.get("action") == "heal"}
    return [FaultWindow(str(v.get("id")), str(v.get("fault")), op.time, end := heals.get(v.get("id"), math.inf),
                        bool(v.get("um_only")), bool(v.get("expect_um_halt")), bool(v.get("landed")),
                        str(v.get("detail") or ""), op.index, min(end, sent.get(v.get("id"), end)))
            for op in fault_ops(history, "inject") if not is_instant((v := op.value).get("fault"))]


def merge(spans: Iterable[tuple[float, float]]) -> list[tuple[float, float]]:
    """The union of spans, as sorted disjoint spans (what ``overlaps`` bisects)."""
    out: list[tuple[float, float]] = []
    for start, end in sorted(spans):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def overlaps(spans: Sequence[tuple[float, float]], start: float, end: float) -> bool:
    """Whether [start, end] meets one of ``spans`` (sorted, disjoint: the last span starting by
    ``end`` is the only candidate, as ends are sorted too)."""
    i = bisect.bisect_right(spans, (end, math.inf)) - 1  # (end, inf) sorts after every (end, x)
    return i >= 0 and spans[i][1] >= start


def within(spans: Sequence[tuple[float, float]], start: float, end: float) -> bool:
    """Whether [start, end] lies inside one of ``spans`` (sorted, disjoint)."""
    i = bisect.bisect_right(spans, (start, math.inf)) - 1
    return i >= 0 and end <= spans[i][1]


def halt_budget_s(risk: dict[str, Any]) -> float:
    """How long after a margin breach lands UM may take to halt: the guard's window p99, one
    heartbeat and its halt bound, plus the clocks' slack."""
    return (risk["p99_ms"] + risk["heartbeat_ms"] + risk["halt_within_ms"]) / 1000 + HALT_SLACK_S


def started(op: Op) -> float:
    """When a completed client op was sent: its completion time less its latency."""
    return op.time - (op.latency_ms or 0.0) / 1000


def spot_served(op: Op) -> bool:
    """A spot order answered by a working spot market (a business refusal counts; a halt or a
    5xx does not)."""
    status = op.value.get("status")
    return op.type != "info" and op.error != "UM_HALTED" and status is not None and status < 500


def shared_spans(faults: Sequence[FaultWindow], spot: Sequence[Op]) -> list[tuple[float, float]]:
    """Each fault on something spot needs too, from its landing until spot was served again after
    its heal (the first spot order sent after the heal and served: its answer): spot's own recovery
    from a shared fault is that fault's doing, not a UM-only fault's that began meanwhile. Never
    served again: to the end."""
    back = sorted((started(op), op.time) for op in spot if spot_served(op))
    sent = [b[0] for b in back]
    first_done = list(itertools.accumulate(reversed([b[1] for b in back]), min))[::-1]  # earliest answer from i on
    spans = []
    for f in faults:
        if not f.um_only:
            i = bisect.bisect_left(sent, f.end)
            spans.append((f.start, first_done[i] if i < len(first_done) else math.inf))
    return merge(spans)


__all__ += ["UM_WRITE_KINDS", "HALT_SLACK_S", "FaultWindow", "fault_windows", "merge", "overlaps", "within",
            "halt_budget_s", "started", "spot_served", "shared_spans"]


# ---- the journal as evidence: every record of one client write; what a fault touched -----------
PART_SEPARATORS = "#:/|@"  # a write committed in parts: "<id>#2", "debit#<id>" (never in the load's ids)


@dataclass(frozen=True)
class IdIndex:
    """Items (journal records) by the client id they carry, built once per journal however many
    checks match client writes against it: each id's last item, the items an id carried before
    its last, and the ids holding a part separator (a soak's journal has none)."""

    by_id: dict[str, Any]
    earlier: tuple[tuple[str, Any], ...]
    parted: tuple[str, ...]

    @staticmethod
    def of(items: Iterable[tuple[str, Any]]) -> IdIndex:
        pairs = items if isinstance(items, list) else list(items)
        by_id = dict(pairs)  # in C
        earlier = tuple((cid, item) for cid, item in pairs if by_id[cid] is not item) if len(by_id) < len(pairs) else ()
        joined = "\n".join(by_id)
        parted = tuple(cid for cid in by_id if any(sep in cid for sep in PART_SEPARATORS)) \
            if any(sep in joined for sep in PART_SEPARATORS) else ()
        return IdIndex(by_id, earlier, parted)

    def parts(self, ids: set[str]) -> tuple[dict[str, Any], dict[str, list[Any]]]:
        """``client_parts`` of these client ids."""
        extra: dict[str, list[Any]] = {}
        for client_id, item in self.earlier:  # an id twice (copies discarded by two nodes): keep every copy
            if client_id in ids:
                extra.setdefault(client_id, []).append(item)
        for client_id in self.parted:
            if client_id not in ids and (base := _base_in(client_id, ids, PART_SEPARATORS)):
                extra.setdefault(base, []).append(self.by_id[client_id])
        return self.by_id, extra


def client_parts(ids: set[str], items: Iterable[tuple[str, Any]]) -> tuple[dict[str, Any], dict[str, list[Any]]]:
    """The records carrying these client ids, whatever their kind: (the record under each id,
    keyed by every record's id; the other records carrying one of these ids: under the id plus
    a suffix or prefix after a separator, or a second record under the id). A write the target
    committed in pieces is judged by all of them, not by the one the id names. Two maps rather
    than a list per id: a million writes need no million lists."""
    return IdIndex.of(items).parts(ids)


def journal_parts(history: History, journal: list[JournalRecord], ids: set[str]) -> tuple[dict[str, Any], dict[str, list[Any]]]:
    """``client_parts`` of the journal's records, its index built once per journal (the checks
    matching client writes against it share it). Keyed by the journal's identity: the cache holds
    the journal with its index, so that identity is never another list's meanwhile."""
    _, index = once(history, ("journal ids", id(journal)), lambda: (journal, IdIndex.of(record_items(journal))))
    return index.parts(ids)


def record_items(journal: Sequence[JournalRecord]) -> list[tuple[str, JournalRecord]]:
    """(client id, record) of each journal record: what ``client_parts`` takes (built in C)."""
    return list(zip(map(attrgetter("client_id"), journal), journal, strict=True))


def parts_of(client_id: str, parts: tuple[dict[str, Any], dict[str, list[Any]]]) -> list[Any]:
    """Every record carrying this client id, from ``client_parts``'s two maps."""
    own = parts[0].get(client_id)
    return ([] if own is None else [own]) + parts[1].get(client_id, [])


def _base_in(client_id: str, ids: set[str], seps: Sequence[str]) -> str | None:
    """The first of the client ids a record's id may be a part of (what stands before or after
    the first or the last of a separator, separators in their order) that is one of ``ids``."""
    for sep in seps:
        if sep in client_id:
            head, _, tail = client_id.partition(sep)
            if head in ids:
                return head
            if tail in ids:
                return tail
            if sep in tail:  # more than one: the last cuts elsewhere
                head, _, tail = client_id.rpartition(sep)
                if head in ids:
                    return head
                if tail in ids:
                    return tail
    return None


def target_names(label: str) -> set[str]:
    """What a fault's target label names: services, both ends of links, regions
    ("gateway->auth", "ledger-a", "region A", "A↔B", "x->y,y->x")."""
    for sep in (",", "->", "↔"):
        label = label.replace(sep, " ")
    return set(label.split())


def role_of(audit: Audit, role: str) -> tuple[str, ...]:
    """The services (or link) the target's topology names for ``role``: the harness's own facts of
    the run (audit config ``topology``), not the target's report; () when not known."""
    facts = (audit.get("config") or {}).get("topology") or {}
    value = (facts.get("roles") or {}).get(role)
    return (value,) if isinstance(value, str) else tuple(value or ())


def region_of(audit: Audit, service: str) -> str | None:
    facts = (audit.get("config") or {}).get("topology") or {}
    return (facts.get("region_of") or {}).get(service)


def fault_spans_touching(history: History, names: set[str]) -> list[tuple[float, float, str]]:
    """(landed at, healed at or inf, fault id) of the landed faults whose target names one of these:
    the harness's own record of what it broke and when, never the target's."""
    heals = {op.value.get("id"): op.time for op in fault_ops(history, "heal")}
    return [(op.time, heals.get(v.get("id"), math.inf), str(v.get("id")))
            for op in fault_ops(history, "inject")
            if (v := op.value).get("landed") and names & target_names(str(v.get("target") or ""))]


__all__ += ["PART_SEPARATORS", "IdIndex", "client_parts", "journal_parts", "record_items", "parts_of", "target_names",
            "fault_spans_touching", "role_of", "region_of"]


# ---- UM as the clients met it: runs of writes acknowledged, or refused UM_HALTED ---------------
CLIENTS = "the clients saw it"  # a Span's source when the clients' answers show it
UmAnswer = tuple[float, float, bool, int]  # a UM write's (answered, sent, refused UM_HALTED, op index)


@dataclass(frozen=True)
class Span:
    """A stretch UM was halted (or trading) by one account of it: from ``start`` at least until
    ``end``; ``ops`` the answers that show it."""

    halted: bool
    start: float
    end: float
    source: str  # CLIENTS, or another account of it (status_truthful's: the halt log, corroborated)
    ops: tuple[int, ...] = ()


def um_answers(history: History) -> list[UmAnswer]:
    """The UM writes acknowledged or refused UM_HALTED, by answer time; answers to other requests
    say nothing of a halt."""
    return sorted((c.time, i.time, c.error == "UM_HALTED", c.index) for i, c in pair_completions(history, UM_WRITE_KINDS)
                  if c is not None and (c.type == "ok" or c.error == "UM_HALTED"))


def client_runs(answers: Sequence[UmAnswer]) -> list[Span]:
    """The clients' runs of same answers (halted: refused UM_HALTED; trading: acknowledged), in
    order: a run starts at its first answer and holds at least until its last request was sent; a
    request sent before the run began and answered otherwise was in flight across the change."""
    runs: list[Span] = []
    for answered, sent, halted, index in answers:
        if runs and runs[-1].halted == halted:
            last = runs[-1]
            runs[-1] = replace(last, end=max(last.end, sent), ops=last.ops if len(last.ops) >= 10 else (*last.ops, index))
        elif not runs or sent >= runs[-1].start:  # else in flight across the change
            runs.append(Span(halted, answered, sent, CLIENTS, (index,)))
    return runs


__all__ += ["CLIENTS", "UmAnswer", "Span", "um_answers", "client_runs"]
