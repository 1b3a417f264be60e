"""The steady-state probe against a real umref: what a round sends, and on how many lanes."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.load.probe import SENTINELS, ProbeClient, place_sentinels, probe
from harness.targets.client import StandardClient
from targets.umref.launcher import Topology
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
    return ProbeClient(topo.config.url("gateway"), trader.account, trader.api_key, StandardClient())


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
