"""The checks that cross-examine the ledger (segregation, rollback, no_acked_write_lost,
auth_fail_closed): each lie the target can tell is caught, and the honest case passes."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from harness.audit import JournalRecord
from harness.checks import check_fn
from harness.checks.base import CheckResult
from harness.checks.common import client_parts, parts_of, target_names
from harness.history import History
from tests.harness.factories import T0, HistoryBuilder, audit, leg, record

USDT = 1_000_000  # minor units per USDT


def wallets(src: str, dst: str) -> dict[str, Any]:
    return {"from": src, "to": dst}  # "from" is a keyword: passed as **


def check(name: str, history: History, **parts: Any) -> CheckResult:
    return check_fn(name)(history, audit(**parts))


def balances(last_seq: int | None = None, t: float = 0.0, epoch: int | None = None, **accounts: int) -> dict[str, Any]:
    """A balances view in USDT; account names with '__' for ':' (cust__a__spot)."""
    view: dict[str, Any] = {"time": T0 + t, "balances": {k.replace("__", ":"): {"USDT": v} for k, v in accounts.items()}}
    if last_seq is not None:
        view["last_seq"] = last_seq
    if epoch is not None:
        view["epoch"] = epoch
    return view


def move(seq: int, t: float, kind: str, cid: str, debit: str, credit: str, amount: int, epoch: int = 1,
         events: list[dict[str, Any]] | None = None) -> JournalRecord:
    """A record moving ``amount`` USDT minor units: ``debit`` debited, ``credit`` credited."""
    return record(seq, t, kind, cid, legs=[leg(debit, "USDT", amount), leg(credit, "USDT", -amount)], epoch=epoch,
                  events=events)


# ---- segregation ---------------------------------------------------------------------------------
GENESIS = move(1, 0.0, "genesis", "g", "wallet:segregated", "cust:a:spot", 100)
FEE = record(2, 1.0, "order", "o", legs=[leg("cust:a:spot", "USDT", 1), leg("fee:revenue", "USDT", -1),
                                        leg("wallet:house", "USDT", 1), leg("wallet:segregated", "USDT", -1)])
AFTER_GENESIS = balances(wallet__segregated=100, cust__a__spot=100)
AFTER_FEE = balances(wallet__segregated=99, wallet__house=1, cust__a__spot=99, fee__revenue=1)


def test_segregation_passes_when_every_view_equals_the_legs() -> None:
    samples = [{**AFTER_GENESIS, "last_seq": 1, "epoch": 1}, {**AFTER_FEE, "last_seq": 2}]
    result = check("segregation", History([]), journal=[GENESIS, FEE], balances={**AFTER_FEE, "last_seq": 2},
                   balance_samples=samples)
    assert result.valid is True, result.summary
    assert result.figures["views_compared_with_legs"] == 3 and result.figures["samples_judged_alone"] == 0
    # a final view naming no seq is compared with the whole journal
    assert check("segregation", History([]), journal=[GENESIS, FEE], balances=AFTER_FEE).valid is True


def test_segregation_catches_final_balances_served_from_a_cache_missing_legs() -> None:
    """ledger_misreport: the final balances miss the fee record's legs, yet look segregated."""
    result = check("segregation", History([]), journal=[GENESIS, FEE], balances=AFTER_GENESIS)
    assert result.valid is False
    assert "final /audit/balances differs from the journal's legs through seq 2 on 4 account/asset(s)" in result.summary
    assert "cust:a:spot USDT reported 100, legs give 99 (difference +1)" in result.summary


def test_segregation_compares_a_sample_at_its_journal_position() -> None:
    lying = {**AFTER_GENESIS, "last_seq": 2}  # claims to include the fee record but misses its legs
    result = check("segregation", History([]), journal=[GENESIS, FEE], balances=AFTER_FEE, balance_samples=[lying])
    assert result.valid is False and result.summary.startswith("1 segregation violation(s): balance sample at")
    # the same figures at seq 1 are true
    honest = {**AFTER_GENESIS, "last_seq": 1}
    assert check("segregation", History([]), journal=[GENESIS, FEE], balances=AFTER_FEE,
                 balance_samples=[honest]).valid is True
    # without a journal position a sample is judged on its own figures: segregated, so it passes
    result = check("segregation", History([]), journal=[GENESIS, FEE], balances=AFTER_FEE,
                   balance_samples=[AFTER_GENESIS])
    assert result.valid is True and result.figures["samples_judged_alone"] == 1


