"""single_active_matching: one matching engine accepts UM writes at a time, judged from which gateway
answered each acknowledged write (``via``) and cross-examined against the journal's writers."""

from __future__ import annotations

from typing import Any

import msgspec

from harness.audit import JournalRecord
from harness.checks import DEFAULT_CHECKS, check_fn
from harness.checks.base import CheckResult
from harness.history import History, Op
from tests.harness.factories import T0, HistoryBuilder, audit, record

FACTS = {"region_of": {"gateway": "A", "matching": "A", "gateway-b": "B", "matching-b": "B", "ledger-a": "A"},
         "um_only": [], "roles": {}}
WRITER = {"gateway": "matching", "gateway-b": "matching-b"}


def judge(history: History, journal: list[JournalRecord]) -> CheckResult:
    return check_fn("single_active_matching")(history, audit(config={"risk": {}, "topology": FACTS}, journal=journal))


def write(h: HistoryBuilder, t: float, cid: str, via: str | None, *, f: str = "um_order",
          body: dict[str, Any] | None = None, **request: Any) -> Op:
    """An acknowledged write answered by gateway ``via`` (None: the answer does not say), 5 ms long."""
    h.add("invoke", f, f"p-{cid}", t, {"client_id": cid, "account": "a1", "api_key_valid": True, **request})
    value: dict[str, Any] = {"client_id": cid, "account": "a1", "status": 200, "body": body or {}}
    if via is not None:
        value["via"] = via
    return h.add("ok", f, f"p-{cid}", t + 0.005, value, 5.0)


def run(writes: list[tuple[float, str, int]], *, writer: bool = True) -> tuple[History, list[JournalRecord], list[Op]]:
    """Writes (time, gateway, epoch), each journaled in time order by its gateway's engine at that
    epoch (without a writer when ``writer`` is false)."""
    h = HistoryBuilder()
    oks = [write(h, t, f"c{i}", via) for i, (t, via, _) in enumerate(writes)]
    journal = [record(i + 1, t + 0.002, "order", f"c{i}", epoch=epoch, writer=WRITER[via] if writer else "")
               for i, (t, via, epoch) in enumerate(writes)]
    return h.build(), journal, oks


def test_one_region_then_a_failover_to_the_other_passes_with_its_figures() -> None:
    history, journal, _ = run([(1.0, "gateway", 1), (2.0, "gateway", 1), (10.0, "gateway-b", 2), (11.0, "gateway-b", 2)])
    result = judge(history, journal)
    assert result.valid is True, result.summary
    assert result.summary.startswith("one engine at a time: A 2 ok write(s), B 2 ok write(s), 1 failover(s) seen")
    assert "writers by epoch 1: matching; epoch 2: matching-b" in result.summary
    f = result.figures
    assert f["ok_writes_by_region"] == {"A": 2, "B": 2} and f["writers_by_epoch"] == {"1": ["matching"], "2": ["matching-b"]}
    assert f["failovers_seen"] == 1 and f["interleavings"] == 0 and f["ok_writes_without_via"] == 0
    assert f["first_last_ok_by_region"]["B"] == [round(1_000_010.005, 3), round(1_000_011.005, 3)]
    only_a, journal_a, _ = run([(1.0, "gateway", 1), (2.0, "gateway", 1)])
    assert judge(only_a, journal_a).valid is True and judge(only_a, journal_a).figures["failovers_seen"] == 0


def test_writes_in_flight_across_the_switch_are_no_interleaving() -> None:
    h = HistoryBuilder()
    write(h, 1.0, "c0", "gateway")
    h.add("invoke", "um_order", "slow", 1.5, {"client_id": "c1", "account": "a1"})  # sent to A, answered late
    write(h, 1.6, "c2", "gateway-b")
    h.add("ok", "um_order", "slow", 1.7, {"client_id": "c1", "account": "a1", "status": 200, "via": "gateway"}, 200.0)
    write(h, 2.0, "c3", "gateway-b")
    journal = [record(1, 1.0, "order", "c0", writer="matching"), record(2, 1.55, "order", "c1", writer="matching"),
               record(3, 1.6, "order", "c2", epoch=2, writer="matching-b"),
               record(4, 2.0, "order", "c3", epoch=2, writer="matching-b")]
    result = judge(h.build(), journal)
    assert result.valid is True and result.figures["failovers_seen"] == 1 and result.figures["interleavings"] == 0


