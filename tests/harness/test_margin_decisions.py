"""no_erroneous_risk_actions on hand-made histories: risk-level moves, liquidations and
reduce-only refusals judged against the harness's own ticks and the journal's positions and
wallets, in both directions (wrong or stale inputs; due moves missed, late or never undone)."""

from __future__ import annotations

import importlib
import random
from collections.abc import Callable
from typing import Any

from pytest import MonkeyPatch

from harness.audit import JournalRecord
from harness.checks import check_fn
from harness.checks.base import CheckResult
from harness.history import History
from tests.harness.factories import (
    T0,
    HistoryBuilder,
    audit,
    decision,
    halt,
    leg,
    record,
    tick,
    um_trade,
)

CHECK = check_fn("no_erroneous_risk_actions")
module = importlib.import_module("harness.checks.no_erroneous_risk_actions")  # the package re-exports the function under this name
WALLET = 3_700_000_000  # lev0's UM wallet: 3,700 USDT in minor units
# lev0: 1 BTC long at 50,000 on 3,700 USDT. At 46,500 uniMMR = (3700 - 3500) / 186 = 1.075:
# REDUCE_ONLY is due, not a liquidation. At 46,380 it is 80 / 185.52 = 0.43: FORCE_LIQUIDATION.


def market(h: HistoryBuilder, *, start: float = 0.0, until: float = 20.0, shock_at: float = 8.0,
           low: str = "46500.00", delivered: Callable[[float], bool] = lambda t: True) -> None:
    for k in range(round(start * 10), round(until * 10) + 1):
        t = round(k * 0.1, 1)
        tick(h, t, {"BTC": low if t >= shock_at else "50000.00", "ETH": "3000.00"}, delivered(t))


def history(end: float = 20.0, **market_args: Any) -> HistoryBuilder:
    h = HistoryBuilder()
    market(h, until=end, **market_args)
    h.phase(end, "load_end")
    return h


def journal(*decisions: tuple[float, dict[str, Any]], opened_at: float = 0.5,
            extra: list[JournalRecord] | None = None, wallet: int = WALLET) -> list[JournalRecord]:
    records = [record(1, opened_at - 0.4, "transfer", "x1", legs=[leg("cust:lev0:spot", "USDT", wallet),
                                                                  leg("cust:lev0:um", "USDT", -wallet)]),
               record(2, opened_at, "order", "o1", events=[um_trade("lev0", "mm", "1", "50000.00")])]
    records += extra or []
    for t, event in decisions:
        records.append(record(len(records) + 1, t, event["type"], f"d{len(records)}", events=[event],
                              legs=event.pop("legs", [])))
    return sorted(records, key=lambda r: r.time)


def call(t: float, price: str = "46500.00", price_t: float | None = None, *, qty: str = "1",
         wallet: str = "3700.000000", move: tuple[str, str] = ("NORMAL", "REDUCE_ONLY")) -> tuple[float, dict[str, Any]]:
    """lev0 moved between risk levels at ``t`` on the BTC price ``price`` (of ``price_t``)."""
    positions = [{"symbol": "BTCUSDT", "qty": qty, "entry_price": "50000.00000000", "leverage": 20}]
    at = round(t - 0.1, 1) if price_t is None else price_t
    return t, decision("risk_level", "lev0", t, wallet={"USDT": wallet}, positions=positions, prices=[("BTC", price, at)],
                       move=move)


def liquidated(t: float, price: str = "46380.00") -> tuple[float, dict[str, Any]]:
    """lev0's 1 BTC liquidated at ``price``: the loss beyond its wallet's 3,700 USDT to the fund."""
    positions = [{"symbol": "BTCUSDT", "qty": "1", "entry_price": "50000.00000000", "leverage": 20}]
    event = decision("liquidation", "lev0", t, wallet={"USDT": "3700.000000"}, positions=positions,
                     prices=[("BTC", price, round(t - 0.1, 1))],
                     closed=[{"symbol": "BTCUSDT", "qty": "1", "price": price, "realized": "-3620.00"}])
    event["legs"] = [leg("cust:lev0:um", "USDT", 3_620_000_000), leg("insurance:fund", "USDT", -3_620_000_000)]
    return t, event


