"""The real topology on loopback: trading, transfers, bad requests, the risk guard, failover."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from targets.umref.config import SERVICES
from targets.umref.launcher import Topology, plan
from tests.umref.started import started

pytestmark = pytest.mark.integration


class Client:
    def __init__(self, gateway: str, key: str) -> None:
        self.gateway = gateway
        self.key = key
        self.session = requests.Session()
        self.n = 0

    def post(self, path: str, body: dict[str, Any], *, client_id: str | None = None) -> requests.Response:
        self.n += 1
        body = {"client_id": client_id or f"t-{self.key[-6:]}-{self.n}-{time.monotonic_ns()}", **body}
        return self.session.post(self.gateway + path, json=body, headers={"X-API-Key": self.key}, timeout=10)

    def account(self) -> dict[str, Any]:
        return self.session.get(self.gateway + "/account", headers={"X-API-Key": self.key}, timeout=10).json()


def wait_for(predicate: Any, timeout_s: float, what: str) -> None:
    until = time.monotonic() + timeout_s
    while time.monotonic() < until:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def topo(tmp_path: Path) -> Iterator[Topology]:
    topology = started(tmp_path / "umref", price_seed=7)
    try:
        yield topology
    finally:
        topology.stop()


def clients(topo: Topology, gateway: str = "gateway") -> dict[str, Client]:
    gw = topo.config.url(gateway)
    return {a.account: Client(gw, a.api_key) for a in topo.config.accounts}


def journal(topo: Topology, node: str = "ledger-a") -> list[dict[str, Any]]:
    return requests.get(topo.config.url(node) + "/audit/ledger", timeout=10).json()["records"]


def market_price(topo: Topology) -> str:
    return requests.get(topo.config.url("gateway") + "/market", timeout=5).json()["symbols"]["BTCUSDT"]["mark"]


def test_trade_between_accounts_moves_positions_and_fees(topo: Topology) -> None:
    c = clients(topo)
    seller, buyer = c["acct000"], c["acct001"]
    sell = seller.post("/um/order", {"symbol": "BTCUSDT", "side": "SELL", "type": "LIMIT", "qty": "0.010", "price": "50000.00"})
    assert sell.status_code == 200, sell.text
    assert sell.json()["status"] == "NEW"
    buy = buyer.post("/um/order", {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "qty": "0.010", "price": "50000.00"})
    assert buy.status_code == 200, buy.text
    assert buy.json()["status"] == "FILLED"
    assert {p["symbol"]: p["qty"] for p in seller.account()["positions"]}["BTCUSDT"].startswith("-0.01")
    assert {p["symbol"]: p["qty"] for p in buyer.account()["positions"]}["BTCUSDT"].startswith("0.01")
    trades = requests.get(topo.config.url("gateway") + "/audit/trades", timeout=5).json()["events"]
    assert any(t["taker_account"] == "acct001" and t["maker_account"] == "acct000" for t in trades)
    # the taker paid 0.04 % of 500 USDT = 0.2 USDT, moved from the segregated to the house wallet
    balances = requests.get(topo.config.url("ledger-a") + "/balances", timeout=5).json()["balances"]
    assert balances["fee:revenue"]["USDT"] >= 200_000


def test_every_record_balances_and_the_standby_has_it(topo: Topology) -> None:
    c = clients(topo)["acct002"]
    assert c.post("/transfer", {"asset": "USDT", "amount": "100", "from": "spot", "to": "um"}).status_code == 200
    assert c.post("/transfer", {"asset": "USDT", "amount": "40.5", "from": "um", "to": "spot"}).status_code == 200
    records = journal(topo)
    for record in records:
        sums: dict[str, int] = {}
        for leg in record["legs"]:
            sums[leg["asset"]] = sums.get(leg["asset"], 0) + leg["amount"]
        assert all(v == 0 for v in sums.values()), record
    standby = {r["seq"] for r in journal(topo, "ledger-b")}
    assert {r["seq"] for r in records} <= standby
    view = c.account()
    assert view["balances"]["um"]["USDT"] == "1000059.500000"


def test_a_retried_client_id_is_applied_once(topo: Topology) -> None:
    c = clients(topo)["acct003"]
    body = {"asset": "USDT", "amount": "7", "from": "spot", "to": "um"}
    first = c.post("/transfer", body, client_id="same-id-1")
    again = c.post("/transfer", body, client_id="same-id-1")
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json()
    assert sum(r["client_id"] == "same-id-1" for r in journal(topo)) == 1


@pytest.mark.parametrize("path, body, headers, status, code", [
    ("/um/order", {"symbol": "DOGEUSDT", "side": "BUY", "type": "LIMIT", "qty": "1", "price": "1"}, None, 400, "UNKNOWN_SYMBOL"),
    ("/um/order", {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "qty": "-1", "price": "50000"}, None, 400, None),
    ("/um/order", {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "qty": "NaN", "price": "50000"}, None, 400, None),
    ("/um/order", {"symbol": "BTCUSDT", "side": "HOLD", "type": "LIMIT", "qty": "1", "price": "50000"}, None, 400, "BAD_REQUEST"),
    ("/transfer", {"asset": "USDT", "amount": "1", "from": "spot", "to": "um"}, {"X-API-Key": "ak-acct000-wrong"}, 401, "UNAUTHORIZED"),
    ("/transfer", {"asset": "USDT", "amount": "99999999999", "from": "spot", "to": "um"}, None, 400, "INSUFFICIENT_BALANCE"),
])
def test_bad_requests_get_a_clear_4xx_and_change_nothing(topo: Topology, path: str, body: dict[str, Any],
                                                         headers: dict[str, str] | None, status: int, code: str | None) -> None:
    c = clients(topo)["acct004"]
    before = len(journal(topo))
    resp = c.session.post(c.gateway + path, json={"client_id": "bad-1", **body},
                          headers=headers or {"X-API-Key": c.key}, timeout=5)
    assert resp.status_code == status, resp.text
    error = resp.json()["error"]
    assert error["message"]
    if code:
        assert error["code"] == code
    platform_own = ("risk_level", "liquidation", "halt", "resume")  # the risk engine's and guard's, any time
    assert [r for r in journal(topo)[before:] if r["kind"] not in platform_own] == []


def test_malformed_json_and_foreign_cancel(topo: Topology) -> None:
    c = clients(topo)
    owner, other = c["acct005"], c["acct006"]
    resp = owner.session.post(owner.gateway + "/um/order", data=b"{not json", headers={"X-API-Key": owner.key}, timeout=5)
    assert resp.status_code == 400 and resp.json()["error"]["code"] == "MALFORMED_JSON"
    order = owner.post("/um/order", {"symbol": "ETHUSDT", "side": "BUY", "type": "LIMIT", "qty": "0.100", "price": "1000.00"})
    assert order.status_code == 200, order.text
    stolen = other.post("/um/cancel", {"order_id": order.json()["order_id"]})
    assert stolen.status_code == 403 and stolen.json()["error"]["code"] == "FORBIDDEN"
    assert any(o["order_id"] == order.json()["order_id"] for o in owner.account()["open_orders"])


def test_paused_margin_halts_um_but_not_spot_and_keeps_resting_orders(topo: Topology) -> None:
    c = clients(topo)["acct007"]
    resting = c.post("/um/order", {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "qty": "0.001", "price": "30000.00"})
    assert resting.status_code == 200, resting.text
    matching = topo.config.url("matching")
    paused_at = time.time()
    topo.pause("margin")
    try:
        wait_for(lambda: requests.get(matching + "/state", timeout=2).json()["halted"], 5, "UM halt")
        refused = c.post("/um/order", {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "qty": "0.001", "price": "30000.00"})
        assert refused.status_code == 503 and refused.json()["error"]["code"] == "UM_HALTED"
        transfer = c.post("/transfer", {"asset": "USDT", "amount": "1", "from": "spot", "to": "um"})
        assert transfer.status_code == 503 and transfer.json()["error"]["code"] == "UM_HALTED"
        spot = c.post("/spot/order", {"symbol": "BTC/USDT", "side": "BUY", "type": "LIMIT", "qty": "0.00100", "price": "30000.00"})
        assert spot.status_code == 200, spot.text
    finally:
        topo.resume("margin")
    wait_for(lambda: not requests.get(matching + "/state", timeout=2).json()["halted"], 10, "UM resume")
    assert any(o["order_id"] == resting.json()["order_id"] for o in c.account()["open_orders"])
    halts = requests.get(matching + "/audit/halts", timeout=2).json()["events"]
    assert [h["type"] for h in halts if h["time"] >= paused_at] == ["halt", "resume"]


def test_primary_ledger_killed_region_b_takes_over_nothing_acked_lost(topo: Topology) -> None:
    """Region B's whole stack takes over at epoch 2; region A's matching engine, still alive, is
    fenced by the ledger on its first write and stands down."""
    c, b = clients(topo), clients(topo, "gateway-b")
    acked: list[str] = []
    for i in range(20):
        resp = c["acct008"].post("/transfer", {"asset": "USDT", "amount": "1", "from": "spot", "to": "um"}, client_id=f"pre-{i}")
        assert resp.status_code == 200
        acked.append(f"pre-{i}")
    topo.kill("ledger-a")
    coordinator = topo.config.url("coordinator")
    wait_for(lambda: requests.get(coordinator + "/primary", timeout=2).json()["primary"] == "ledger-b", 10, "failover")
    deposed = [c["acct009"].post("/transfer", {"asset": "USDT", "amount": "1", "from": "spot", "to": "um"},
                                 client_id=f"old-{i}") for i in range(3)]
    assert deposed[-1].status_code == 503 and deposed[-1].json()["error"]["code"] == "NOT_ACTIVE", deposed[-1].text
    outcomes = []
    for i in range(200):  # bounded: region B's matching first reads the journal back, slower on a busy machine
        resp = b["acct009"].post("/transfer", {"asset": "USDT", "amount": "1", "from": "spot", "to": "um"}, client_id=f"post-{i}")
        outcomes.append(resp.status_code)
        if resp.status_code == 200:
            acked.append(f"post-{i}")
        if len(outcomes) >= 20 and resp.status_code == 200:
            break
        time.sleep(0.05)
    assert outcomes[-1] == 200, outcomes  # writes flow again, through region B
    records = journal(topo, "ledger-b")
    present = {r["client_id"] for r in records}
    assert set(acked) <= present, sorted(set(acked) - present)
    epochs = [r["epoch"] for r in records]
    assert epochs == sorted(epochs) and max(epochs) == 2


def test_a_plan_never_gives_two_services_one_port(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Independent random draws repeat now and then (seen in CI: auth and liquidation on one port)."""
    from targets.umref import launcher

    draws = iter([20780, 20780, *range(30000, 30100)])
    monkeypatch.setattr(launcher, "free_port", lambda host="127.0.0.1": next(draws))
    ports = list(plan(tmp_path).ports.values())
    assert len(set(ports)) == len(ports) == len(SERVICES) and ports[0] == 20780