def test_segregation_skips_a_sample_whose_journal_prefix_a_later_epoch_rewrote() -> None:
    """A sample of a deposed primary saw its own record 2, which the new primary replaced."""
    rewritten = [GENESIS, record(2, 1.0, "order", "n", epoch=2)]
    stale_sample = {**AFTER_FEE, "last_seq": 2, "epoch": 1}
    result = check("segregation", History([]), journal=rewritten, balances=AFTER_GENESIS, balance_samples=[stale_sample])
    assert result.valid is True and result.figures["views_not_comparable"] == 1
    assert "rewritten by a later epoch" in result.summary
    no_epoch = {**AFTER_FEE, "last_seq": 2}  # names no epoch: a prefix of two epochs is not comparable
    assert check("segregation", History([]), journal=rewritten, balances=AFTER_GENESIS,
                 balance_samples=[no_epoch]).figures["views_not_comparable"] == 1
    same_epoch = {**AFTER_FEE, "last_seq": 2, "epoch": 2}  # taken on the new primary: compared, and it lies
    assert check("segregation", History([]), journal=rewritten, balances=AFTER_GENESIS,
                 balance_samples=[same_epoch]).valid is False


def test_segregation_unknown_when_the_final_balances_cover_records_the_journal_lacks() -> None:
    result = check("segregation", History([]), journal=[GENESIS], balances={**AFTER_GENESIS, "last_seq": 5})
    assert result.valid == "unknown" and "beyond the journal's last (1)" in result.summary
    assert check("segregation", History([]), journal=[GENESIS], balances=None).valid == "unknown"
    assert check("segregation", History([]), journal=None, balances=AFTER_GENESIS).valid == "unknown"


def test_segregation_rules_on_the_recomputed_balances() -> None:
    commingled = record(2, 1.0, "order", "o", legs=[leg("cust:a:spot", "USDT", 1), leg("fee:revenue", "USDT", -1)])
    reported = balances(wallet__segregated=100, cust__a__spot=99, fee__revenue=1)
    result = check("segregation", History([]), journal=[GENESIS, commingled], balances=reported)
    assert result.valid is False and "record 2 (order) moves 1 USDT to exchange accounts but 0 into the house" in result.summary
    # the final view is true at its seq 1, but the journal's tail leaves customer money in suspense
    tail = move(2, 1.0, "transfer", "t", "cust:a:spot", "suspense:transfer", 5)
    result = check("segregation", History([]), journal=[GENESIS, tail], balances={**AFTER_GENESIS, "last_seq": 1})
    assert result.valid is False and "the journal's legs leave the segregated wallet off" in result.summary
    # custody leaving both wallets outside a deposit or withdrawal
    leak = record(2, 1.0, "order", "x", legs=[leg("cust:a:spot", "USDT", 1), leg("wallet:segregated", "USDT", -1)])
    result = check("segregation", History([]), journal=[GENESIS, leak],
                   balances=balances(wallet__segregated=99, cust__a__spot=99))
    assert result.valid is False and "record 2 (order) changes custody by {'USDT': -1}" in result.summary


# ---- rollback ------------------------------------------------------------------------------------
def transfer(h: HistoryBuilder, t: float, outcome: str, cid: str, amount: str = "5", src: str = "spot",
             dst: str = "um") -> None:
    status, error = {"ok": (200, None), "fail": (503, "UM_HALTED"), "info": (None, "ReadTimeout")}[outcome]
    h.request("transfer", t, outcome, cid, account="a", status=status, error=error, asset="USDT", amount=amount,
              **wallets(src, dst))


