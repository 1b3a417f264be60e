"""The harness's price path (pure) and its publisher (against real HTTP servers on loopback)."""

from __future__ import annotations

import socket
import time
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests

from harness.faults.base import FaultEnv, FaultError
from harness.faults.target_inputs import PriceDrift, PriceShock
from harness.market import START_PRICES, MarketFeed, PricePath
from harness.recorder import Recorder
from harness.schedule import ScheduledFault
from targets.umref.launcher import Topology, plan
from tests.harness.json_server import JsonServer


def walk(path: PricePath, asset: str, n: int) -> list[Decimal]:
    return [path.price(asset, k) for k in range(n)]


def test_same_seed_same_path_and_another_seed_another() -> None:
    a, b, c = PricePath(seed=3), PricePath(seed=3), PricePath(seed=4)
    assert walk(a, "BTC", 200) == walk(b, "BTC", 200)
    assert walk(a, "BTC", 200) != walk(c, "BTC", 200)
    ratios = {eth / btc for btc, eth in zip(walk(a, "BTC", 50), walk(a, "ETH", 50), strict=True)}
    assert len(ratios) > 1  # each asset walks on its own generator


def test_path_starts_at_the_start_prices_moves_in_small_steps_quantized_to_cents() -> None:
    path = PricePath(seed=1)
    for asset, start in START_PRICES.items():
        prices = walk(path, asset, 500)
        assert prices[0] == start
        assert all(p.as_tuple().exponent == -2 for p in prices)
        assert all(abs(b / a - 1) < Decimal("0.001") for a, b in zip(prices, prices[1:], strict=False))
        assert len(set(prices)) > 100  # it moves


def test_a_shock_moves_the_path_from_its_step_on() -> None:
    plain, shocked = PricePath(seed=9), PricePath(seed=9)
    shocked.shock("BTC", Decimal("-7"), 10)
    before, after = walk(plain, "BTC", 30), walk(shocked, "BTC", 30)
    assert after[:10] == before[:10]
    for k in range(10, 30):  # the same walk, from a price 7 % lower
        assert abs(after[k] / before[k] - Decimal("0.93")) < Decimal("0.0001")
    assert walk(shocked, "ETH", 30) == walk(plain, "ETH", 30)


def test_a_priced_step_cannot_be_shocked_nor_an_unknown_asset() -> None:
    path = PricePath(seed=1)
    path.price("BTC", 5)
    with pytest.raises(ValueError, match="already priced"):
        path.shock("BTC", Decimal(5), 5)
    path.shock("BTC", Decimal(5), 6)
    path.shock("ETH", Decimal(5), 1)  # ETH is not priced yet beyond its start
    with pytest.raises(ValueError, match="unknown asset"):
        path.shock("DOGE", Decimal(5), 9)
    with pytest.raises(ValueError, match="no price"):
        path.shock("BTC", Decimal(-100), 9)


def test_a_drift_moves_the_path_by_its_total_spread_evenly_over_its_steps() -> None:
    plain, drifted = PricePath(seed=9), PricePath(seed=9)
    drifted.drift("BTC", Decimal("-0.6"), 10, steps=120)  # 12 s of ticks
    factors = [drifted.moves[("BTC", k)] for k in range(10, 130)]
    assert all(f == factors[0] and len(f) == 1 for f in factors) and ("BTC", 130) not in drifted.moves
    total = Decimal(1)
    for (factor,) in factors:
        total *= factor
    assert abs(total - Decimal("0.994")) < Decimal("1e-20")  # compounded: exactly the total, but for rounding
    before, after = walk(plain, "BTC", 300), walk(drifted, "BTC", 300)
    assert after[:10] == before[:10]
    for k in range(10, 300):  # the same walk, moved a step at a time, then on from where the drift left it
        expected = Decimal("0.994") ** (Decimal(min(k, 129) - 9) / 120)
        assert abs(after[k] / before[k] - expected) < Decimal("0.00002"), k
    assert walk(drifted, "ETH", 300) == walk(plain, "ETH", 300)


