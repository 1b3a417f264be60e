"""safe_halt, resting_orders_preserved and blast_radius on small hand-made histories: each lie a
target's audit can tell is caught from what the clients saw, and the honest case passes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from harness.checks import check_fn
from harness.checks.common import halt_intervals
from harness.history import History
from tests.harness.factories import T0, HistoryBuilder, ack, audit, fault_with_scope, halt, record

safe_halt = check_fn("safe_halt")
resting = check_fn("resting_orders_preserved")
blast = check_fn("blast_radius")


def order_event(oid: str, qty: str = "1", price: str | None = "100") -> dict[str, Any]:
    return {"type": "order", "order_id": oid, "account": "a1", "symbol": "BTCUSDT", "market": "um", "side": "BUY",
            "price": price, "qty": qty}


def trade_event(maker: str, qty: str) -> dict[str, Any]:
    return {"type": "trade", "symbol": "BTCUSDT", "market": "um", "price": "100", "qty": qty, "maker_order_id": maker,
            "taker_order_id": "o-taker", "maker_account": "a1", "taker_account": "a2", "taker_side": "SELL"}


# ---- safe_halt -----------------------------------------------------------------------------------
# A margin fault lands at 5.001 and is healed at 15.001; the budget is 0.65 s, the healthy period 3 s.
def halting_history(*, landed: bool = True, refusals: bool = True, um_only: bool = False,
                    extra: Callable[[HistoryBuilder], None] | None = None, heal_s: float = 0.001) -> History:
    h = HistoryBuilder()
    if um_only:
        fault_with_scope(h, "f1", 5.0, 15.0, um_only=True, expect_um_halt=True)
    else:
        h.fault("f1", 5.0, 15.0, landed=landed, heal_s=heal_s)
    for i in range(20):
        h.request("spot_order", 0.2 * i, "ok", f"s{i}", process="spot")
    for i in range(10):
        h.request("spot_order", 5.5 + i, "ok", f"sd{i}", process="spot")
    for i, t in enumerate((1.0, 2.0, 3.0, 19.0, 20.0)):
        h.request("um_order", t, "ok", f"o{i}")
    h.request("um_order", 5.1, "fail", "slow", status=503, error="UM_HALTED" if refusals else "MARGIN_UNAVAILABLE",
              latency_ms=700)  # over the budget at 5.3
    if refusals:
        for i, t in enumerate((6.0, 8.0, 10.0, 12.0, 14.0, 16.0)):
            h.request("um_order", t, "fail", f"r{i}", process="u2", status=503, error="UM_HALTED", latency_ms=2)
    if extra:
        extra(h)
    return h.build()


HALTS = [halt(5.4), halt(18.2, "resume")]
JOURNAL = [record(i + 1, t, "order", f"o{i}") for i, t in enumerate((1.0, 2.0, 3.0, 19.0, 20.0))]


def test_safe_halt_passes_the_honest_exchange_with_measured_detection() -> None:
    result = safe_halt(halting_history(), audit(halts=HALTS, journal=JOURNAL))
    assert result.valid is True, result.summary
    assert result.figures["detect_from_landing_s"] == 0.399  # halt 5.4 - landing 5.001
    assert result.figures["detect_from_client_breach_s"] == 0.1  # the slow call crossed 0.2 s at 5.3
    assert result.figures["detections"] == [{"fault": "f1", "source": "claimed, corroborated", "from_landing_s": 0.399,
                                             "from_client_breach_s": 0.1}]
    assert result.summary.startswith("UM halted at most 0.399 s after the landing"), result.summary
    assert result.figures["corroborated_halts"] == 1 and result.figures["um_halted_refusals"] == 7


def test_safe_halt_counts_the_refusals_of_each_margin_asset() -> None:
    def both(h: HistoryBuilder) -> None:
        h.request("um_order", 7.0, "fail", "c1", process="u3", status=503, error="UM_HALTED", symbol="BTCUSDC")
        h.request("um_order", 7.5, "fail", "t1", process="u3", status=503, error="UM_HALTED", symbol="ETHUSDT")
        h.request("transfer", 8.0, "fail", "x1", process="u3", status=503, error="UM_HALTED", asset="USDC")

    result = safe_halt(halting_history(extra=both), audit(halts=HALTS, journal=JOURNAL))
    assert result.valid is True, result.summary
    assert result.figures["um_halted_refusals_USDC"] == 2 and result.figures["um_halted_refusals_USDT"] == 1


def test_safe_halt_catches_a_write_acked_inside_a_halt_the_journal_stamps_at_the_resume() -> None:
    """halt_leak: the journal puts the transfer at the resume, so only the client's ack shows it."""
    def leak(h: HistoryBuilder) -> None:
        h.request("transfer", 10.5, "ok", "t-leak", process="u3")

    leaked_journal = [*JOURNAL, record(9, 18.2, "transfer", "t-leak")]
    result = safe_halt(halting_history(extra=leak), audit(halts=HALTS, journal=leaked_journal))
    assert result.valid is False and "UM transfer t-leak acknowledged to the client 5.100 s into a claimed halt" in result.summary
    assert safe_halt(halting_history(), audit(halts=HALTS, journal=leaked_journal)).valid is True  # the journal alone hides it
    hidden = safe_halt(halting_history(extra=leak), audit(halts=[], journal=leaked_journal))  # the halt record hides it too
    assert hidden.valid is False and "while a fault kept UM due to be halted" in hidden.summary