def event(amount: str = "5", src: str = "spot", dst: str = "um") -> list[dict[str, Any]]:
    return [{"type": "transfer", "account": "a", "asset": "USDT", "amount": amount, "from": src, "to": dst}]


def whole(seq: int, cid: str, minor: int = 5 * USDT) -> JournalRecord:
    return move(seq, 1.0, "transfer", cid, "cust:a:spot", "cust:a:um", minor, events=event())


def test_rollback_passes_whole_transfers_in_one_record_or_two_parts() -> None:
    h = HistoryBuilder()
    transfer(h, 1.0, "ok", "t1")
    transfer(h, 2.0, "info", "t2")  # unknown outcome: applied whole here
    transfer(h, 3.0, "info", "t3")  # unknown outcome: absent
    transfer(h, 4.0, "fail", "t4")  # refused: absent
    transfer(h, 5.0, "ok", "t5")  # two parts through suspense, both of kind transfer
    journal = [whole(1, "t1"), whole(2, "t2"),
               move(3, 5.0, "transfer", "t5", "cust:a:spot", "suspense:transfer", 5 * USDT, events=event()),
               move(4, 5.0, "transfer", "t5#2", "suspense:transfer", "cust:a:um", 5 * USDT)]
    result = check("rollback", h.build(), journal=journal)
    assert result.valid is True, result.summary
    assert result.figures["transfers_applied"] == 3 and result.figures["transfers_unknown_outcome"] == 2


def test_rollback_catches_a_transfer_half_applied_whatever_its_record_kind() -> None:
    """non_atomic_transfer: the first part committed, the second never (a crash between them)."""
    h = HistoryBuilder()
    transfer(h, 1.0, "info", "t1")
    half = move(1, 1.0, "transfer", "t1", "cust:a:spot", "suspense:transfer", 5 * USDT, events=event())
    result = check("rollback", h.build(), journal=[half])
    assert result.valid is False
    texts = [e.text for e in result.evidence]
    assert any(t.startswith("suspense:transfer ends at -5000000 USDT") for t in texts)
    assert any("transfer t1 (5 USDT spot->um for a, client saw info) half-applied" in t for t in texts)


def test_rollback_judges_each_outcome_against_the_effect() -> None:
    h = HistoryBuilder()
    transfer(h, 1.0, "fail", "t1")
    result = check("rollback", h.build(), journal=[whole(1, "t1")])
    assert result.valid is False and "was refused (UM_HALTED) yet the ledger applied it" in result.summary
    h = HistoryBuilder()
    transfer(h, 1.0, "ok", "t1")
    result = check("rollback", h.build(), journal=[whole(1, "t1", minor=4 * USDT)])  # 4 USDT moved for 5 asked
    assert result.valid is False and "half-applied or mis-sized" in result.summary
    no_effect = record(1, 1.0, "transfer", "t1", events=event())
    result = check("rollback", h.build(), journal=[no_effect])
    assert result.valid is False and "acknowledged but its record(s) [1] have no effect" in result.summary
    wrong_way = move(1, 1.0, "transfer", "t1", "cust:a:um", "cust:a:spot", 5 * USDT, events=event())
    assert check("rollback", h.build(), journal=[wrong_way]).valid is False
    # acknowledged with no record at all: a lost write, judged by no_acked_write_lost, counted here
    result = check("rollback", h.build(), journal=[])
    assert result.valid is True and result.figures["transfers_acked_without_record"] == 1


def test_rollback_does_not_take_another_client_ids_records_as_parts() -> None:
    """t1's parts are t1 and t1#...; t12 is another transfer (the load's ids end in a counter)."""
    h = HistoryBuilder()
    transfer(h, 1.0, "fail", "t1")
    transfer(h, 2.0, "ok", "t12")
    assert check("rollback", h.build(), journal=[whole(1, "t12")]).valid is True
    parts = client_parts({"t1", "t12"}, [("t12", 1), ("t1#2", 2), ("debit#t1", 3), ("t1x", 4), ("t12", 5)])
    assert (parts_of("t12", parts), sorted(parts_of("t1", parts)), parts_of("t1x", parts)) == ([5, 1], [2, 3], [4])


