"""What the checks share, computed once per history: client ops paired by process (the same pairs
a pairing of each kind alone gives, even when a process mixes kinds), ops of several kinds in
history order; how the load reads (whole lines out of a stream cut anywhere, its structures kept
out of the cyclic GC); and the faster paths of steady_state and segregation, equal to the plain
ones."""

from __future__ import annotations

import gc
import random
from collections.abc import Iterable

from harness.checks.common import CLIENT_KINDS, pair_completions, paired
from harness.checks.segregation import _prefix_epochs
from harness.checks.steady_state import steady_state
from harness.history import History, Op, line_blocks, no_cyclic_gc
from tests.harness.factories import HistoryBuilder, audit, record

Pair = tuple[Op, Op | None]


def reference_pairs(history: History, kinds: Iterable[str]) -> tuple[list[Pair], list[tuple[Op, Op]]]:
    """Pairing done the plain way, over exactly these kinds: (every invoke with its completion in
    invoke order, the answered ones in answer order)."""
    wanted = set(kinds)
    open_by_process: dict[str, Op] = {}
    pairs: dict[int, Pair] = {}
    answered: list[tuple[Op, Op]] = []
    for op in history:
        if op.f not in wanted:
            continue
        if op.type == "invoke":
            open_by_process[op.process] = op
            pairs[op.index] = (op, None)
        elif (invoke := open_by_process.pop(op.process, None)) is not None:
            pairs[invoke.index] = (invoke, op)
            answered.append((invoke, op))
    return list(pairs.values()), answered


def interleaved() -> History:
    """Three processes, one request at a time each, answers out of send order, one unanswered."""
    h = HistoryBuilder()
    h.request("um_order", 0.0, "ok", "o1", process="u1", latency_ms=30)
    h.request("transfer", 0.01, "fail", "t1", process="u2", latency_ms=5)
    h.request("cancel", 0.02, "info", "c1", process="u3", latency_ms=1)
    h.request("um_order", 0.04, "ok", "o2", process="u1", latency_ms=2)
    h.request("leverage", 0.05, "ok", "l1", process="u2", latency_ms=1)
    h.add("invoke", "um_order", "u3", 0.06, {"client_id": "o3"})  # never answered
    h.request("spot_order", 0.07, "ok", "s1", process="u1", latency_ms=1)
    return h.build()


def crossed() -> History:
    """A process that sends a cancel while its order is still open, then both answers arrive."""
    h = HistoryBuilder()
    h.add("invoke", "um_order", "u1", 0.0, {"client_id": "o1"})
    h.add("invoke", "cancel", "u1", 0.01, {"client_id": "c1"})
    h.add("ok", "cancel", "u1", 0.02, {"client_id": "c1"})
    h.add("ok", "um_order", "u1", 0.03, {"client_id": "o1"})
    return h.build()


def test_pairs_of_each_kind_are_those_of_pairing_that_kind_alone() -> None:
    for history in (interleaved(), crossed()):
        for kinds in (["um_order"], ["cancel"], ["transfer"], ["leverage"],
                      ["um_order", "transfer", "leverage"], sorted(CLIENT_KINDS)):
            got = paired(history, kinds)
            want_all, want_answered = reference_pairs(history, kinds)
            assert list(got.all) == want_all, (kinds, got.all)
            assert list(got.answered) == want_answered, kinds
            assert pair_completions(history, kinds) == got.all


def test_a_process_mixing_kinds_is_paired_per_kind_not_picked_from_the_whole() -> None:
    history = crossed()
    order, cancel, cancel_ok, order_ok = history.ops
    assert paired(history, CLIENT_KINDS).crossed
    assert paired(history, CLIENT_KINDS).all == ((order, None), (cancel, cancel_ok))
    assert paired(history, ["um_order"]).all == ((order, order_ok),)
    assert not paired(interleaved(), CLIENT_KINDS).crossed


def test_pairs_are_computed_once_per_history() -> None:
    history = interleaved()
    assert paired(history, ["um_order"]) is paired(history, ("um_order",))
    other = interleaved()
    assert paired(other, ["um_order"]) is not paired(history, ["um_order"])
    assert paired(other, ["um_order"]) == paired(history, ["um_order"])


def test_ops_of_several_kinds_come_in_history_order() -> None:
    history = interleaved()
    kinds = ("transfer", "um_order", "cancel", "um_order")  # any order, a kind twice
    assert history.of(*kinds) == [op for op in history if op.f in kinds]
    answered = [op for op in history if op.f in ("leverage", "spot_order") and op.type != "invoke"]
    assert history.completions("leverage", "spot_order") == answered
    assert history.of() == []


def test_what_is_built_without_the_cyclic_gc_stays_out_of_its_generations() -> None:
    assert gc.isenabled()
    try:
        with no_cyclic_gc():
            built = [{"n": [i]} for i in range(1000)]
            assert not gc.isenabled()
        assert gc.isenabled()
        walked = {id(o) for o in gc.get_objects()}  # every generation a collection walks
        assert not any(id(o) in walked for o in built)  # frozen: none of them
        assert gc.get_freeze_count() >= len(built)
    finally:
        gc.unfreeze()


def test_line_blocks_give_whole_lines_however_the_stream_is_cut() -> None:
    text = b"".join(b'{"n":%d,"pad":"%s"}\n' % (i, b"x" * (i % 7)) for i in range(200)) + b'{"last":true}'
    rng = random.Random(15)
    for _ in range(50):
        cuts = sorted(rng.sample(range(1, len(text)), rng.randint(0, 40)))
        pieces = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]
        blocks = [bytes(b) for b in line_blocks(iter(pieces))]  # bytes, or views of a piece
        assert b"".join(blocks) == text
        assert all(b.endswith(b"\n") for b in blocks[:-1])  # only the unfinished last line may end a block
        assert all(blocks)
    assert list(line_blocks(iter([b"no line end"]))) == [b"no line end"]
    assert list(line_blocks(iter([]))) == []


def test_steady_state_cuts_the_phases_the_same_from_a_history_out_of_time_order() -> None:
    h = HistoryBuilder()
    for i in range(60):
        h.request("um_order", i * 0.2, "ok" if i % 7 else "fail", f"o{i}", process=f"u{i % 3}", latency_ms=1.0 + i)
        h.request("spot_order", i * 0.2 + 0.05, "ok", f"s{i}", process=f"s{i % 2}", latency_ms=2.0)
    h.fault("f1", 4.0, 8.0)
    h.phase(8.01, "faults_healed", recovery_within_s=1.0)
    tolerance = {p: {"p99_ms": {"max": 1000}} for p in ("before", "during", "after")}
    in_order = h.build()
    shuffled = History(sorted(in_order.ops, key=lambda op: -op.time))
    first = steady_state(in_order, audit(config={"steady_state": tolerance}))
    assert first.figures["before.requests"] + first.figures["during.requests"] > 0
    assert steady_state(shuffled, audit(config={"steady_state": tolerance})) == first


def test_the_epochs_of_a_journal_prefix_are_those_of_its_records() -> None:
    rng = random.Random(15)
    for _ in range(30):
        epochs: list[int] = []
        for _ in range(rng.randint(1, 60)):  # runs of one epoch, now and then an older one again
            epochs += [rng.choice([1, 2, 3, 4])] * rng.randint(1, 5)
        journal = [record(i + 1, 0.01 * i, "order", f"c{i}", epoch=e) for i, e in enumerate(epochs)]
        at = _prefix_epochs(journal)
        for i in range(len(epochs)):
            assert at(i) == (min(epochs[:i + 1]), max(epochs[:i + 1]))