def test_safe_halt_a_client_cancel_inside_a_halt_is_allowed() -> None:
    def cancel(h: HistoryBuilder) -> None:
        h.request("cancel", 10.5, "ok", "c-in", process="u3", order_id="o-o1")

    assert safe_halt(halting_history(extra=cancel), audit(halts=HALTS, journal=JOURNAL)).valid is True


def test_safe_halt_a_claimed_halt_needs_client_refusals() -> None:
    def other_refusals(h: HistoryBuilder) -> None:
        for i, t in enumerate((6.0, 9.0, 12.0)):
            h.request("um_order", t, "fail", f"m{i}", process="u2", status=503, error="MARGIN_UNAVAILABLE", latency_ms=2)

    contradicted = safe_halt(halting_history(refusals=False, extra=other_refusals), audit(halts=HALTS, journal=JOURNAL))
    assert contradicted.valid == "unknown" and "contradicted" in contradicted.summary, contradicted.summary
    assert "m0" in contradicted.summary
    unheard = safe_halt(halting_history(refusals=False), audit(halts=HALTS, journal=JOURNAL))
    assert unheard.valid == "unknown" and "no client saw UM_HALTED in it" in unheard.summary, unheard.summary


def test_safe_halt_client_observed_halt_counts_when_none_is_claimed() -> None:
    def early_refusal(h: HistoryBuilder) -> None:
        h.request("um_order", 5.3, "fail", "r-early", process="u4", status=503, error="UM_HALTED", latency_ms=2)

    result = safe_halt(halting_history(extra=early_refusal), audit(halts=[], journal=JOURNAL))
    assert result.valid is True, result.summary
    assert result.figures["detections"][0]["source"] == "clients only"
    assert result.figures["um_halted_refusals_unclaimed"] == 8 and "outside any claimed halt" in result.summary
    late = safe_halt(halting_history(), audit(halts=[], journal=JOURNAL))  # first refusal 0.8 s after landing
    assert late.valid == "unknown" and "cannot be placed" in late.summary, late.summary


def test_safe_halt_fails_when_an_expected_halt_never_came_or_came_late() -> None:
    none = safe_halt(halting_history(refusals=False), audit(halts=[], journal=JOURNAL))
    assert none.valid is False and "no halt at all" in none.summary
    late = safe_halt(halting_history(), audit(halts=[halt(6.0), halt(18.2, "resume")], journal=JOURNAL))
    assert late.valid is False and "not halted within 0.650 s (first halt 0.999 s after)" in late.summary


