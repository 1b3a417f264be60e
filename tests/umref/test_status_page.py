"""umref's public system status, served by its gateways from the engine that trades: UM halted
with why and since when while margin is paused, normal again after; spot halted only when the
halt's scope holds it; a standby region's gateway sends clients on; ``stale_status`` lags."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from targets.umref.config import RiskBudget
from targets.umref.launcher import Topology
from targets.umref.status_page import PATH
from tests.umref.started import started
from tests.umref.test_topology import wait_for

pytestmark = pytest.mark.integration


@pytest.fixture(params=[(), ("halt_spot_too",), ("stale_status",)], ids=["correct", "halt_spot_too", "stale_status"])
def topo(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Topology]:
    risk = RiskBudget(healthy_for_ms=1000)  # a quicker resume: the test goes through one
    topology = started(tmp_path / "umref", bootstrap=False, bugs=request.param, price_seed=13, risk=risk)
    yield topology
    topology.stop()


def page(topo: Topology, gateway: str = "gateway") -> requests.Response:
    return requests.get(topo.config.url(gateway) + PATH, timeout=2)  # no API key: the page is public


def um(topo: Topology) -> dict[str, Any]:
    return dict(page(topo).json()["products"]["um"])


def test_the_page_follows_a_halt_and_its_resume(topo: Topology) -> None:
    bugs = topo.config.bugs
    wait_for(lambda: page(topo).status_code == 200, 5, "a first page")
    first = page(topo).json()
    assert first["status"] == 0 and first["msg"] == "normal" and first["products"]["spot"]["status"] == "normal"
    assert um(topo)["status"] == "normal" and abs(first["updated"] - time.time()) < 5
    # gateway-b too has read its engine once (before that, it rightly knows no page at all)
    wait_for(lambda: page(topo, "gateway-b").json()["error"]["code"] != "UPSTREAM_UNAVAILABLE", 5, "gateway-b's first read")
    standby = page(topo, "gateway-b")
    assert standby.status_code == 503 and standby.json()["error"]["code"] == "NOT_ACTIVE"
    topo.pause("margin")
    try:
        wait_for(lambda: requests.get(topo.config.url("matching") + "/state", timeout=2).json()["halted"], 5, "halt")
        if "stale_status" in bugs:  # the page still shows what it read a minute ago (its first read, so far)
            time.sleep(2.0)
            assert um(topo)["status"] == "normal" and page(topo).json()["updated"] <= first["updated"] + 1
            return
        # how soon is status_truthful's to judge on a real run; here: it follows, well before the minute
        # the stale_status page lags by
        wait_for(lambda: um(topo)["status"] == "halted", 10, "the page to show the halt")
        shown = page(topo).json()
        line = shown["products"]["um"]
        assert shown["status"] == 1 and line["reason"] and abs(line["since"] - time.time()) < 10
        spot = shown["products"]["spot"]
        assert spot["status"] == ("halted" if "halt_spot_too" in bugs else "normal"), spot
    finally:
        topo.resume("margin")
    wait_for(lambda: um(topo)["status"] == "normal", 10, "the page to show UM normal again")
    again = page(topo).json()
    assert again["status"] == 0 and again["products"]["um"]["since"] > line["since"]
    assert again["products"]["spot"]["status"] == "normal"