def judge(h: HistoryBuilder | History, records: list[JournalRecord], **parts: Any) -> CheckResult:
    built = h.build() if isinstance(h, HistoryBuilder) else h
    return CHECK(built, audit(journal=records, **parts))


# ---- direction 1: each decision's inputs ---------------------------------------------------------
def test_a_call_on_the_harness_prices_and_the_journal_inputs_passes() -> None:
    result = judge(history(), journal(call(8.5)))
    assert result.valid is True, result.summary
    assert result.figures["decisions_judged"] == 1 and result.figures["breaches"] == result.figures["breaches_due"] == 2


def test_a_mislabelled_price_is_wrong_parameters() -> None:
    """The price_mislabel lie: the pre-shock price stamped with a fresh tick's time."""
    result = judge(history(), journal(call(8.5, "50000.00", 8.4)))
    assert result.valid is False and "wrong parameters" in result.summary
    assert "46500.00" in result.summary


def test_a_price_stamped_when_no_tick_was_published_fails() -> None:
    result = judge(history(), journal(call(8.5, "46500.00", 8.45)))
    assert result.valid is False and "published no tick" in result.summary


def test_a_stale_price_fails() -> None:
    result = judge(history(), journal(call(10.0, "46500.00", 8.4)))
    assert result.valid is False and "stale BTC price, 1.600 s old" in result.summary


def test_a_call_on_a_healthy_account_fails_on_the_harness_prices() -> None:
    result = judge(history(), journal(call(5.0, "50000.00")))
    assert result.valid is False and "inputs is 18.5000 at BTC 50000.00: NORMAL, not REDUCE_ONLY" in result.summary


def test_a_decision_whose_qty_or_wallet_differs_from_the_journal_fails() -> None:
    qty = judge(history(), journal(call(8.5, qty="2")))
    assert qty.valid is False and "BTCUSDT qty 2 reported, 1 in the journal" in qty.summary
    wallet = judge(history(), journal(call(8.5, wallet="3900.000000")))
    assert wallet.valid is False and "wallet USDT 3900.000000 reported, 3700" in wallet.summary


def test_a_decision_may_use_a_view_a_little_older_than_itself_but_not_an_old_one() -> None:
    """lev0 adds 0.001 BTC after opening; a call reporting 1 BTC read the account before that."""
    def with_top_up(at: float) -> list[JournalRecord]:
        top_up = record(3, at, "order", "o2", events=[um_trade("lev0", "mm", "0.001", "50000.00")])
        return journal(call(8.5), opened_at=-39.5, extra=[top_up])

    assert judge(history(start=-40.0), with_top_up(-15.0)).valid is True
    old = judge(history(start=-40.0), with_top_up(-35.0))
    assert old.valid is False and "BTCUSDT qty 1 reported, 1.001 in the journal" in old.summary


def test_a_decision_inside_a_halt_or_on_a_price_from_before_the_resume_fails() -> None:
    inside = judge(history(), journal(call(8.5)), halts=[halt(7.0)])
    assert inside.valid is False and "inside a halt" in inside.summary
    before = judge(history(), journal(call(8.5)), halts=[halt(3.0), halt(8.45, "resume")])
    assert before.valid is False and "before the last resume" in before.summary


def test_no_tick_at_all_is_unknown_and_a_decision_before_the_first_tick_is_unjudged() -> None:
    h = HistoryBuilder()
    h.phase(20.0, "load_end")
    assert judge(h, journal(call(8.5))).valid == "unknown"
    early = judge(history(start=1.0, end=4.0, shock_at=99.0), journal(call(0.8, "50000.00", 0.7)))
    assert early.valid == "unknown" and early.figures["decisions_unjudged"] == 1
    assert "before the harness's first tick" in early.summary


def test_missing_journal_or_halts_is_unknown() -> None:
    assert judge(history(), [], halts=None).valid == "unknown"
    assert CHECK(history().build(), audit(journal=None)).valid == "unknown"


# ---- direction 2: due actions missed or late --------------------------------------------------------
def test_a_due_account_not_acted_on_within_the_bound_fails() -> None:
    missed = judge(history(), journal())
    assert missed.valid is False and "lev0: true uniMMR 1.0753 <= 1.2" in missed.summary
    assert "not REDUCE_ONLY or graver within 3.0 s; it never was" in missed.summary
    late = judge(history(), journal(call(12.0)))
    assert late.valid is False and "it was from 4.000 s after" in late.summary