def test_safe_halt_spot_halted_is_judged_from_spot_answers_not_a_scope_field() -> None:
    spot_scope = [halt(5.4, scope=("um", "spot")), halt(18.2, "resume")]
    assert safe_halt(halting_history(), audit(halts=spot_scope, journal=JOURNAL)).valid is True  # a field proves nothing

    def spot_halted(code: str) -> Callable[[HistoryBuilder], None]:
        def add(h: HistoryBuilder) -> None:
            for i in range(3):
                h.request("spot_order", 7.05 + i, "fail" if code == "UM_HALTED" else "info", f"sx{i}", process="spot2",
                          status=503, error=code)
        return add

    refused = safe_halt(halting_history(extra=spot_halted("UM_HALTED")), audit(halts=HALTS, journal=JOURNAL))
    assert refused.valid is False and "a spot order was refused with UM_HALTED" in refused.summary
    other = safe_halt(halting_history(um_only=True, extra=spot_halted("MARKET_CLOSED")), audit(halts=HALTS, journal=JOURNAL))
    assert other.valid is False and "3 spot order(s) refused 503 (MARKET_CLOSED) during faults confined to UM" in other.summary
    shared = safe_halt(halting_history(extra=spot_halted("MARKET_CLOSED")), audit(halts=HALTS, journal=JOURNAL))
    assert shared.valid is True, shared.summary  # the fault touches what spot needs: its 503s are not a halt of spot


def test_safe_halt_false_when_um_resumes_before_margin_was_healthy_long_enough() -> None:
    during = safe_halt(halting_history(), audit(halts=[halt(5.3), halt(12.0, "resume"), halt(12.2)], journal=JOURNAL))
    assert during.valid is False and "UM resumed -3.00" in during.summary and "from the heal of fault f1" in during.summary
    early = safe_halt(halting_history(), audit(halts=[halt(5.3), halt(16.5, "resume")], journal=JOURNAL))
    assert early.valid is False and "not been healthy for 3 s (no hysteresis)" in early.summary
    assert safe_halt(halting_history(), audit(halts=[halt(5.3), halt(17.95, "resume")], journal=JOURNAL)).valid is True


def test_safe_halt_counts_the_healthy_period_from_when_the_heal_was_sent() -> None:
    """A heal through a remote engine took 0.4 s: the fault may have stopped acting when it was
    sent (15.0), so a resume 3 s after that is no early resume, though 2.6 s after it was done."""
    slow = halting_history(heal_s=0.4)
    assert safe_halt(slow, audit(halts=[halt(5.3), halt(18.0, "resume")], journal=JOURNAL)).valid is True
    early = safe_halt(slow, audit(halts=[halt(5.3), halt(17.5, "resume")], journal=JOURNAL))
    assert early.valid is False and "UM resumed +2.500 s from the heal of fault f1 (sent)" in early.summary


def test_safe_halt_journal_write_inside_a_halt_and_unknowns() -> None:
    inside = safe_halt(halting_history(), audit(halts=HALTS, journal=[*JOURNAL, record(9, 10.0, "transfer", "t1")]))
    assert inside.valid is False and inside.evidence[0].records == (9,)
    assert safe_halt(halting_history(landed=False), audit(halts=[])).valid == "unknown"
    assert safe_halt(halting_history(), audit(halts=None)).valid == "unknown"


# ---- resting_orders_preserved --------------------------------------------------------------------
def placed_history(extra: Callable[[HistoryBuilder], None] | None = None) -> History:
    """o1 rests whole; o2 rests after a partial fill; o3 is cancelled by its owner; o4 is filled
    0.4 as a maker; o5's placement and o6's cancel have unknown outcomes."""
    h = HistoryBuilder()
    ack(h, "um_order", 1.0, "c1", {"order_id": "o1", "status": "NEW", "filled_qty": "0"}, qty="1", price="100", type="LIMIT")
    ack(h, "um_order", 1.5, "c2", {"order_id": "o2", "status": "PARTIALLY_FILLED", "filled_qty": "0.5"}, qty="2", price="100")
    ack(h, "um_order", 2.0, "c3", {"order_id": "o3", "status": "NEW", "filled_qty": "0"}, qty="1", price="100")
    ack(h, "um_order", 2.5, "c4", {"order_id": "o4", "status": "NEW", "filled_qty": "0"}, qty="1", price="100")
    ack(h, "um_order", 2.7, "c-taker", {"order_id": "o-taker", "status": "FILLED", "filled_qty": "0.4"}, qty="0.4", price="99")
    h.request("um_order", 2.8, "info", "c5", status=None, error="ReadTimeout", qty="1", price="100")
    ack(h, "um_order", 2.9, "c6", {"order_id": "o6", "status": "NEW", "filled_qty": "0"}, qty="1", price="100")
    ack(h, "cancel", 3.0, "x3", {"order_id": "o3", "status": "CANCELED"}, order_id="o3")
    h.request("cancel", 3.5, "info", "x6", status=None, error="ReadTimeout", order_id="o6")
    if extra:
        extra(h)
    return h.build()