def test_rollback_unbalanced_record_and_unknown() -> None:
    unbalanced = record(1, 1.0, "order", "o", legs=[leg("cust:a:spot", "USDT", 5), leg("cust:a:um", "USDT", -4)])
    result = check("rollback", History([]), journal=[unbalanced])
    assert result.valid is False and "record 1 (order o) does not balance: {'USDT': 1}" in result.summary
    assert check("rollback", History([]), journal=None).valid == "unknown"


@given(st.lists(st.tuples(st.sampled_from(["USDT", "BTC"]), st.integers(1, 10**12)), max_size=30))
def test_rollback_random_balanced_records_always_pass(moves: list[tuple[str, int]]) -> None:
    journal = [record(i + 1, float(i), "transfer", f"t{i}", legs=[leg("cust:a:spot", asset, n), leg("cust:a:um", asset, -n)])
               for i, (asset, n) in enumerate(moves)]
    assert check_fn("rollback")(History([]), audit(journal=journal)).valid is True


# ---- no_acked_write_lost -------------------------------------------------------------------------
ORDER: dict[str, Any] = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "qty": "0.005", "price": "50000.10"}


def order_record(seq: int, cid: str, epoch: int = 1, **changes: Any) -> JournalRecord:
    ev = {"type": "order", "order_id": f"o-{cid}", "account": "a1", "symbol": "BTCUSDT", "market": "um",
          "side": "BUY", "order_type": "LIMIT", "price": "50000.1", "qty": "0.0050", **changes}
    return record(seq, float(seq), "order", cid, events=[ev], epoch=epoch)


def acked_writes() -> tuple[HistoryBuilder, list[JournalRecord]]:
    """One acknowledged write of each kind and the journal records that hold exactly it."""
    h = HistoryBuilder()
    h.request("um_order", 1.0, "ok", "c1", account="a1", **ORDER)
    h.request("um_order", 1.5, "info", "c9", account="a1", status=None, **ORDER)  # unknown outcome: may be absent
    h.request("transfer", 2.0, "ok", "c2", account="a1", asset="USDT", amount="5", **wallets("spot", "um"))
    h.request("cancel", 3.0, "ok", "c3", account="a1", order_id="o-c1")
    h.request("leverage", 4.0, "ok", "c4", account="a1", symbol="ETHUSDT", leverage=10)
    journal = [order_record(1, "c1"),
               record(2, 2.0, "transfer", "c2", events=[{"type": "transfer", "account": "a1", "asset": "USDT",
                                                          "amount": "5.00", "from": "spot", "to": "um"}]),
               record(3, 3.0, "cancel", "c3", events=[{"type": "cancel", "order_id": "o-c1", "account": "a1",
                                                       "reason": "client"}]),
               record(4, 4.0, "leverage", "c4", events=[{"type": "leverage", "account": "a1", "symbol": "ETHUSDT",
                                                         "leverage": 10}])]
    return h, journal


def test_no_acked_write_lost_matches_every_kind_on_content() -> None:
    h, journal = acked_writes()
    result = check("no_acked_write_lost", h.build(), journal=journal)
    assert result.valid is True, result.summary
    assert result.figures["acked_writes"] == 4 and "with the content the clients asked" in result.summary
    assert check("no_acked_write_lost", h.build(), journal=journal[1:]).valid is False  # c1 lost
    assert check("no_acked_write_lost", h.build(), journal=None).valid == "unknown"


def test_no_acked_write_lost_catches_a_record_under_the_right_id_with_other_content() -> None:
    h, journal = acked_writes()
    for lie in (order_record(1, "c1", qty="0.004"), order_record(1, "c1", side="SELL"),
                order_record(1, "c1", account="a2"), order_record(1, "c1", price="49000")):
        result = check("no_acked_write_lost", h.build(), journal=[lie, *journal[1:]])
        assert result.valid is False and "acknowledged um_order c1 is in the journal with other content" in result.summary
    other_amount = record(2, 2.0, "transfer", "c2", events=[{"type": "transfer", "account": "a1", "asset": "USDT",
                                                             "amount": "4", "from": "spot", "to": "um"}])
    result = check("no_acked_write_lost", h.build(), journal=[journal[0], other_amount, *journal[2:]])
    assert result.valid is False and result.figures["content_differs"] == 1
    other_leverage = record(4, 4.0, "leverage", "c4", events=[{"type": "leverage", "account": "a1",
                                                               "symbol": "ETHUSDT", "leverage": 20}])
    assert check("no_acked_write_lost", h.build(), journal=[*journal[:3], other_leverage]).valid is False