def test_the_same_acted_on_in_time_passes_and_the_bound_is_configurable() -> None:
    assert judge(history(), journal(call(10.9))).valid is True
    strict = judge(history(), journal(call(10.9)), config={"risk": {"act_within_ms": 1000}})
    assert strict.valid is False and "within 2.0 s" in strict.summary


def test_time_the_platform_was_seen_starved_is_added_to_the_deadline() -> None:
    """A loaded machine: a client's order waited 2.5 s for its answer, so from 1 s after it was
    sent until it was answered (1.5 s) no risk cycle could be expected to run either."""
    def starved(latency_ms: float) -> HistoryBuilder:
        h = history()
        h.request("um_order", 9.0, "ok", "w1", latency_ms=latency_ms)
        return h

    passed = judge(starved(2500), journal(call(12.0)))
    assert passed.valid is True and passed.figures["strained_s"] == 1.5, passed.summary
    later = judge(starved(2500), journal(call(12.6)))
    assert later.valid is False and "within 3.0 s (+1.5 s the platform was seen starved)" in later.summary
    prompt = judge(starved(900), journal(call(12.0)))  # answered within STRAINED_S: no excuse
    assert prompt.valid is False and prompt.figures["strained_s"] == 0


def test_price_ticks_far_apart_show_the_harness_starved_too() -> None:
    """The harness's intake post waits for the target: ticks 1.5 s apart (within a 2 s staleness
    bound, so still fresh) add what exceeds STRAINED_S."""
    h = history(end=8.9)
    market(h, start=10.4, until=20.0, low="46500.00")
    h.phase(20.0, "load_end")
    lenient = {"risk": {"staleness_ms": 2000}}
    result = judge(h, journal(call(11.4, price_t=10.4)), config=lenient)
    assert result.figures["strained_s"] == 0.5 and result.valid is True, result.summary
    late = judge(h, journal(call(11.6, price_t=10.4)), config=lenient)
    assert late.valid is False and "(+0.5 s the platform was seen starved)" in late.summary


def test_a_breach_shorter_than_the_bound_needs_nothing() -> None:
    assert judge(history(end=10.5), journal()).valid is True


def test_a_recovery_too_short_for_the_target_to_see_does_not_need_a_new_call() -> None:
    """Called at 8.5; above 1.2 again for 0.4 s from 12 (less than a loaded platform's cycle may
    take), then in breach until 20: the call still stands. A recovery longer than the bound (4 s)
    is one the target must have seen: the breach after it needs a call of its own."""
    def recovered(for_s: float) -> HistoryBuilder:
        h = HistoryBuilder()
        market(h, until=11.9)
        market(h, start=12.0, until=round(11.9 + for_s, 1), shock_at=99.0)
        market(h, start=round(12.0 + for_s, 1), shock_at=0.0)
        h.phase(20.0, "load_end")
        return h

    passed = judge(recovered(0.4), journal(call(8.5)))
    assert passed.valid is True and passed.figures["breaches"] == 4, passed.summary  # 1.5 and 1.2, twice
    stuck = judge(recovered(4.0), journal(call(8.5)))
    assert stuck.valid is False and "held REDUCE_ONLY from 1000008.500, yet its true uniMMR was above 1.2 from " \
        "1000012.000" in stuck.summary, stuck.summary
    back = call(12.5, "50000.00", move=("REDUCE_ONLY", "NORMAL"))
    missed = judge(recovered(4.0), journal(call(8.5), back))
    assert missed.valid is False and "from 1000016.000" in missed.summary, missed.summary
    assert judge(recovered(4.0), journal(call(8.5), back, call(16.5))).valid is True


def test_undelivered_ticks_expect_nothing_of_the_target() -> None:
    result = judge(history(delivered=lambda t: t < 8.0), journal())
    assert result.valid is True and result.figures["ticks_delivered"] == 80
    back = judge(history(delivered=lambda t: not 8.0 <= t < 15.0), journal())  # fresh ticks again from 15
    assert back.valid is False and "fresh ticks from 1000015.000" in back.summary