PLACED = [record(1, 1.0, "order", "c1", events=[order_event("o1")]),
          record(2, 1.5, "order", "c2", events=[order_event("o2", "2")]),
          record(3, 2.0, "order", "c3", events=[order_event("o3")]),
          record(4, 2.5, "order", "c4", events=[order_event("o4")]),
          record(5, 2.7, "order", "c-taker", events=[trade_event("o4", "0.4")]),
          record(6, 2.9, "order", "c6", events=[order_event("o6")]),
          record(7, 3.0, "cancel", "x3", events=[{"type": "cancel", "order_id": "o3", "market": "um", "reason": "client"}]),
          record(8, 3.5, "cancel", "x6", events=[{"type": "cancel", "order_id": "o6", "market": "um", "reason": "client"}])]


def books(**rest: str) -> dict[str, Any]:
    bids = [{"order_id": oid, "account": "a1", "symbol": "BTCUSDT", "side": "BUY", "price": "100", "qty": qty}
            for oid, qty in rest.items()]
    return {"time": 2_000_000.0, "books": {"BTCUSDT": {"bids": bids, "asks": []}, "ETHUSDT": {"bids": [], "asks": []}}}


GOOD_BOOKS = books(o1="1", o2="1.5", o4="0.6")


def test_resting_orders_rebuilt_from_acks_equal_the_books() -> None:
    result = resting(placed_history(), audit(halts=[halt(5.0), halt(10.0, "resume")], journal=PLACED, books=GOOD_BOOKS))
    assert result.valid is True, result.summary
    assert result.figures["acked_resting"] == 5 and result.figures["judged_in_books"] == 4  # o6's fate unknown
    unjournaled = PLACED[:-1]  # o6's cancel (outcome unknown to its client) may or may not have been applied
    for rest in ({"o6": "1", "o-c5": "1"}, {}):  # o5 (placement unknown) and o6 may rest or not: neither is flagged
        result = resting(placed_history(), audit(halts=[], journal=unjournaled, books=books(o1="1", o2="1.5", o4="0.6", **rest)))
        assert result.valid is True, result.summary


def test_resting_orders_catch_a_quantity_cut_or_an_order_lost_without_a_record() -> None:
    """resume_shrinks_orders: the books cut an order with no journal record; the acks show it."""
    shrunk = resting(placed_history(), audit(halts=[], journal=PLACED, books=books(o1="0.5", o2="1.5", o4="0.6")))
    assert shrunk.valid is False and "order o1 rests with 0.5 in the books; 1 left" in shrunk.summary
    lost = resting(placed_history(), audit(halts=[], journal=PLACED, books=books(o1="1", o4="0.6")))
    assert lost.valid is False and "order o2 acked as resting, 1.5 left per the journal, is missing" in lost.summary
    cancelled_yet_resting = resting(placed_history(), audit(halts=[], journal=PLACED, books=books(o1="1", o2="1.5", o3="1", o4="0.6")))
    assert cancelled_yet_resting.valid is False and "order o3 filled or cancelled" in cancelled_yet_resting.summary
    filled = [*PLACED, record(9, 4.0, "order", "c-t2", events=[trade_event("o1", "1")])]
    filled_yet_resting = resting(placed_history(), audit(halts=[], journal=filled, books=GOOD_BOOKS))
    assert filled_yet_resting.valid is False and "order o1 filled or cancelled" in filled_yet_resting.summary