def test_an_interleaving_the_journal_confirms_fails_naming_ops_and_records() -> None:
    history, journal, oks = run([(1.0, "gateway", 1), (2.0, "gateway-b", 1), (3.0, "gateway", 1)])
    result = judge(history, journal)
    assert result.valid is False
    texts = [e.text for e in result.evidence]
    assert "epoch 1 has 2 writers: matching (first record 1), matching-b (first record 2)" in texts
    confirmed = next(e for e in result.evidence if "confirms two engines at once" in e.text)
    assert confirmed.ops == tuple(op.index for op in oks) and confirmed.records == (1, 2, 3)
    assert confirmed.text.startswith(f"ok writes via A, B, A in turn: op {oks[0].index} (gateway) answered before op "
                                     f"{oks[1].index} (gateway-b) was sent")


def test_an_interleaving_only_the_clients_order_reveals_fails() -> None:
    """The journal alone looks fine (one writer per epoch, epochs rising in seq order): but the A
    write journaled at epoch 1 was sent after the B write at epoch 2 was answered."""
    history, journal, _ = run([(1.0, "gateway", 1), (2.0, "gateway-b", 2), (3.0, "gateway", 1)])
    journal = [journal[0], journal[2], journal[1]]  # seqs as the journal ordered them: both epoch 1 writes first
    journal = [msgspec.structs.replace(r, seq=i + 1) for i, r in enumerate(journal)]
    result = judge(history, journal)
    assert result.valid is False and len(result.evidence) == 1
    assert "record 1 by matching at epoch 1, record 3 by matching-b at epoch 2, record 2 by matching at epoch 1" \
        in result.summary


def test_a_fail_over_and_back_at_successive_epochs_passes() -> None:
    history, journal, _ = run([(1.0, "gateway", 1), (5.0, "gateway-b", 2), (6.0, "gateway-b", 2), (10.0, "gateway", 3)])
    result = judge(history, journal)
    assert result.valid is True, result.summary
    assert result.figures["interleavings"] == 2 and result.figures["interleavings_at_successive_epochs"] == 2
    assert result.figures["failovers_seen"] == 2


def test_an_interleaving_without_writers_is_unknown_and_without_via_nothing_is_judged() -> None:
    history, journal, oks = run([(1.0, "gateway", 1), (5.0, "gateway-b", 2), (10.0, "gateway", 3)], writer=False)
    result = judge(history, journal)
    assert result.valid == "unknown"
    assert result.summary.endswith(f"the journal names no writer in the topology for op(s) {oks[0].index}, "
                                   f"{oks[1].index}, {oks[2].index}")
    one_region, journal, _ = run([(1.0, "gateway", 1), (2.0, "gateway", 1)], writer=False)
    result = judge(one_region, journal)
    assert result.valid is True and "the journal names no writer: judged on the clients alone" in result.summary
    h = HistoryBuilder()
    write(h, 1.0, "c0", None)
    write(h, 2.0, "c1", "gateway-x")  # not in the topology
    result = judge(h.build(), [])
    assert result.valid == "unknown" and result.figures["ok_writes_without_via"] == 2
    assert "none of 2 says which gateway answered it (via)" in result.summary


def test_the_journals_own_contradictions_fail_without_any_client_write() -> None:
    two_writers = [record(1, 1.0, "order", "x1", writer="matching"), record(2, 2.0, "order", "x2", writer="matching-b")]
    result = judge(HistoryBuilder().build(), two_writers)
    assert result.valid is False and result.evidence[0].records == (1, 2)
    deposed = [record(1, 1.0, "order", "x1", writer="matching"), record(2, 2.0, "order", "x2", epoch=2, writer="matching-b"),
               record(3, 3.0, "order", "x3", writer="matching")]
    result = judge(HistoryBuilder().build(), deposed)
    assert result.valid is False and result.evidence[0].records == (2, 3)
    assert result.summary.endswith("record 3 (order x3) by matching at epoch 1 follows record 2 by matching-b at epoch 2: "
                                   "a deposed engine wrote after the new one")
    no_writes = judge(HistoryBuilder().build(), [record(1, 1.0, "order", "x1", writer="matching")])
    assert no_writes.valid == "unknown" and no_writes.summary.endswith("there is none")