def test_same_seed_and_drifts_same_path_and_a_drift_stacks_with_a_shock() -> None:
    a, b, other = PricePath(seed=4), PricePath(seed=4), PricePath(seed=4)
    for path in (a, b):
        path.drift("ETH", Decimal("1"), 5, steps=50)
        path.shock("ETH", Decimal("-5"), 30)  # inside the drift: both move step 30
    other.drift("ETH", Decimal("1"), 5, steps=60)
    assert walk(a, "ETH", 100) == walk(b, "ETH", 100) != walk(other, "ETH", 100)
    plain = walk(PricePath(seed=4), "ETH", 100)
    assert abs(walk(a, "ETH", 100)[99] / plain[99] - Decimal("1.01") * Decimal("0.95")) < Decimal("0.00002")
    assert len(a.moves[("ETH", 30)]) == 2


def test_a_drift_on_a_priced_step_is_refused_like_a_shock() -> None:
    path = PricePath(seed=1)
    path.price("BTC", 5)
    with pytest.raises(ValueError, match="already priced"):
        path.drift("BTC", Decimal("-1"), 5, steps=10)
    path.drift("BTC", Decimal("-1"), 6, steps=10)
    with pytest.raises(ValueError, match="no price"):
        path.drift("ETH", Decimal(-100), 9, steps=10)
    with pytest.raises(ValueError, match="at least one step"):
        path.drift("ETH", Decimal(1), 9, steps=0)
    with pytest.raises(ValueError, match="unknown asset"):
        path.drift("DOGE", Decimal(1), 9, steps=10)
    assert ("ETH", 9) not in path.moves  # a refused drift moved nothing


def intake_answering(status: int) -> JsonServer:
    """A price intake on 127.0.0.1 answering ``status``; keeps every body it was sent."""
    return JsonServer(lambda *_: (status, {"accepted": True} if status == 200 else {"error": "NO"}), "/intake")


@pytest.fixture
def intake() -> Iterator[JsonServer]:
    server = intake_answering(200)
    yield server
    server.close()


def ops_of(recorder: Recorder, f: str) -> list[Any]:
    return [op for op in recorder.snapshot() if op.f == f]


def test_feed_posts_a_tick_every_100ms_and_records_each(intake: JsonServer) -> None:
    recorder = Recorder(time.monotonic())
    feed = MarketFeed(PricePath(seed=5), {"pricefeed": intake.url}, recorder, max_s=0.8).start()
    began = time.monotonic()
    feed._thread.join(timeout=5)  # stops by itself at max_s
    assert not feed._thread.is_alive() and time.monotonic() - began < 3
    ticks = ops_of(recorder, "tick")
    assert 3 <= len(ticks) <= 9 and feed.ticks == len(ticks) == len(intake.bodies)
    assert all(op.type == "info" and op.process == "market" and op.value["delivered"] for op in ticks)
    assert [b["prices"] for b in intake.bodies] == [op.value["prices"] for op in ticks]
    assert [b["time"] for b in intake.bodies] == [op.time for op in ticks]
    expected = PricePath(seed=5)
    step_of = {tuple(str(p) for p in expected.prices(k).values()): k for k in range(20)}
    steps = [step_of[tuple(op.value["prices"].values())] for op in ticks]  # each tick is a step of the path
    assert steps[0] == 0 and steps == sorted(set(steps))
    for op, step in zip(ticks, steps, strict=True):  # on the timetable: possibly late, never early
        assert op.time - ticks[0].time >= step * 0.1 - 0.01


def test_a_shock_lands_on_the_next_delivered_tick_and_is_recorded_there(intake: JsonServer) -> None:
    recorder = Recorder(time.monotonic())
    feed = MarketFeed(PricePath(seed=2), {"pricefeed": intake.url}, recorder, max_s=5).start()
    try:
        time.sleep(0.35)
        step = feed.shock("BTC", Decimal("-10"))
        tick, detail = feed.wait_delivered(step, timeout_s=1.0)
    finally:
        feed.stop()
    assert tick is not None and tick.delivered and tick.step >= step, detail
    assert not feed._thread.is_alive()
    shocks = ops_of(recorder, "price_shock")
    assert len(shocks) == 1 and shocks[0].value["asset"] == "BTC" and shocks[0].value["move_pct"] == -10.0
    ticks = ops_of(recorder, "tick")
    carrying = next(i for i, op in enumerate(ticks) if op.time == shocks[0].time)
    ratio = Decimal(ticks[carrying].value["prices"]["BTC"]) / Decimal(ticks[carrying - 1].value["prices"]["BTC"])
    assert abs(ratio - Decimal("0.9")) < Decimal("0.005")
    ratio = Decimal(ticks[carrying].value["prices"]["ETH"]) / Decimal(ticks[carrying - 1].value["prices"]["ETH"])
    assert abs(ratio - 1) < Decimal("0.005")  # ETH walks on