def test_no_acked_write_lost_holds_the_journal_to_the_order_id_the_client_was_given() -> None:
    h = HistoryBuilder()
    h.add("invoke", "um_order", "u1", 1.0, {"client_id": "c1", "account": "a1", "api_key_valid": True, **ORDER})
    h.add("ok", "um_order", "u1", 1.01, {"client_id": "c1", "account": "a1", "status": 200,
                                         "body": {"order_id": "o-c1", "status": "NEW"}}, 10.0)
    assert check("no_acked_write_lost", h.build(), journal=[order_record(1, "c1")]).valid is True
    assert check("no_acked_write_lost", h.build(), journal=[order_record(1, "c1", order_id="o-other")]).valid is False


def test_no_acked_write_lost_finds_a_transfer_committed_in_parts() -> None:
    h, journal = acked_writes()
    parts = [record(2, 2.0, "transfer", "c2", legs=[]),  # the first part carries no event
             record(5, 2.0, "transfer", "c2#2", events=journal[1].events)]
    assert check("no_acked_write_lost", h.build(), journal=[journal[0], *parts, *journal[2:]]).valid is True


def test_no_acked_write_lost_fencing_from_the_journal() -> None:
    h, journal = acked_writes()
    fenced = journal + [order_record(5, "n1", epoch=2), order_record(6, "old", epoch=1)]
    result = check("no_acked_write_lost", h.build(), journal=fenced, replication={"failovers": [{"epoch": 2}]})
    assert result.valid is False and "at epoch 1 after the failover to epoch 2" in result.summary
    # A deposed primary's writes replicated before the new epoch's first record (the no_fencing
    # defect): past the new primary's keep_through_seq, an old epoch is a fenced write accepted.
    deposed = journal + [order_record(5, "old", epoch=1), order_record(6, "n1", epoch=2)]
    result = check("no_acked_write_lost", h.build(), journal=deposed,
                   replication={"failovers": [{"epoch": 2, "keep_through_seq": 4}]})
    assert result.valid is False and "record 5 (order old) written at epoch 1" in result.summary
    caught_up = {"failovers": [{"epoch": 2, "keep_through_seq": 5}]}  # record 5 was there before the promotion
    assert check("no_acked_write_lost", h.build(), journal=deposed, replication=caught_up).valid is True


def test_no_acked_write_lost_without_a_replication_view_after_a_failover_relevant_fault_is_unknown() -> None:
    for fault, target in (("pause", "ledger-a"), ("region_power_loss", "region A"),
                          ("partition", "coordinator->ledger-a,ledger-a->coordinator"), ("partition", "A↔B")):
        h, journal = acked_writes()
        h.fault("f1", 0.5, 6.0, fault=fault, target=target, expect_um_halt=False)
        result = check("no_acked_write_lost", h.build(), journal=journal, replication=None)
        assert result.valid == "unknown" and "fencing is not judged: no replication view" in result.summary, target
    h, journal = acked_writes()
    h.fault("f1", 0.5, 6.0, target="matching->margin")  # nothing a failover needs was touched
    result = check("no_acked_write_lost", h.build(), journal=journal, replication=None)
    assert result.valid is True and "no failover-relevant fault" in result.summary
    h.fault("f2", 7.0, 8.0, fault="kill", target="ledger-a", landed=False)  # never landed: nothing happened
    assert check("no_acked_write_lost", h.build(), journal=journal, replication=None).valid is True
    assert target_names("coordinator->ledger-a,ledger-a->coordinator") == {"coordinator", "ledger-a"}