def test_resting_orders_catch_an_acked_cancel_the_books_lost_and_cite_its_records() -> None:
    """random-mix seed 3 (correct umref before its fix): a cancel acked after 3 s (a paused ledger),
    in the journal, yet its order still rests because matching rebuilt its books from the journal
    before the cancel was written. A partly filled order cancelled the same way and gone is fine."""
    def sequence(h: HistoryBuilder) -> None:
        ack(h, "um_order", 25.0, "c7", {"order_id": "o7", "status": "NEW", "filled_qty": "0"}, qty="0.009", price="100")
        ack(h, "um_order", 25.5, "c8", {"order_id": "o8", "status": "NEW", "filled_qty": "0"}, qty="1", price="100")
        ack(h, "cancel", 39.9, "x7", {"order_id": "o7", "status": "CANCELED"}, order_id="o7", latency_ms=3050,
            process="u7")
        ack(h, "cancel", 40.0, "x8", {"order_id": "o8", "status": "CANCELED"}, order_id="o8", latency_ms=3000,
            process="u8")

    journal = [*PLACED, record(1918, 25.0, "order", "c7", events=[order_event("o7", "0.009")]),
               record(1919, 25.5, "order", "c8", events=[order_event("o8")]),
               record(2100, 30.0, "order", "c-t3", events=[trade_event("o8", "0.3")]),
               record(2891, 39.92, "cancel", "x7", events=[{"type": "cancel", "order_id": "o7", "market": "um",
                                                             "qty": "0.009", "reason": "client"}]),
               record(2892, 40.02, "cancel", "x8", events=[{"type": "cancel", "order_id": "o8", "market": "um",
                                                             "qty": "0.7", "reason": "client"}])]
    history = placed_history(sequence)
    assert resting(history, audit(halts=[], journal=journal, books=GOOD_BOOKS)).valid is True
    result = resting(history, audit(halts=[], journal=journal, books=books(o1="1", o2="1.5", o4="0.6", o7="0.009")))
    assert result.valid is False and "order o7 filled or cancelled per the acks and the journal still rests with 0.009" \
        in result.summary
    placed, cancelled = (next(op.index for op in history.ops if op.type == "ok" and op.value["client_id"] == c)
                         for c in ("c7", "x7"))
    assert [(e.ops, e.records) for e in result.evidence] == [((placed, cancelled), (2891,))]
    kept_remainder = resting(history, audit(halts=[], journal=journal, books=books(o1="1", o2="1.5", o4="0.6", o8="0.7")))
    assert kept_remainder.valid is False and kept_remainder.evidence[0].records == (2100, 2892)


def test_resting_orders_no_fill_or_foreign_cancel_during_a_halt() -> None:
    halts = [halt(5.0), halt(10.0, "resume")]
    by_owner = [*PLACED, record(9, 6.0, "cancel", "x1", events=[{"type": "cancel", "order_id": "o1", "market": "um",
                                                                 "reason": "client"}])]
    def cancel_o1(h: HistoryBuilder) -> None:
        ack(h, "cancel", 6.0, "x1", {"order_id": "o1", "status": "CANCELED"}, order_id="o1")

    good = resting(placed_history(cancel_o1), audit(halts=halts, journal=by_owner, books=books(o2="1.5", o4="0.6")))
    assert good.valid is True, good.summary
    by_halt = [*PLACED, record(9, 5.0, "halt", "h", events=[{"type": "cancel", "order_id": "o1", "market": "um",
                                                            "reason": "halt"}])]
    result = resting(placed_history(), audit(halts=halts, journal=by_halt, books=books(o2="1.5", o4="0.6")))
    assert result.valid is False and "resting order o1 cancelled (reason halt)" in result.summary
    filled = [*PLACED, record(9, 7.0, "order", "c-t2", events=[trade_event("o1", "1")])]
    result = resting(placed_history(), audit(halts=halts, journal=filled, books=books(o2="1.5", o4="0.6")))
    assert result.valid is False and "resting order o1 filled (1)" in result.summary


def test_an_earlier_runs_halt_on_a_platform_that_outlives_runs_is_not_this_runs() -> None:
    """--target-file: the platform's /audit/halts and journal hold earlier runs too. A halt over
    before this run started (the harness's clock) is not judged against this run's clients."""
    halts = [halt(5.0), halt(10.0, "resume")]
    by_halt = [*PLACED, record(9, 5.0, "halt", "h", events=[{"type": "cancel", "order_id": "o1", "market": "um",
                                                            "reason": "halt"}])]
    for started, judged in ((T0 + 4.0, False), (T0 + 11.0, True)):
        config = {"risk": {}, "run_started": started}
        result = resting(placed_history(), audit(config=config, halts=halts, journal=by_halt,
                                                 books=books(o2="1.5", o4="0.6")))
        assert result.valid is judged, result.summary
        assert len(halt_intervals(audit(config=config, halts=halts))) == (0 if judged else 1)