def test_a_halt_claimed_or_seen_by_clients_restarts_the_clock() -> None:
    claimed = [halt(7.0), halt(15.0, "resume")]
    assert judge(history(), journal(call(15.5)), halts=claimed).valid is True
    assert judge(history(), journal(), halts=claimed).valid is False
    h = history(end=17.0)
    for i in range(17):  # UM writes refused UM_HALTED every 0.5 s from 7 to 15 s
        h.request("um_order", 7.0 + 0.5 * i, "fail", f"r{i}", status=503, error="UM_HALTED")
    assert judge(h, journal()).valid is True  # 2 s of trading left after the clients' halt: too short
    assert judge(history(end=17.0), journal()).valid is False


def test_nothing_is_expected_during_a_fault_nor_until_um_writes_are_acked_again() -> None:
    def faulted(acked_at: float) -> HistoryBuilder:
        h = history()
        h.fault("f1", 7.0, 14.0, expect_um_halt=False, fault="kill", target="liquidation")
        h.request("um_order", acked_at, "ok", "w1")
        return h

    assert judge(faulted(18.0), journal()).valid is True
    late = judge(faulted(16.0), journal())
    assert late.valid is False and "fresh ticks from 1000016.005" in late.summary


def test_an_account_due_for_liquidation_needs_forced_liquidation_then_a_liquidation() -> None:
    h = history(low="46380.00")
    reduced = judge(h, journal(call(8.5, "46380.00")))
    assert reduced.valid is False and "0.4312 at BTC 46380.00: FORCE_LIQUIDATION, not REDUCE_ONLY" in reduced.summary
    forced = call(8.5, "46380.00", move=("NORMAL", "FORCE_LIQUIDATION"))
    never = judge(h, journal(forced))
    assert never.valid is False and "in FORCE_LIQUIDATION from" in never.summary and "not liquidated within" in never.summary
    result = judge(h, journal(forced, liquidated(9.0)))
    assert result.valid is True, result.summary
    assert result.figures["decisions_judged"] == 2 and result.figures["liquidations"] == 1
    direct = judge(h, journal(liquidated(9.0)))
    assert direct.valid is False and "liquidated from NORMAL: not first moved to FORCE_LIQUIDATION" in direct.summary


def test_a_ratio_exactly_at_the_threshold_is_due_decided_in_fractions() -> None:
    wallet = 3_723_200_000  # 3,723.2 USDT: at 46,500 uniMMR is 223.2 / 186 = 1.2 exactly
    assert judge(history(), journal(wallet=wallet)).valid is False
    assert judge(history(), journal(call(8.5, wallet="3723.200000"), wallet=wallet)).valid is True
    above = judge(history(), journal(call(8.5, wallet="3723.210000"), wallet=3_723_210_000))
    assert above.valid is False and "at BTC 46500.00: MARGIN_CALL, not REDUCE_ONLY" in above.summary


# ---- reduce-only: refusals clients saw, and what the journal accepted ------------------------------
def refused(h: HistoryBuilder, t: float, f: str = "um_order", **asked: str) -> None:
    h.request(f, t, "fail", f"r{t}", account="lev0", status=400, error="REDUCE_ONLY", **asked)


def order(t: float, side: str, qty: str) -> JournalRecord:
    event = {"type": "order", "order_id": f"o-{t}", "account": "lev0", "symbol": "BTCUSDT", "market": "um", "side": side,
             "order_type": "LIMIT", "price": "46500.00", "qty": qty, "reduce_only": False}
    return record(9, t, "order", f"o{t}", events=[event])


def test_a_reduce_only_refusal_while_the_journal_had_the_account_so_passes() -> None:
    h = history()
    refused(h, 9.0, symbol="BTCUSDT", side="BUY", qty="0.010")
    refused(h, 9.5, "transfer", asset="USDT", amount="10")
    result = judge(h, journal(call(8.5)))
    assert result.valid is True, result.summary
    assert result.figures["reduce_only_refusals"] == 2 and result.figures["moves_USDT"] == 1
    assert result.figures["moves_to_REDUCE_ONLY"] == 1 and result.figures["breaches_USDT"] == 2


