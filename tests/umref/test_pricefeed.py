"""Pricefeed's intake (the market owns the prices) and the ``price_mislabel`` switch, on real
pricefeed and margin processes."""

from __future__ import annotations

import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests

from targets.umref.launcher import Topology
from targets.umref.prices import is_outlier, step_of_time
from tests.umref.test_topology import wait_for
from tests.umref.ticks import Ticker, only, tick

pytestmark = pytest.mark.integration
SEED = 5


def quotes(topo: Topology) -> dict[str, Any]:
    return requests.get(topo.config.url("pricefeed") + "/prices", timeout=2).json()


def evaluate(topo: Topology) -> dict[str, Any]:
    body: dict[str, Any] = {"account": "lev0", "wallet": {"USDT": "3700"}, "min_price_time": None,
            "positions": [{"symbol": "BTCUSDT", "qty": "1.000", "entry_price": "50000.00", "leverage": 20}]}
    return requests.post(topo.config.url("margin") + "/evaluate", json=body, timeout=2).json()


def test_intake_tick_is_served_and_the_demo_path_never_returns(tmp_path: Path) -> None:
    with only(tmp_path, ("pricefeed", "margin"), seed=SEED) as topo:
        before = quotes(topo)
        assert before["mode"] == "demo" and set(before["assets"]) == {"BTC", "ETH"}  # prices before any tick
        t = time.time()
        assert tick(topo, t, {"BTC": "41234.56", "ETH": "2999.99"}).json() == {"accepted": True}
        served = quotes(topo)
        assert served["mode"] == "intake"
        for asset, price in (("BTC", "41234.56"), ("ETH", "2999.99")):
            sources = served["assets"][asset]["sources"]
            assert [s["time"] for s in sources] == [t, t, t]
            assert [s["price"] for s in sources[:2]] == [price, price]
        # margin decides on the tick once it has polled the feed (before the tick goes stale)
        wait_for(lambda: (evaluate(topo).get("prices") or [{}])[0].get("price") == "41234.56", 0.9, "margin to use the tick")
        time.sleep(1.2)  # the ticks stopped: the feed keeps the last one, now stale ...
        assert quotes(topo)["assets"]["BTC"]["sources"][0] == {"source": "s1", "time": t, "price": "41234.56"}
        stale = evaluate(topo)
        assert stale["state"] == "unknown" and stale["missing_prices"] == ["BTC"]  # ... and margin refuses
        # an older tick overtaken on the way does not replace the one served
        assert tick(topo, t - 5, {"BTC": "1.00"}).json()["accepted"] is False
        assert quotes(topo)["assets"]["BTC"]["sources"][0]["price"] == "41234.56"


def test_s3_publishes_an_outlier_on_seeded_tick_steps(tmp_path: Path) -> None:
    now = time.time()
    # the outlier's tick after the normal one: an older tick is refused as overtaken (the first
    # step being an outlier, about one run in fifty, sent them the other way round)
    normal = next(s for s in range(step_of_time(now), step_of_time(now) + 5000) if not is_outlier(SEED, "BTC", s))
    outlier = next(s for s in range(normal + 1, normal + 5000) if is_outlier(SEED, "BTC", s))
    with only(tmp_path, ("pricefeed",), seed=SEED) as topo:
        tick(topo, normal * 0.1, {"BTC": "50000.00"})
        assert [s["price"] for s in quotes(topo)["assets"]["BTC"]["sources"]] == ["50000.00"] * 3
        tick(topo, outlier * 0.1, {"BTC": "50000.00"})
        assert [s["price"] for s in quotes(topo)["assets"]["BTC"]["sources"]] == ["50000.00", "50000.00", "52500.00"]


MALFORMED: list[tuple[dict[str, Any], str]] = [
    ({"time": 1.0, "prices": {"DOGE": "1.00"}}, "UNKNOWN_ASSET"),
    ({"time": 1.0, "prices": {"BTC": "fifty"}}, "INVALID_PRICE"),
    ({"time": 1.0, "prices": {"BTC": 50000.5}}, "INVALID_PRICE"),  # a float is not a decimal string
    ({"time": 1.0, "prices": {"BTC": "-1"}}, "INVALID_PRICE"),
    ({"time": "now", "prices": {"BTC": "50000.00"}}, "INVALID_TIME"),
    ({"time": True, "prices": {"BTC": "50000.00"}}, "INVALID_TIME"),
    ({"prices": {"BTC": "50000.00"}}, "INVALID_TIME"),
    ({"time": 1.0, "prices": {}}, "BAD_REQUEST"),
    ({"time": 1.0, "prices": ["BTC", "50000.00"]}, "BAD_REQUEST"),
]


def test_intake_refuses_a_malformed_tick(tmp_path: Path) -> None:
    with only(tmp_path, ("pricefeed",), seed=SEED) as topo:
        for body, code in MALFORMED:
            answer = requests.post(topo.config.url("pricefeed") + "/intake", json=body, timeout=2)
            assert answer.status_code == 400 and answer.json()["error"]["code"] == code, (body, answer.text)
            assert answer.json()["error"]["message"]
        assert quotes(topo)["mode"] == "demo"  # nothing was taken


@pytest.mark.parametrize("bugs", [(), ("price_mislabel",)], ids=["correct", "price_mislabel"])
def test_a_decision_reports_the_price_of_the_tick_it_names(tmp_path: Path, bugs: tuple[str, ...]) -> None:
    """Each tick's BTC price is unique (it rises by 1.00 a tick), so a reported price names its tick."""
    start = time.time()

    def path(t: float) -> dict[str, Decimal]:
        return {"BTC": Decimal(50000) + int((t - start) * 10), "ETH": Decimal(3000)}

    with only(tmp_path, ("pricefeed", "margin"), bugs=bugs, seed=SEED) as topo, Ticker(topo, path) as market:
        time.sleep(2.5)
        gaps = []
        for _ in range(5):
            used = evaluate(topo)["prices"][0]
            assert used["asset"] == "BTC" and all(s["time"] == used["time"] for s in used["sources"])
            priced_at = min(t for t, p in market.sent if p["BTC"] == Decimal(used["price"]))
            gaps.append(used["time"] - priced_at)  # how much older the price is than its label
            time.sleep(0.2)
    if bugs:
        assert all(gap >= 1.2 for gap in gaps), gaps  # a price ~1.5 s old, labelled as the freshest tick
    else:
        assert gaps == [0.0] * 5, gaps  # the price of exactly the tick whose time it carries
