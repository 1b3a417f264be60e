"""Each check on small hand-made histories: true, false and unknown."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st
from pytest import MonkeyPatch

from harness import history as history_module
from harness.checks import CHECKS, run_checks
from harness.checks.base import CheckResult, run_check
from harness.history import History, Op, read_ops
from tests.harness.factories import T0, HistoryBuilder, audit, halt, leg, record


def order_event(oid: str, account: str = "a1", qty: str = "1", price: str | None = "100") -> dict:
    return {"type": "order", "order_id": oid, "account": account, "symbol": "BTCUSDT", "market": "um", "side": "BUY",
            "price": price, "qty": qty}


# ---- safe_halt -----------------------------------------------------------------------------------
def halting_history(landed: bool = True) -> History:
    h = HistoryBuilder()
    h.fault("f1", 5.0, 15.0, landed=landed)
    for i in range(20):
        h.request("spot_order", 1 + i, "ok", f"s{i}")
    return h.build()


def test_safe_halt_true_when_halted_in_budget_and_nothing_inside() -> None:
    a = audit(halts=[halt(5.4), halt(18.0, "resume")], journal=[record(1, 4.0, "order", "o1"), record(2, 19.0, "order", "o2")])
    assert CHECKS["safe_halt"](halting_history(), a).valid is True


def test_safe_halt_false_when_no_halt_or_late_or_write_inside_or_spot() -> None:
    assert CHECKS["safe_halt"](halting_history(), audit(halts=[])).valid is False
    late = CHECKS["safe_halt"](halting_history(), audit(halts=[halt(6.0), halt(18.0, "resume")]))
    assert late.valid is False and "not halted within" in late.summary
    inside = CHECKS["safe_halt"](halting_history(), audit(halts=[halt(5.3), halt(18.0, "resume")],
                                                           journal=[record(1, 10.0, "transfer", "t1")]))
    assert inside.valid is False and inside.evidence[0].records == (1,)
    spot = CHECKS["safe_halt"](halting_history(), audit(halts=[halt(5.3, scope=("um", "spot")), halt(18.0, "resume")]))
    assert spot.valid is False and "spot" in spot.summary


def test_safe_halt_false_when_um_resumes_before_margin_was_healthy_long_enough() -> None:
    during = CHECKS["safe_halt"](halting_history(), audit(halts=[halt(5.3), halt(12.0, "resume"), halt(12.2)]))
    assert during.valid is False and "UM resumed -3.00" in during.summary and "from the heal of fault f1" in during.summary
    early = CHECKS["safe_halt"](halting_history(), audit(halts=[halt(5.3), halt(16.5, "resume")]))
    assert early.valid is False and "not been healthy for 3 s (no hysteresis)" in early.summary
    assert CHECKS["safe_halt"](halting_history(), audit(halts=[halt(5.3), halt(17.95, "resume")])).valid is True


def test_safe_halt_unknown_when_fault_did_not_land_or_audit_missing() -> None:
    assert CHECKS["safe_halt"](halting_history(landed=False), audit(halts=[])).valid == "unknown"
    assert CHECKS["safe_halt"](halting_history(), audit(halts=None)).valid == "unknown"


# ---- resting_orders_preserved --------------------------------------------------------------------
def test_resting_orders_true_false_unknown() -> None:
    journal = [record(1, 1.0, "order", "c1", events=[order_event("o1")]), record(2, 2.0, "order", "c2", events=[order_event("o2")])]
    halts = [halt(5.0), halt(10.0, "resume")]
    h = HistoryBuilder()
    h.request("cancel", 6.0, "ok", "x1")
    hist = h.build()
    cancel = {"type": "cancel", "order_id": "o1", "account": "a1", "symbol": "BTCUSDT", "market": "um", "qty": "1", "reason": "client"}
    by_client = journal + [record(3, 6.0, "cancel", "x1", events=[cancel])]
    assert CHECKS["resting_orders_preserved"](hist, audit(halts=halts, journal=by_client)).valid is True
    by_halt = journal + [record(3, 5.0, "halt", "h", events=[{**cancel, "reason": "halt"}])]
    result = CHECKS["resting_orders_preserved"](hist, audit(halts=halts, journal=by_halt))
    assert result.valid is False and "o1" in result.summary
    assert CHECKS["resting_orders_preserved"](hist, audit(halts=halts, journal=None)).valid == "unknown"


# ---- no_erroneous_margin_calls --------------------------------------------------------------------
PRICES = {"step_s": 0.1, "start": T0, "assets": {"BTC": [[T0, "50000.00"], [T0 + 8.0, "46500.00"]]}}


def margin_call(t: float, price: str, price_t: float, wallet: str = "3700") -> dict:
    return {"type": "margin_call", "time": T0 + t, "account": "lev0", "wallet": {"USDT": wallet},
            "positions": [{"symbol": "BTCUSDT", "qty": "1", "entry_price": "50000", "leverage": 20}],
            "prices": [{"asset": "BTC", "price": price, "time": T0 + price_t}], "seq": 9}


def test_margin_calls_true_on_fresh_true_prices_below_threshold() -> None:
    a = audit(prices=PRICES, margin_calls=[margin_call(8.5, "46500.00", 8.4)])
    assert CHECKS["no_erroneous_margin_calls"](History([]), a).valid is True


def test_margin_calls_false_on_stale_wrong_healthy_or_inside_halt() -> None:
    check = CHECKS["no_erroneous_margin_calls"]
    stale = check(History([]), audit(prices=PRICES, margin_calls=[margin_call(12.0, "46500.00", 8.4)]))
    assert stale.valid is False and "stale" in stale.summary
    wrong = check(History([]), audit(prices=PRICES, margin_calls=[margin_call(8.5, "46000.00", 8.4)]))
    assert wrong.valid is False and "true price" in wrong.summary
    healthy = check(History([]), audit(prices=PRICES, margin_calls=[margin_call(1.0, "50000.00", 0.9)]))
    assert healthy.valid is False and "uniMMR" in healthy.summary
    halted = check(History([]), audit(prices=PRICES, halts=[halt(8.0)], margin_calls=[margin_call(8.5, "46500.00", 8.4)]))
    assert halted.valid is False and "inside a halt" in halted.summary
    before_resume = check(History([]), audit(prices=PRICES, halts=[halt(3.0), halt(8.45, "resume")],
                                             margin_calls=[margin_call(8.5, "46500.00", 8.4)]))
    assert before_resume.valid is False and "before the last resume" in before_resume.summary


def test_margin_calls_unknown_without_prices() -> None:
    assert CHECKS["no_erroneous_margin_calls"](History([]), audit(prices=None)).valid == "unknown"


# ---- rollback ------------------------------------------------------------------------------------
def test_rollback_true_false_unknown() -> None:
    good = [record(1, 1.0, "transfer", "t1", legs=[leg("cust:a:spot", "USDT", 5), leg("cust:a:um", "USDT", -5)])]
    h = HistoryBuilder()
    h.request("transfer", 1.0, "info", "t1", status=None, error="ReadTimeout")
    h.request("transfer", 2.0, "fail", "t2", status=503, error="UM_HALTED")
    assert CHECKS["rollback"](h.build(), audit(journal=good)).valid is True
    unbalanced = [record(1, 1.0, "transfer", "t1", legs=[leg("cust:a:spot", "USDT", 5), leg("cust:a:um", "USDT", -4)])]
    assert CHECKS["rollback"](h.build(), audit(journal=unbalanced)).valid is False
    half = [record(1, 1.0, "transfer_debit", "t1#debit", legs=[leg("cust:a:spot", "USDT", 5), leg("suspense:transfer", "USDT", -5)])]
    result = CHECKS["rollback"](h.build(), audit(journal=half))
    assert result.valid is False and "half-applied" in result.summary
    refused_yet_applied = good + [record(2, 2.0, "transfer", "t2")]
    assert CHECKS["rollback"](h.build(), audit(journal=refused_yet_applied)).valid is False
    assert CHECKS["rollback"](h.build(), audit(journal=None)).valid == "unknown"


@given(st.lists(st.tuples(st.sampled_from(["USDT", "BTC"]), st.integers(1, 10**12)), max_size=30))
def test_rollback_random_balanced_records_always_pass(moves: list[tuple[str, int]]) -> None:
    journal = [record(i + 1, float(i), "transfer", f"t{i}", legs=[leg("cust:a:spot", asset, n), leg("cust:a:um", asset, -n)])
               for i, (asset, n) in enumerate(moves)]
    assert CHECKS["rollback"](History([]), audit(journal=journal)).valid is True


# ---- segregation ---------------------------------------------------------------------------------
def test_segregation_true_false_unknown() -> None:
    genesis = record(1, 0.0, "genesis", "g", legs=[leg("wallet:segregated", "USDT", 100), leg("cust:a:spot", "USDT", -100)])
    fee = record(2, 1.0, "order", "o", legs=[leg("cust:a:spot", "USDT", 1), leg("fee:revenue", "USDT", -1),
                                              leg("wallet:house", "USDT", 1), leg("wallet:segregated", "USDT", -1)])
    balances = {"time": T0, "balances": {"wallet:segregated": {"USDT": 99}, "wallet:house": {"USDT": 1},
                                         "cust:a:spot": {"USDT": 99}, "fee:revenue": {"USDT": 1}}}
    assert CHECKS["segregation"](History([]), audit(journal=[genesis, fee], balances=balances)).valid is True
    commingled = record(2, 1.0, "order", "o", legs=[leg("cust:a:spot", "USDT", 1), leg("fee:revenue", "USDT", -1)])
    bad_balances = {"time": T0, "balances": {"wallet:segregated": {"USDT": 100}, "cust:a:spot": {"USDT": 99},
                                             "fee:revenue": {"USDT": 1}}}
    result = CHECKS["segregation"](History([]), audit(journal=[genesis, commingled], balances=bad_balances))
    assert result.valid is False
    assert CHECKS["segregation"](History([]), audit(journal=[genesis], balances=None)).valid == "unknown"


# ---- no_acked_write_lost -------------------------------------------------------------------------
def test_no_acked_write_lost_true_false_unknown() -> None:
    h = HistoryBuilder()
    h.request("um_order", 1.0, "ok", "c1")
    h.request("um_order", 2.0, "info", "c2", status=None)
    journal = [record(1, 1.0, "order", "c1")]
    assert CHECKS["no_acked_write_lost"](h.build(), audit(journal=journal)).valid is True
    assert CHECKS["no_acked_write_lost"](h.build(), audit(journal=[])).valid is False
    fenced = journal + [record(2, 3.0, "order", "n1", epoch=2), record(3, 3.1, "order", "old", epoch=1)]
    result = CHECKS["no_acked_write_lost"](h.build(), audit(journal=fenced, replication={"failovers": [{"epoch": 2}]}))
    assert result.valid is False and "at epoch 1 after the failover to epoch 2" in result.summary
    # A deposed primary's writes replicated before the new epoch's first record (the no_fencing
    # defect): past the new primary's keep_through_seq, an old epoch is a fenced write accepted.
    deposed = journal + [record(2, 3.0, "order", "old", epoch=1), record(3, 3.1, "order", "n1", epoch=2)]
    promoted_at_1 = {"failovers": [{"epoch": 2, "keep_through_seq": 1}]}
    result = CHECKS["no_acked_write_lost"](h.build(), audit(journal=deposed, replication=promoted_at_1))
    assert result.valid is False and "record 2 (order old) written at epoch 1" in result.summary
    caught_up = {"failovers": [{"epoch": 2, "keep_through_seq": 2}]}  # record 2 was there before the promotion
    assert CHECKS["no_acked_write_lost"](h.build(), audit(journal=deposed, replication=caught_up)).valid is True
    assert CHECKS["no_acked_write_lost"](h.build(), audit(journal=None)).valid == "unknown"


# ---- blast_radius --------------------------------------------------------------------------------
def spot_history(during_outcome: str, during_error: str | None = None, during_status: int | None = 200) -> History:
    h = HistoryBuilder()
    for i in range(20):
        h.request("spot_order", i * 0.2, "ok", f"b{i}", latency_ms=5)
    h.fault("f1", 5.0, 15.0)
    for i in range(20):
        h.request("spot_order", 6 + i * 0.2, during_outcome, f"d{i}", latency_ms=6, error=during_error, status=during_status)
    return h.build()


def test_blast_radius_true_false_unknown() -> None:
    assert CHECKS["blast_radius"](spot_history("ok"), audit()).valid is True
    result = CHECKS["blast_radius"](spot_history("fail", "UM_HALTED", 503), audit())
    assert result.valid is False and "success rate" in result.summary
    h = HistoryBuilder()
    h.fault("f1", 5.0, 15.0)
    assert CHECKS["blast_radius"](h.build(), audit()).valid == "unknown"


def test_blast_radius_p99_must_be_sustained_not_one_stall() -> None:
    """Spot slowed through the fault fails; one 0.5 s pause of everything (a busy CI machine) passes."""
    def hist(slow_at: Callable[[float], bool]) -> History:
        h = HistoryBuilder()
        for i in range(50):
            h.request("spot_order", i * 0.1, "ok", f"b{i}", latency_ms=5)
        h.fault("f1", 5.0, 15.0)
        for i in range(100):
            t = 5.05 + i * 0.1
            h.request("spot_order", t, "ok", f"d{i}", latency_ms=400 if slow_at(t) else 6)
        return h.build()

    sustained = CHECKS["blast_radius"](hist(lambda t: int(t * 10) % 10 == 3), audit())  # one in ten, every second
    assert sustained.valid is False and "over the bound in 10 of 10 seconds" in sustained.summary
    stall = CHECKS["blast_radius"](hist(lambda t: 9.6 <= t < 9.9), audit())  # all in flight answered at once
    assert stall.valid is True and "a burst, not sustained" in stall.summary, stall.summary
    assert stall.figures["spot_slow_seconds"] == 1


# ---- recovery ------------------------------------------------------------------------------------
# ---- auth_fail_closed ----------------------------------------------------------------------------
def test_auth_fail_closed_true_false_unknown() -> None:
    def hist(forged_outcome: str) -> History:
        h = HistoryBuilder()
        h.request("um_order", 1.0, "ok", "good", account="a1")
        h.request("um_order", 2.0, forged_outcome, "forged", account="a1", valid_key=False,
                  status=200 if forged_outcome == "ok" else 401, error=None if forged_outcome == "ok" else "UNAUTHORIZED")
        return h.build()

    good_journal = [record(1, 1.0, "order", "good", events=[order_event("o-good", "a1")])]
    assert CHECKS["auth_fail_closed"](hist("fail"), audit(journal=good_journal)).valid is True
    forged_journal = good_journal + [record(2, 2.0, "order", "forged", events=[order_event("o-f", "a1")])]
    assert CHECKS["auth_fail_closed"](hist("ok"), audit(journal=forged_journal)).valid is False
    other_account = [record(1, 1.0, "order", "good", events=[order_event("o-good", "a2")])]
    assert CHECKS["auth_fail_closed"](hist("fail"), audit(journal=other_account)).valid is False
    assert CHECKS["auth_fail_closed"](hist("fail"), audit(journal=None)).valid == "unknown"


# ---- composition ---------------------------------------------------------------------------------
def test_a_crashing_check_is_unknown_not_a_crash() -> None:
    def broken(history: History, audit: dict) -> CheckResult:
        raise ZeroDivisionError("boom")

    result = run_check("broken", broken, History([]), audit())
    assert result.valid == "unknown" and "ZeroDivisionError" in result.summary


def test_garbage_audit_makes_checks_unknown_never_raise() -> None:
    garbage = {"halts": "nonsense", "journal": [{"no": "fields"}], "margin_calls": 5, "prices": []}
    results = run_checks(CHECKS, halting_history(), garbage)
    assert all(r.valid in (True, False, "unknown") for r in results)
    assert any(r.valid == "unknown" for r in results)


def test_history_file_reads_back_op_for_op_and_skips_a_line_cut_by_a_kill(tmp_path: Path, monkeypatch: MonkeyPatch) -> None:
    """read_ops decodes in chunks: lines across chunk ends, blank lines and a torn last line."""
    monkeypatch.setattr(history_module, "CHUNK_BYTES", 200)  # many chunks, lines cut at their ends
    history = halting_history()
    path = tmp_path / "history.jsonl"
    history.write(path)
    with path.open("ab") as out:
        out.write(b"\n" + path.read_bytes().splitlines()[0][:40])  # a blank line, then a line cut short
    assert read_ops(path) == list(history.ops)
    assert Op.from_dict({"index": 0, "type": "ok", "f": "x", "process": "p", "time": 1.0, "mono": 0.0}).value == {}