def test_resting_orders_judge_an_expected_halt_that_was_not_recorded() -> None:
    """A fault that should halt UM, no halt in /audit/halts: its due span is judged, not skipped."""
    def fault(h: HistoryBuilder) -> None:
        h.fault("f1", 5.0, 15.0)

    filled = [*PLACED, record(9, 7.0, "order", "c-t2", events=[trade_event("o1", "1")])]
    result = resting(placed_history(fault), audit(halts=[], journal=filled, books=books(o2="1.5", o4="0.6")))
    assert result.valid is False and "resting order o1 filled (1)" in result.summary
    assert result.figures["halts_due_unrecorded"] == 1
    before = [*PLACED, record(9, 4.0, "order", "c-t2", events=[trade_event("o1", "1")])]  # before the fault: legitimate
    assert resting(placed_history(fault), audit(halts=[], journal=before, books=books(o2="1.5", o4="0.6"))).valid is True


def test_resting_orders_unknown_without_books_journal_or_halts() -> None:
    assert resting(placed_history(), audit(halts=[], journal=PLACED, books=None)).valid == "unknown"
    assert resting(placed_history(), audit(halts=[], journal=None, books=GOOD_BOOKS)).valid == "unknown"
    assert resting(placed_history(), audit(halts=None, journal=PLACED, books=GOOD_BOOKS)).valid == "unknown"
    lost = resting(placed_history(), audit(halts=None, journal=PLACED, books=books(o1="1", o4="0.6")))
    assert lost.valid is False  # a lost order needs no halt record to be a violation


# ---- blast_radius --------------------------------------------------------------------------------
def spot_history(during_outcome: str, during_error: str | None = None, during_status: int | None = 200,
                 *, um_only: bool = True) -> History:
    h = HistoryBuilder()
    for i in range(20):
        h.request("spot_order", i * 0.2, "ok", f"b{i}", latency_ms=5)
    fault_with_scope(h, "f1", 5.0, 15.0, um_only=um_only, expect_um_halt=True)
    for i in range(20):
        h.request("spot_order", 6 + i * 0.2, during_outcome, f"d{i}", latency_ms=6, error=during_error, status=during_status)
    return h.build()


def test_blast_radius_true_false_unknown() -> None:
    assert blast(spot_history("ok"), audit()).valid is True
    result = blast(spot_history("fail", "UM_HALTED", 503), audit())
    assert result.valid is False and "success rate" in result.summary
    h = HistoryBuilder()
    fault_with_scope(h, "f1", 5.0, 15.0, um_only=True)
    assert blast(h.build(), audit()).valid == "unknown"


def test_blast_radius_does_not_judge_spot_during_a_fault_spot_shares() -> None:
    """An auth black hole, then a margin slowdown: spot fails closed during the first (as it must)
    and is judged during the second only."""
    def hist(spot_fails_in_margin_fault: bool) -> History:
        h = HistoryBuilder()
        for i in range(20):
            h.request("spot_order", i * 0.2, "ok", f"b{i}", latency_ms=5)
        fault_with_scope(h, "auth", 5.0, 15.0, um_only=False, fault="timeout", target="gateway->auth")
        for i in range(20):
            h.request("spot_order", 6 + i * 0.2, "fail", f"a{i}", status=503, error="AUTH_UNAVAILABLE")
        fault_with_scope(h, "margin", 20.0, 30.0, um_only=True, expect_um_halt=True)
        for i in range(20):
            failing = spot_fails_in_margin_fault and i % 2 == 0
            h.request("spot_order", 21 + i * 0.2, "info" if failing else "ok", f"m{i}", status=503 if failing else 200,
                      error="HTTP_503" if failing else None)
        return h.build()

    assert blast(hist(False), audit()).valid is True
    spilled = blast(hist(True), audit())
    assert spilled.valid is False and "during UM-only faults" in spilled.summary
    assert spilled.figures["um_only_faults"] == 1 and spilled.figures["shared_faults"] == 1