def test_a_reduce_only_refusal_while_normal_or_of_an_order_that_reduces_fails() -> None:
    early = history()
    refused(early, 7.0, symbol="BTCUSDT", side="BUY", qty="0.010")
    result = judge(early, journal(call(8.5)))
    assert result.valid is False and "refused REDUCE_ONLY while the journal had the account NORMAL" in result.summary
    reducing = history()
    refused(reducing, 9.0, symbol="BTCUSDT", side="SELL", qty="0.500")
    result = judge(reducing, journal(call(8.5)))
    assert result.valid is False and "yet it only reduced the position of 1 BTCUSDT" in result.summary


def test_an_order_adding_exposure_or_collateral_taken_while_reduce_only_fails() -> None:
    assert judge(history(), journal(call(8.5), extra=[order(9.0, "SELL", "0.500")])).valid is True
    adding = judge(history(), journal(call(8.5), extra=[order(9.0, "BUY", "0.010")]))
    assert adding.valid is False and "an order adding exposure (BUY 0.010 BTCUSDT on a position of 1) accepted " \
        "while the journal had the account REDUCE_ONLY" in adding.summary
    out = record(9, 9.0, "transfer", "t9", events=[{"type": "transfer", "account": "lev0", "asset": "USDT", "amount": "10",
                                                     "from": "um", "to": "spot"}],
                 legs=[leg("cust:lev0:um", "USDT", 10_000_000), leg("cust:lev0:spot", "USDT", -10_000_000)])
    taken = judge(history(), journal(call(8.5), extra=[out]))
    assert taken.valid is False and "a transfer of 10 USDT out of the UM wallet accepted" in taken.summary


def test_a_move_from_a_level_the_journal_did_not_have_fails() -> None:
    result = judge(history(), journal(call(8.5, move=("MARGIN_CALL", "REDUCE_ONLY"))))
    assert result.valid is False and "the journal had the account NORMAL, not MARGIN_CALL" in result.summary