def test_the_primary_ledger_is_the_one_the_targets_roles_name() -> None:
    """On a target whose home primary is "books-east" in region "east", a pause of it is
    failover-relevant and one of umref's ledger-a is nothing."""
    config = {"risk": {}, "topology": {"region_of": {"books-east": "east", "books-west": "west"},
                                       "roles": {"ledgers": ["books-east", "books-west"]}}}
    for target, relevant in (("books-east", True), ("region east", True), ("ledger-a", False)):
        h, journal = acked_writes()
        h.fault("f1", 0.5, 6.0, fault="pause", target=target, expect_um_halt=False)
        result = check_fn("no_acked_write_lost")(h.build(), audit(config=config, journal=journal, replication=None))
        assert (result.valid == "unknown") is relevant, (target, result.summary)
    h, journal = acked_writes()  # no topology facts: whether the fault touched the primary is not known
    h.fault("f1", 0.5, 6.0, fault="pause", target="books-east", expect_um_halt=False)
    blind = check_fn("no_acked_write_lost")(h.build(), audit(config={"risk": {}}, journal=journal, replication=None))
    assert blind.valid == "unknown" and "names no primary ledger" in blind.summary


def discarded(seq: int, cid: str, t: float, *, acked: bool | None, epoch: int = 1) -> dict[str, Any]:
    return {"seq": seq, "epoch": epoch, "node": "ledger-a", "time": T0 + t, "client_id": cid, "kind": "order",
            "events": order_record(seq, cid).events, "legs": [], "reason": "demoted", "acked": acked}


def test_no_acked_write_lost_reads_what_a_deposed_node_discarded() -> None:
    failover = {"failovers": [{"time": T0 + 4.5, "to": "ledger-b", "epoch": 2, "keep_through_seq": 4}]}
    h, journal = acked_writes()
    h.request("um_order", 5.0, "ok", "c5", account="a1", **ORDER)
    gone = discarded(5, "c5", 5.0, acked=True)
    result = check("no_acked_write_lost", h.build(), journal=journal, replication=failover, discarded=[gone])
    assert result.valid is False
    assert ("acknowledged um_order c5 is not in the journal; only in the records ledger-a discarded (seq 5, epoch 1, "
            "demoted): a deposed primary acknowledged it after the failover to epoch 2 (fencing)") in result.summary
    # an internal write the deposed node says it acknowledged at its old epoch after the failover
    h, journal = acked_writes()
    result = check("no_acked_write_lost", h.build(), journal=journal, replication=failover,
                   discarded=[discarded(5, "liq-1", 5.0, acked=True)])
    assert result.valid is False and ("ledger-a acknowledged order liq-1 (seq 5, epoch 1) after the failover to epoch 2 "
                                      "(fencing), then discarded it") in result.summary
    # acknowledged and discarded before any failover: still a lost write, by the node's own account
    result = check("no_acked_write_lost", h.build(), journal=journal, replication={"failovers": []},
                   discarded=[discarded(5, "liq-1", 5.0, acked=True)])
    assert result.valid is False and "then discarded it: an acknowledged write lost" in result.summary
    # ... unless the write is in the journal after all (retried under its id by the new primary)
    retried = [*journal, order_record(5, "liq-1", epoch=2)]
    assert check("no_acked_write_lost", h.build(), journal=retried, replication=failover,
                 discarded=[discarded(5, "liq-1", 5.0, acked=True)]).valid is True
    # written locally after the failover and rolled back unacknowledged (a fenced node's 504): no violation
    result = check("no_acked_write_lost", h.build(), journal=journal, replication=failover,
                   discarded=[discarded(5, "liq-1", 5.0, acked=False), discarded(5, "x", 4.0, acked=None)])
    assert result.valid is True and result.figures["discarded_after_failover_at_old_epoch"] == 1
    assert "1 discarded record(s) at an old epoch after a failover, none acknowledged" in result.summary
    absent = check("no_acked_write_lost", h.build(), journal=journal, replication=failover)
    assert absent.valid is True and "the target keeps no discarded records" in absent.summary