def test_a_gateway_answering_for_a_region_whose_engine_did_not_write_fails_only_when_clear() -> None:
    h = HistoryBuilder()
    ok = write(h, 1.0, "c0", "gateway-b")
    journal = [record(1, 1.0, "order", "c0", writer="matching")]
    result = judge(h.build(), journal)
    assert result.valid is False and result.evidence[0].ops == (ok.index - 1, ok.index)
    assert result.evidence[0].records == (1,) and "answered by gateway-b (region B) but record 1 was written by " \
        "matching (region A)" in result.summary
    h = HistoryBuilder()
    h.request("um_order", 0.5, "info", "c0", process="p-c0", status=None)  # a first attempt, answer unknown
    write(h, 1.0, "c0", "gateway-b")  # its retry: B's gateway may answer from A's record of the first
    assert judge(h.build(), journal).valid is True


def test_only_cancels_of_um_orders_count_as_engine_writes() -> None:
    h = HistoryBuilder()
    write(h, 1.0, "c0", "gateway", body={"order_id": "o-um"})
    write(h, 2.0, "c1", "gateway-b", f="cancel", order_id="o-spot")  # a spot order's cancel: not UM's
    write(h, 3.0, "c2", "gateway")
    journal = [record(1, 1.0, "order", "c0", writer="matching"), record(2, 3.0, "order", "c2", writer="matching")]
    assert judge(h.build(), journal).figures["ok_writes_by_region"] == {"A": 2}
    h = HistoryBuilder()
    write(h, 1.0, "c0", "gateway", body={"order_id": "o-um"})
    write(h, 2.0, "c1", "gateway-b", f="cancel", order_id="o-um")
    write(h, 3.0, "c2", "gateway")
    journal.insert(1, record(2, 2.0, "cancel", "c1", writer="matching-b"))
    result = judge(h.build(), journal)
    assert result.valid is False and result.figures["ok_writes_by_region"] == {"A": 2, "B": 1}


def test_the_writer_field_is_optional_and_the_check_is_asked_for_by_name() -> None:
    raw = {"seq": 1, "epoch": 2, "node": "ledger-b", "time": 1.0, "client_id": "c", "kind": "order"}
    assert msgspec.convert(raw, JournalRecord).writer == ""
    assert msgspec.convert({**raw, "writer": "matching-b", "writer_epoch": 2}, JournalRecord).writer == "matching-b"
    assert "single_active_matching" not in DEFAULT_CHECKS


def test_acknowledged_writes_a_deposed_node_dropped_after_the_takeover_fail() -> None:
    """Split brain whose losing side was truncated: no client saw both engines, the journal kept one
    per epoch, but region A's node acknowledged writes by its engine after region B's began."""
    history, journal, _ = run([(1.0, "gateway", 1), (10.0, "gateway-b", 2), (11.0, "gateway-b", 2)])
    dropped = {"seq": 2, "epoch": 1, "node": "ledger-a", "client_id": "lost-1", "kind": "transfer", "writer": "matching",
               "reason": "demoted", "superseded_by_epoch": 2}
    facts = {"risk": {}, "topology": FACTS}
    after = [{**dropped, "time": T0 + 10.5, "acked": True}]
    result = check_fn("single_active_matching")(history, audit(config=facts, journal=journal, discarded=after))
    assert result.valid is False and result.evidence[0].records == (2,)
    assert "ledger-a acknowledged record 2 (transfer lost-1) by matching at epoch 1, 0.498 s after matching-b" in result.summary
    for harmless in ([{**dropped, "time": T0 + 10.5, "acked": False}], [{**dropped, "time": T0 + 5.0, "acked": True}]):
        assert check_fn("single_active_matching")(history, audit(config=facts, journal=journal,
                                                                 discarded=harmless)).valid is True