def test_blast_radius_excludes_time_overlapping_a_shared_fault() -> None:
    def hist(fail_from: float, fail_to: float) -> History:
        h = HistoryBuilder()
        for i in range(20):
            h.request("spot_order", i * 0.2, "ok", f"b{i}", latency_ms=5)
        fault_with_scope(h, "margin", 5.0, 15.0, um_only=True, expect_um_halt=True)
        fault_with_scope(h, "ledger", 8.0, 10.0, um_only=False, fault="pause", target="ledger-a")
        for i in range(45):
            t = 5.5 + i * 0.2
            failing = fail_from <= t < fail_to
            h.request("spot_order", t, "fail" if failing else "ok", f"d{i}", status=503 if failing else 200,
                      error="JOURNAL_UNAVAILABLE" if failing else None)
        return h.build()

    assert blast(hist(8.0, 10.0), audit()).valid is True  # spot failed closed only while the ledger was paused
    assert blast(hist(11.0, 13.0), audit()).valid is False  # the same failures in UM-only time are a spill


def test_spot_coming_back_from_a_shared_fault_is_not_judged_in_a_um_only_fault_begun_meanwhile() -> None:
    """The ledger paused 2-4 s (spot needs it), then margin slowed from 4.5 s: spot refused until
    it was served again at 5.6 s is the ledger's recovery, not a spill of the margin fault."""
    def hist(back_at: float) -> History:
        h = HistoryBuilder()
        for i in range(20):
            h.request("spot_order", i * 0.1, "ok", f"b{i}", latency_ms=5)
        fault_with_scope(h, "ledger", 2.0, 4.0, um_only=False, fault="pause", target="ledger-a")
        fault_with_scope(h, "margin", 4.5, 15.0, um_only=True, expect_um_halt=True)
        for i in range(60):
            t = 2.0 + i * 0.2
            refused = t < back_at
            h.request("spot_order", t, "fail" if refused else "ok", f"d{i}", status=503 if refused else 200,
                      error="JOURNAL_UNAVAILABLE" if refused else None)
        return h.build()

    def spot_halted(history: History) -> bool:
        return any("spot was halted with UM" in e.text for e in safe_halt(history, audit(halts=[], journal=[])).evidence)

    assert blast(hist(5.6), audit()).valid is True and not spot_halted(hist(5.6))
    again = HistoryBuilder()  # refused again once it was back: the UM-only fault's doing
    again.ops = list(hist(5.6))
    for i in range(10):
        again.request("spot_order", 8.0 + i * 0.2, "fail", f"r{i}", status=503, error="MARKET_CLOSED")
    assert blast(again.build(), audit()).valid is False and spot_halted(again.build())


def test_blast_radius_vacuous_without_a_um_only_fault() -> None:
    result = blast(spot_history("fail", "AUTH_UNAVAILABLE", 503, um_only=False), audit())
    assert result.valid is True and "no fault confined to the UM path (vacuous)" in result.summary


def test_blast_radius_p99_must_be_sustained_not_one_stall() -> None:
    """Spot slowed through the fault fails; one 0.5 s pause of everything (a busy CI machine) passes."""
    def hist(slow_at: Callable[[float], bool]) -> History:
        h = HistoryBuilder()
        for i in range(50):
            h.request("spot_order", i * 0.1, "ok", f"b{i}", latency_ms=5)
        fault_with_scope(h, "f1", 5.0, 15.0, um_only=True, expect_um_halt=True)
        for i in range(100):
            t = 5.05 + i * 0.1
            h.request("spot_order", t, "ok", f"d{i}", latency_ms=400 if slow_at(t) else 6)
        return h.build()

    sustained = blast(hist(lambda t: int(t * 10) % 10 == 3), audit())  # one in ten, every second
    assert sustained.valid is False and "over the bound in 10 of 10 seconds" in sustained.summary, sustained.summary
    stall = blast(hist(lambda t: 9.6 <= t < 9.9), audit())  # all in flight answered at once
    assert stall.valid is True and "a burst, not sustained" in stall.summary, stall.summary
    assert stall.figures["spot_slow_seconds"] == 1