# ---- auth_fail_closed ----------------------------------------------------------------------------
def order_event(oid: str, account: str = "a1") -> dict[str, Any]:
    return {"type": "order", "order_id": oid, "account": account, "symbol": "BTCUSDT", "market": "um", "side": "BUY",
            "price": "100", "qty": "1"}


def auth_history(forged_outcome: str | None = "fail", forged_at: float = 2.0, fault: str | None = "gateway->auth",
                 ) -> History:
    h = HistoryBuilder()
    if fault is not None:
        h.fault("f1", 1.0, 5.0, fault="down", target=fault, expect_um_halt=False)
    h.request("um_order", 0.5, "ok", "good", account="a1")
    if forged_outcome is not None:
        h.request("um_order", forged_at, forged_outcome, "forged", account="a1", valid_key=False,
                  status=200 if forged_outcome == "ok" else 503,
                  error=None if forged_outcome == "ok" else "AUTH_UNAVAILABLE")
    return h.build()


GOOD_JOURNAL = [record(1, 0.5, "order", "good", events=[order_event("o-good", "a1")])]


def test_the_auth_service_is_the_one_the_targets_roles_name() -> None:
    """A target whose authentication service is called "keys": a fault on its link puts failing
    closed to the test; umref's name means nothing there (the roles come from the run's config)."""
    keys = {"risk": {}, "topology": {"region_of": {"gateway": "A", "keys": "A"}, "roles": {"auth": ["keys"]}}}
    on_keys = check_fn("auth_fail_closed")(auth_history(fault="gateway->keys"), audit(config=keys, journal=GOOD_JOURNAL))
    assert on_keys.valid is True and on_keys.figures["auth_faults"] == 1
    on_auth = check_fn("auth_fail_closed")(auth_history(fault="gateway->auth"), audit(config=keys, journal=GOOD_JOURNAL))
    assert on_auth.valid == "unknown" and on_auth.figures["auth_faults"] == 0


def test_auth_fail_closed_passes_forged_requests_refused_while_auth_was_down() -> None:
    result = check("auth_fail_closed", auth_history(), journal=GOOD_JOURNAL)
    assert result.valid is True and result.figures["invalid_key_during_auth_fault"] == 1
    assert check("auth_fail_closed", auth_history(fault="auth"), journal=GOOD_JOURNAL).valid is True


def test_auth_fail_closed_is_unknown_when_failing_closed_was_never_tried() -> None:
    result = check("auth_fail_closed", auth_history(forged_outcome=None), journal=GOOD_JOURNAL)
    assert result.valid == "unknown" and "no request with an invalid key was sent" in result.summary
    result = check("auth_fail_closed", auth_history(fault=None), journal=GOOD_JOURNAL)
    assert result.valid == "unknown" and "no fault touched auth" in result.summary
    result = check("auth_fail_closed", auth_history(forged_at=6.0), journal=GOOD_JOURNAL)  # after the heal
    assert result.valid == "unknown" and "none while auth was faulted (1 auth fault(s))" in result.summary
    result = check("auth_fail_closed", auth_history(fault="matching->margin"), journal=GOOD_JOURNAL)
    assert result.valid == "unknown"


def test_auth_fail_closed_catches_forged_accepted_and_cross_account_writes() -> None:
    forged_journal = GOOD_JOURNAL + [record(2, 2.0, "order", "forged", events=[order_event("o-f", "a1")])]
    result = check("auth_fail_closed", auth_history("ok"), journal=forged_journal)
    assert result.valid is False and "um_order forged with an invalid key was accepted" in result.summary
    # journaled though the client was refused: the record is the evidence
    assert check("auth_fail_closed", auth_history("fail"), journal=forged_journal).valid is False
    other_account = [record(1, 0.5, "order", "good", events=[order_event("o-good", "a2")])]
    result = check("auth_fail_closed", auth_history(), journal=other_account)
    assert result.valid is False and "good from a1 touched account a2" in result.summary
    assert check("auth_fail_closed", auth_history(), journal=None).valid == "unknown"
