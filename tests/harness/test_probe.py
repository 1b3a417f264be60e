"""The steady-state probe against a real umref: what a round sends, and on how many lanes; and
its failover along a front of gateways (tiny HTTP servers on 127.0.0.1 for gateways)."""

from __future__ import annotations

import socket
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.history import classify_http
from harness.http import target_session
from harness.load.front import Failover
from harness.load.ops import OpWriter
from harness.load.probe import SENTINELS, ProbeClient, place_sentinels, probe
from harness.targets.client import StandardClient
from targets.umref.launcher import Topology
from tests.harness.json_server import JsonServer
from tests.umref.started import started


@pytest.fixture(scope="module")
def topo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Topology]:
    topology = started(Path(tmp_path_factory.mktemp("probe")) / "umref", price_seed=5)
    try:
        yield topology
    finally:
        topology.stop()


def _client(topo: Topology) -> ProbeClient:
    trader = next(a for a in topo.config.accounts if a.role == "trader")
    return ProbeClient(Failover((("gateway", topo.config.url("gateway")),)), trader.account, trader.api_key,
                       StandardClient())


def _probe(topo: Topology, rounds: int) -> list[dict[str, Any]]:
    return probe(_client(topo), count=rounds, start_mono=time.monotonic())


def test_one_round_is_a_um_and_a_spot_order_each_cancelled_on_two_lanes(topo: Topology) -> None:
    ops = _probe(topo, 1)
    done = [op for op in ops if op["type"] != "invoke"]
    assert Counter(op["f"] for op in done) == {"um_order": 1, "spot_order": 1, "cancel": 2}
    assert all(op["type"] == "ok" for op in done), done
    assert {op["process"] for op in ops} == {"probe", "probe.1"}  # the two orders at once
    assert [op["mono"] for op in ops] == sorted(op["mono"] for op in ops)


def test_ten_rounds_spread_over_four_lanes_with_distinct_client_ids(topo: Topology) -> None:
    ops = _probe(topo, 10)
    done = [op for op in ops if op["type"] != "invoke"]
    assert Counter(op["f"] for op in done) == {"um_order": 10, "spot_order": 10, "cancel": 20}
    assert {op["process"] for op in ops} == {"probe", "probe.1", "probe.2", "probe.3"}
    ids = [op["value"]["client_id"] for op in done]
    assert len(set(ids)) == len(ids) == 40


def test_sentinel_orders_rest_in_every_um_book_with_room_to_shrink(topo: Topology) -> None:
    import requests

    ops = place_sentinels(_client(topo), start_mono=time.monotonic())
    done = [op for op in ops if op["type"] != "invoke"]
    assert len(done) == len(SENTINELS) and all(op["type"] == "ok" and op["value"]["body"]["status"] == "NEW"
                                               for op in done), done
    assert {op["process"] for op in ops} == {"probe.sentinel"}
    books = requests.get(topo.config.url("matching") + "/audit/books", timeout=5).json()["books"]
    ids = {op["value"]["body"]["order_id"] for op in done}
    resting = {o["order_id"]: o["qty"] for book in books.values() for o in book["bids"] if o["order_id"] in ids}
    assert sorted(resting.values()) == ["0.004"] * len(SENTINELS)


def test_the_client_actions_are_the_request_kinds_the_history_knows() -> None:
    """One vocabulary: what the client API builds is what the history, checks and reports count."""
    from harness.scenario.schema import DEFAULT_MIX
    from harness.targets.client import ACTIONS, StandardClient
    from harness.workload import MIX_KINDS, WRITE_KINDS

    assert set(ACTIONS) == set(WRITE_KINDS) == set(StandardClient.PATHS)
    assert set(DEFAULT_MIX) <= set(MIX_KINDS) and MIX_KINDS == (*WRITE_KINDS, "bad_key")


def gateway_answering(status: int = 200, code: str = "") -> JsonServer:
    """A gateway on 127.0.0.1 answering every POST with ``status`` (200: a resting order; else the
    error ``code``); ``len(bodies)``: what it was sent."""
    return JsonServer(lambda _, n: (status, {"order_id": f"o{n}", "status": "NEW", "filled_qty": "0"} if status == 200
                                    else {"error": {"code": code}}))