def test_the_levels_one_by_one_on_a_slow_drift_and_back() -> None:
    """BTC steps down through lev0's three thresholds (46,579.48, 46,523.31, 46,495.28) and back
    up, 2 s a step: a move at each step is right; the old table's (a margin call at 1.2, no
    reduce-only) is caught, naming the account and the price."""
    steps = [("50000.00", None), ("46550.00", "MARGIN_CALL"), ("46510.00", "REDUCE_ONLY"), ("46480.00", "FORCE_LIQUIDATION"),
             ("46510.00", "REDUCE_ONLY"), ("46550.00", "MARGIN_CALL"), ("50000.00", "NORMAL")]
    h = HistoryBuilder()
    for k in range(141):
        t = round(k * 0.1, 1)
        tick(h, t, {"BTC": steps[min(int(t // 2), len(steps) - 1)][0], "ETH": "3000.00"})
    h.phase(14.0, "load_end")
    moves, held = [], "NORMAL"
    for i, (price, level) in enumerate(steps[1:], start=1):
        if level:
            moves.append(call(2 * i + 0.5, price, move=(held, level)))
            held = level
    result = judge(h, journal(*moves))
    assert result.valid is True, result.summary
    assert result.figures["moves_to_MARGIN_CALL"] == 2 and result.figures["moves_to_FORCE_LIQUIDATION"] == 1
    assert result.figures["liquidations_cancelled"] == 1 and result.figures["liquidations"] == 0
    old = [call(4.5, "46510.00", move=("NORMAL", "MARGIN_CALL")), call(6.5, "46480.00", move=("MARGIN_CALL", "FORCE_LIQUIDATION")),
           call(8.5, "46510.00", move=("FORCE_LIQUIDATION", "MARGIN_CALL")), call(12.5, "50000.00", move=("MARGIN_CALL", "NORMAL"))]
    caught = judge(h, journal(*old))
    assert caught.valid is False
    texts = [e.text for e in caught.evidence]
    assert "lev0 NORMAL -> MARGIN_CALL: uniMMR on the harness's prices and the journal's inputs is 1.1288 at BTC " \
        "46510.00: REDUCE_ONLY, not MARGIN_CALL" in texts, texts


# ---- the user-data stream against the journal ----------------------------------------------------
def listened(h: HistoryBuilder, t: float, *events: tuple[float, str]) -> None:
    """lev0 read its user-data stream at ``t`` and was told these (time, level) events."""
    h.add("invoke", "risk_stream", "u9", t - 0.005, {"client_id": f"rs{t}", "account": "lev0", "after": 0})
    body = {"events": [{"level": level, "time": T0 + at, "unimmr": None} for at, level in events], "next": len(events)}
    h.add("ok", "risk_stream", "u9", t, {"client_id": f"rs{t}", "account": "lev0", "status": 200, "body": body}, 5.0)


def test_the_stream_must_tell_the_journals_moves_and_nothing_else() -> None:
    told = history()
    listened(told, 9.0, (8.5, "REDUCE_ONLY"))
    listened(told, 19.0)
    result = judge(told, journal(call(8.5)))
    assert result.valid is True and result.figures["stream_events"] == 1, result.summary
    silent = history()
    listened(silent, 9.0)
    listened(silent, 19.0)
    result = judge(silent, journal(call(8.5)))
    assert result.valid is False and "the journal moved it to REDUCE_ONLY at 1000008.500; its user-data stream never " \
        "told it" in result.summary
    invented = history()
    listened(invented, 9.0, (8.5, "REDUCE_ONLY"), (8.6, "FORCE_LIQUIDATION"))
    result = judge(invented, journal(call(8.5)))
    assert result.valid is False and "its user-data stream told FORCE_LIQUIDATION at 1000008.600, a move the journal " \
        "does not have" in result.summary


# ---- the screen that skips ticks changes nothing but the work done ---------------------------------
def random_run(seed: int, *, one_symbol: bool = False) -> tuple[History, list[JournalRecord]]:
    """Twelve accounts near their thresholds on a volatile random walk, trading against a maker
    all along (fees, realized PnL, transfers in and out, now and then a BTC deposit). With
    ``one_symbol``, each account trades its first symbol only and never takes in BTC: one
    position and a stablecoin wallet, the accounts ``_Replay.span`` pins between exact marks."""
    rng = random.Random(seed)
    h = HistoryBuilder()
    path: list[dict[str, float]] = []
    btc, eth = 50_000.0, 3_000.0
    for k in range(600):
        btc *= 1 + rng.gauss(0, 0.002) - (0.03 if k == 300 else 0)
        eth *= 1 + rng.gauss(0, 0.002)
        path.append({"BTC": round(btc, 2), "ETH": round(eth, 2)})
        tick(h, round(k * 0.1, 1), {a: f"{p:.2f}" for a, p in path[-1].items()}, rng.random() > 0.05)
    h.phase(60.0, "load_end")
    records: list[JournalRecord] = []

    def add(t: float, kind: str, events: list[dict[str, Any]] | None = None, legs: list[Any] | None = None) -> None:
        records.append(record(len(records) + 1, t, kind, f"r{len(records)}", events=events, legs=legs))

    names = [f"acct{i}" for i in range(12)]
    first: dict[str, str] = {}
    for i, name in enumerate(names):
        symbol = first[name] = rng.choice(["BTCUSDT", "ETHUSDT", "BTCUSDC", "ETHUSDC"])
        price = "50000.00" if symbol.startswith("BTC") else "3000.00"
        asset = "USDT" if symbol.endswith("USDT") else "USDC"
        qty = f"{rng.choice([1, 2, 3, 4]) * (0.1 if symbol.startswith('BTC') else 1):.3f}"
        minor = int(float(qty) * float(price) * rng.uniform(0.005, 0.08) * 10**6)
        add(0.05 * i, "transfer", legs=[leg(f"cust:{name}:spot", asset, minor), leg(f"cust:{name}:um", asset, -minor)])
        add(0.05 * i + 0.01, "order", [um_trade(name, "mm", qty, price, taker_side=rng.choice(["BUY", "SELL"]), symbol=symbol)])
    for k in range(1, 1000):
        t = 1.0 + k * 0.05
        name, roll = rng.choice(names), rng.random()
        if roll < 0.8:
            symbol = first[name] if one_symbol else rng.choice(["BTCUSDT", "ETHUSDT", "BTCUSDC", "ETHUSDC"])
            mark = path[int(t * 10)][symbol[:3]]
            price = f"{mark * (1 + rng.uniform(-0.002, 0.002)):.2f}"
            qty = f"{rng.choice([1, 5, 20]) * (0.001 if symbol.startswith('BTC') else 0.01):.3f}"
            fee = int(float(qty) * float(price) * 0.0004 * 10**6)
            asset = "USDT" if symbol.endswith("USDT") else "USDC"
            pnl = rng.randint(-5, 5) * 10**6
            add(t, "order", [um_trade(name, "mm", qty, price, taker_side=rng.choice(["BUY", "SELL"]), symbol=symbol)],
                [leg(f"cust:{name}:um", asset, fee + pnl), leg("fee:revenue", asset, -fee - pnl)])
        elif roll < 0.95 or one_symbol:
            amount = rng.randint(-50, 50) * 10**6
            add(t, "transfer", legs=[leg(f"cust:{name}:spot", "USDT", amount), leg(f"cust:{name}:um", "USDT", -amount)])
        else:
            add(t, "transfer", legs=[leg(f"cust:{name}:spot", "BTC", 100_000), leg(f"cust:{name}:um", "BTC", -100_000)])
    return h.build(), records


def test_skipping_ticks_that_cannot_breach_finds_the_same_breaches(monkeypatch: MonkeyPatch) -> None:
    spans_saved = 0
    for seed, one_symbol in [(seed, one) for seed in range(5) for one in (False, True)]:
        h, records = random_run(seed, one_symbol=one_symbol)
        screened = CHECK(h, audit(journal=records))
        monkeypatch.setattr(module._Replay, "span", lambda *_: None)  # no exact span: bands only
        banded = CHECK(h, audit(journal=records))
        monkeypatch.setattr(module, "BAND_SAFETY", 0.0)  # no band either: every account at every tick
        every = CHECK(h, audit(journal=records))
        monkeypatch.undo()
        assert screened.figures["breaches"] == every.figures["breaches"] > 0
        assert screened.figures.get("breaches_USDT", 0) + screened.figures.get("breaches_USDC", 0) >= every.figures["breaches"]
        for result in (screened, banded):
            assert [(e.text, e.time) for e in result.evidence] == [(e.text, e.time) for e in every.evidence]
            assert {k: v for k, v in result.figures.items() if k != "uniMMR_samples"} == \
                {k: v for k, v in every.figures.items() if k != "uniMMR_samples"}
        assert max(screened.figures["uniMMR_samples"], banded.figures["uniMMR_samples"]) < every.figures["uniMMR_samples"]
        spans_saved += banded.figures["uniMMR_samples"] - screened.figures["uniMMR_samples"]
    assert spans_saved > 0  # a pinned account wakes at any change of its own, a banded one spends its room: fewer overall


def test_an_account_pinned_between_exact_marks_wakes_when_a_price_crosses_one() -> None:
    """lev0 (1 BTC long on 3,700 USDT) is pinned above its margin-call mark while BTC is at 50,000:
    a drop to 46,500 crosses it (a call is due), a later rise back to 50,000 ends the breach."""
    h = history(end=20.0)
    result = judge(h, journal())
    assert result.valid is False and result.figures["breaches"] == 2, result.summary  # below 1.5 and 1.2 at once
    assert result.figures["uniMMR_samples"] < 20, result.figures  # not one per tick: asleep between the crossings
    back = HistoryBuilder()
    market(back, until=12.0)
    market(back, start=12.1, until=20.0, shock_at=99.0)  # BTC back at 50,000 from 12.1 s
    back.phase(20.0, "load_end")
    stuck = judge(back, journal(call(8.5)))  # REDUCE_ONLY from 8.5 s, never moved back after BTC's recovery
    assert stuck.valid is False and stuck.figures["breaches"] == 2, stuck.summary
    assert "held REDUCE_ONLY from 1000008.500, yet its true uniMMR was above 1.2 from 1000012.100" in stuck.summary
    recovered = judge(back, journal(call(8.5), call(12.5, "50000.00", move=("REDUCE_ONLY", "NORMAL"))))
    assert recovered.valid is True and recovered.figures["moves_to_NORMAL"] == 1, recovered.summary