def test_a_drift_is_published_tick_by_tick_and_recorded_at_its_first_and_last_step(intake: JsonServer) -> None:
    recorder = Recorder(time.monotonic())
    feed = MarketFeed(PricePath(seed=2), {"pricefeed": intake.url}, recorder, max_s=5).start()
    try:
        time.sleep(0.25)
        first, last = feed.drift("BTC", Decimal("-10"), 1.0)
        tick, detail = feed.wait_delivered(last, timeout_s=3.0)
    finally:
        feed.stop()
    assert tick is not None and last - first == 9, detail
    start, end = ops_of(recorder, "price_drift")
    assert (start.value["phase"], end.value["phase"]) == ("start", "end")
    assert all(op.value["asset"] == "BTC" and op.value["move_pct"] == -10.0 and op.value["for_s"] == 1.0
               and (op.value["first_step"], op.value["last_step"]) == (first, last) for op in (start, end))
    ticks = ops_of(recorder, "tick")
    times = [op.time for op in ticks]
    i, j = times.index(start.time), times.index(end.time)
    assert j > i and start.value["step"] >= first and end.value["step"] >= last
    btc = [Decimal(op.value["prices"]["BTC"]) for op in ticks]
    assert abs(btc[j] / btc[i - 1] - Decimal("0.9")) < Decimal("0.005")  # the whole move, by its last tick
    assert all(abs(b / a - 1) < Decimal("0.025") for a, b in zip(btc, btc[1:], strict=False))  # no jump
    assert abs(btc[-1] / btc[j] - 1) < Decimal("0.005")  # and no jump back after it


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("refusal", ["503", "nobody listening"])
def test_a_refused_tick_is_recorded_undelivered_and_a_shock_does_not_land(refusal: str) -> None:
    server = intake_answering(503) if refusal == "503" else None
    url = server.url if server else f"http://127.0.0.1:{closed_port()}/intake"
    recorder = Recorder(time.monotonic())
    feed = MarketFeed(PricePath(seed=2), {"pricefeed": url}, recorder, max_s=5).start()
    try:
        step = feed.shock("ETH", Decimal("4"))
        began = time.monotonic()
        tick, detail = feed.wait_delivered(step, timeout_s=0.6)
        waited = time.monotonic() - began
    finally:
        feed.stop()
        if server:
            server.close()
    assert tick is None and 0.5 < waited < 2
    assert ("answered 503" if server else "unreachable: ConnectionError") in detail
    ticks = ops_of(recorder, "tick")
    assert ticks and not any(op.value["delivered"] for op in ticks) and feed.delivered == 0
    assert [op.value["delivered"] for op in ops_of(recorder, "price_shock")] == [False]  # the truth moved all the same


def test_every_tick_goes_to_every_intake_and_is_delivered_when_one_accepts(intake: JsonServer) -> None:
    refusing = intake_answering(503)
    intakes = {"feed-a": intake.url, "feed-b": refusing.url, "feed-c": f"http://127.0.0.1:{closed_port()}/intake"}
    recorder = Recorder(time.monotonic())
    feed = MarketFeed(PricePath(seed=6), intakes, recorder, max_s=5).start()
    try:
        tick, detail = feed.wait_delivered(feed.shock("BTC", Decimal("-5")), timeout_s=1.0)
    finally:
        feed.stop()
        refusing.close()
    assert tick is not None and tick.delivered, detail
    assert "feed-a answered 200" in detail and "feed-b answered 503" in detail and "feed-c unreachable" in detail
    ticks = ops_of(recorder, "tick")  # one op per tick, saying who accepted it
    assert ticks and all(op.value["delivered"] and op.value["accepted_by"] == ["feed-a"] for op in ticks)
    assert len(intake.bodies) == len(refusing.bodies) == len(ticks) == feed.ticks == feed.delivered
    assert intake.bodies == refusing.bodies


def test_stop_ends_the_feed_at_once_and_a_stopped_feed_lands_nothing(intake: JsonServer) -> None:
    feed = MarketFeed(PricePath(seed=1), {"pricefeed": intake.url}, Recorder(time.monotonic()), max_s=600).start()
    time.sleep(0.25)
    began = time.monotonic()
    feed.stop()
    assert not feed._thread.is_alive() and time.monotonic() - began < 1
    step = feed.shock("BTC", Decimal(3))
    tick, detail = feed.wait_delivered(step, timeout_s=5)
    assert tick is None and "stopped" in detail and time.monotonic() - began < 2