def dead_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def orders(front: Failover, n: int) -> list[dict[str, Any]]:
    """``n`` UM orders sent one after the other by a probe client on ``front``: their completions."""
    client, writer = ProbeClient(front, "acct1", "ak-1", StandardClient(), timeout_s=2), OpWriter(None, time.monotonic())
    with target_session() as session:
        for i in range(n):
            client.send(session, writer, "probe", "um_order", {"client_id": f"c{i}", "symbol": "BTCUSDT", "side": "BUY",
                                                              "type": "LIMIT", "qty": "0.001", "price": "25000.00"})
    return [op for op in writer.kept if op["type"] != "invoke"]


def test_a_probe_fails_over_from_a_gateway_that_does_not_answer_and_records_via() -> None:
    live = gateway_answering()
    try:
        done = orders(Failover((("gateway", dead_url()), ("gateway-b", live.url))), 3)
    finally:
        live.close()
    assert [(op["type"], op["value"]["via"]) for op in done] == [("info", "gateway"), ("ok", "gateway-b"),
                                                                 ("ok", "gateway-b")]
    assert done[0]["error"] == "ConnectionError" and done[0]["value"]["status"] is None  # recorded as before
    assert len(live.bodies) == 2  # the refused request was not retried on the next gateway


def test_a_standby_refusal_moves_the_probe_on_round_robin_and_other_refusals_do_not() -> None:
    standby, halted, active = gateway_answering(503, "NOT_ACTIVE"), gateway_answering(503, "UM_HALTED"), gateway_answering()
    try:
        done = orders(Failover((("gateway", standby.url), ("gateway-b", halted.url))), 3)
        again = orders(Failover((("gateway", active.url), ("gateway-b", standby.url))), 1)
        around = Failover((("gateway", active.url), ("gateway-b", standby.url)))
        around.answered(0, None, "ConnectionError")
        wrapped = orders(around, 2)  # from the last gateway round to the first
    finally:
        for server in (standby, halted, active):
            server.close()
    assert [(op["type"], op["error"], op["value"]["via"]) for op in done] == [
        ("fail", "NOT_ACTIVE", "gateway"), ("fail", "UM_HALTED", "gateway-b"), ("fail", "UM_HALTED", "gateway-b")]
    assert [op["value"]["via"] for op in again] == ["gateway"]
    assert [(op["type"], op["value"]["via"]) for op in wrapped] == [("fail", "gateway-b"), ("ok", "gateway")]
    assert classify_http(503, "NOT_ACTIVE") == "fail"  # a standby's refusal is not applied


def test_lanes_that_saw_one_gateway_fail_at_once_move_on_once() -> None:
    front = Failover((("gateway", "http://a"), ("gateway-b", "http://b"), ("gateway-c", "http://c")))
    at, _, _ = front.pick()
    front.answered(at, None, "ConnectionResetError")
    front.answered(at, 503, "NOT_ACTIVE")  # a second lane, same gateway: not skipped past gateway-b
    assert front.pick() == (1, "gateway-b", "http://b")
    front.answered(1, 503, "UM_HALTED")
    front.answered(1, 200, None)
    assert front.pick()[1] == "gateway-b"


def test_a_client_away_from_home_tries_its_home_gateway_again(monkeypatch: pytest.MonkeyPatch) -> None:
    """How a region that came back is put to the test: clients go home again, and move on again
    when it refuses as a standby."""
    from harness.load import front as front_module

    now = [100.0]
    monkeypatch.setattr(front_module.time, "monotonic", lambda: now[0])
    front = Failover((("gateway", "http://a"), ("gateway-b", "http://b")))
    front.answered(0, None, "ConnectionRefusedError")
    now[0] += front_module.HOME_AGAIN_S - 0.1
    assert front.pick()[1] == "gateway-b"
    now[0] += 0.1
    assert front.pick()[1] == "gateway"
    front.answered(0, 503, "NOT_ACTIVE")
    assert front.pick()[1] == "gateway-b"
