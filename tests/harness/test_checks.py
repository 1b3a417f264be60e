"""Each check on small hand-made histories: true, false and unknown."""

from __future__ import annotations

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


# ---- safe_halt, resting_orders_preserved, blast_radius: tests/harness/test_checks_halt.py -----------
def halting_history(landed: bool = True) -> History:
    h = HistoryBuilder()
    h.fault("f1", 5.0, 15.0, landed=landed)
    for i in range(20):
        h.request("spot_order", 1 + i, "ok", f"s{i}")
    return h.build()


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