def shock_fault(feed: MarketFeed | None) -> PriceShock:
    spec = ScheduledFault(id="f1", kind="price_shock", at_s=0.0, duration_s=None, target={},
                          params={"asset": "BTC", "move_pct": -7}, lines=(0, 0))
    env = FaultEnv(run_id="t", proxies=None, processes=None, services={}, regions={}, risk=None,  # type: ignore[arg-type]
                   market=feed)
    return PriceShock(spec, env)


@pytest.mark.parametrize("status", [200, 503])
def test_price_shock_fault_moves_the_market_and_lands_only_when_delivered(status: int) -> None:
    server = intake_answering(status)
    feed = MarketFeed(PricePath(seed=4), {"pricefeed": server.url}, Recorder(time.monotonic()), max_s=10).start()
    try:
        landing = shock_fault(feed).inject()
    finally:
        feed.stop()
        server.close()
    assert landing.landed is (status == 200), landing.detail
    assert ("delivered with tick" if status == 200 else "answered 503") in landing.detail
    assert any(k[0] == "BTC" for k in feed.path.moves)  # the path moved either way


def test_price_shock_without_a_market_does_not_land() -> None:
    with pytest.raises(FaultError, match="no market feed"):
        shock_fault(None).inject()


@pytest.mark.parametrize("status", [200, 503])
def test_price_drift_fault_sets_the_whole_drift_and_lands_when_its_first_tick_is_delivered(status: int) -> None:
    server = intake_answering(status)
    feed = MarketFeed(PricePath(seed=4), {"pricefeed": server.url}, Recorder(time.monotonic()), max_s=10).start()
    spec = ScheduledFault(id="f1", kind="price_drift", at_s=0.0, duration_s=12.0, target={},
                          params={"asset": "ETH", "move_pct": -0.6}, lines=(0, 0))
    drift = PriceDrift(spec, FaultEnv(run_id="t", proxies=None, processes=None, services={}, regions={},  # type: ignore[arg-type]
                                      risk=None, market=feed))  # type: ignore[arg-type]
    began = time.monotonic()
    try:
        landing = drift.inject()
    finally:
        feed.stop()
        server.close()
    assert landing.landed is (status == 200) and time.monotonic() - began < 2, landing.detail  # not the drift's 12 s
    assert "-0.6% over 12 s" in landing.detail and drift.journal_entry() == {"heal": "none"}
    assert len([k for k in feed.path.moves if k[0] == "ETH"]) == 120  # the path moved either way, all of it


@pytest.mark.integration
def test_umref_pricefeed_serves_the_harness_ticks(tmp_path: Path) -> None:
    """The real pricefeed alone: from the first tick on it serves what the harness published,
    every source stamped with the tick's time, and a shock reaches it."""
    topology = Topology(plan(tmp_path / "umref", price_seed=3))
    topology.logs_dir.mkdir(parents=True)  # (the data dir with it) what Topology.start makes for all
    topology.forkserver.start()
    try:
        topology.spawn("pricefeed")
        topology.wait_healthy(["pricefeed"], deadline=time.monotonic() + 15)
        url = topology.config.url("pricefeed")
        assert requests.get(url + "/prices", timeout=2).json()["mode"] == "demo"
        recorder = Recorder(time.monotonic())
        feed = MarketFeed(PricePath(seed=3), {"pricefeed": url + "/intake"}, recorder, max_s=30).start()
        try:
            tick, detail = feed.wait_delivered(feed.shock("BTC", Decimal("-20")), timeout_s=2)
            assert tick is not None, detail
            served = requests.get(url + "/prices", timeout=2).json()
        finally:
            feed.stop()
        ticks = {op.time: op.value for op in ops_of(recorder, "tick")}
        assert served["mode"] == "intake" and all(t["delivered"] for t in ticks.values())
        for asset, quotes in served["assets"].items():
            times = {q["time"] for q in quotes["sources"]}
            assert len(times) == 1 and (t := times.pop()) in ticks  # the tick it came from
            assert Counter(q["price"] for q in quotes["sources"]).most_common(1)[0][0] == ticks[t]["prices"][asset]
        assert Decimal(served["assets"]["BTC"]["sources"][0]["price"]) < Decimal(40500)  # 50000 -20 %
        assert feed.ticks >= 2 and feed.delivered == feed.ticks
    finally:
        topology.stop()
