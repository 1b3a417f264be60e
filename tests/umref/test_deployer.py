"""umref's releases on real processes: a build swapped in on the same port while the old one
drains, the deploy controller rolling a release back when UM halts under it (and not otherwise),
and its two bug switches."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from targets.umref.config import RiskBudget
from targets.umref.launcher import Topology, TopologyError
from targets.umref.money import UM_SYMBOLS
from tests.umref.started import started
from tests.umref.test_topology import clients, wait_for

pytestmark = pytest.mark.integration


def _started(tmp_path: Path, bugs: tuple[str, ...]) -> Iterator[Topology]:
    risk = RiskBudget(healthy_for_ms=1000)  # a quicker resume: the tests go through one
    topology = started(tmp_path / "umref", bugs=bugs, price_seed=5, risk=risk)
    yield topology
    topology.stop()


@pytest.fixture(params=[(), ("no_auto_rollback",), ("rollback_loses_orders",)],
                ids=["correct", "no_auto_rollback", "rollback_loses_orders"])
def topo(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Topology]:
    yield from _started(tmp_path, request.param)


@pytest.fixture
def correct(tmp_path: Path) -> Iterator[Topology]:
    yield from _started(tmp_path, ())


def version(topo: Topology, service: str = "margin") -> str:
    return str(requests.get(topo.url(service) + "/health", headers={"Connection": "close"}, timeout=2).json()["version"])


def halted(topo: Topology) -> bool:
    return bool(requests.get(topo.url("matching") + "/state", timeout=2).json()["halted"])


def resting_um_orders(topo: Topology) -> int:
    books = requests.get(topo.url("matching") + "/audit/books", timeout=2).json()["books"]
    return sum(len(book["bids"]) + len(book["asks"]) for symbol, book in books.items() if symbol in UM_SYMBOLS)


def test_a_bad_release_halts_um_and_is_rolled_back_unless_the_controller_is_off(topo: Topology) -> None:
    bugs = topo.config.bugs
    assert version(topo) == "1.4.2" and version(topo, "gateway") == "1.0.0"
    order = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "qty": "0.001", "price": "30000.00"}
    assert clients(topo)["acct007"].post("/um/order", order).status_code == 200  # something a swap could lose
    assert resting_um_orders(topo) >= 1
    old_pid = topo.procs["margin"].pid
    # (not asked at once: the controller may have rolled it back already, or the old process,
    # draining, may take the ask; swap itself saw the new build answer before it returned)
    assert topo.deploy("margin", "1.5.0", 10) == "margin 1.4.2 -> 1.5.0"
    assert topo.procs["margin"].pid != old_pid
    wait_for(lambda: halted(topo), 5, "the risk guard to halt UM under the slow build")
    if "no_auto_rollback" in bugs:
        wait_for(lambda: version(topo) == "1.5.0", 5, "the bad build serving alone")
        with pytest.raises(AssertionError):
            wait_for(lambda: topo.builds["margin"] == "1.4.2", 3, "a rollback")
        assert halted(topo)
        return
    wait_for(lambda: topo.builds["margin"] == "1.4.2", 15, "the controller to roll margin back")
    wait_for(lambda: not halted(topo), 15, "UM to resume on the old build")
    assert version(topo) == "1.4.2"
    assert (resting_um_orders(topo) == 0) == ("rollback_loses_orders" in bugs)


def test_a_hotfix_released_into_a_halt_is_kept_once_um_resumes(correct: Topology) -> None:
    topo = correct
    topo.deploy("margin", "1.5.0", 0)  # unwatched: nothing rolls it back
    wait_for(lambda: halted(topo), 5, "the halt under the slow build")
    # a window long enough for the resume on a busy machine: still halted at its end, it is rolled back
    assert topo.deploy("margin", "1.5.1", 10) == "margin 1.5.0 -> 1.5.1"
    wait_for(lambda: not halted(topo), 10, "UM to resume on the hot-fix")
    wait_for(lambda: topo.deployer._watch is None or not topo.deployer._watch.is_alive(), 15, "the watch to end")
    assert version(topo) == "1.5.1"


def test_an_unknown_build_is_refused_and_the_old_one_serves_on(correct: Topology) -> None:
    topo = correct
    with pytest.raises(TopologyError, match="no build '9.9.9'"):
        topo.deploy("margin", "9.9.9", 10)
    assert version(topo) == "1.4.2" and not halted(topo)
