"""Each bug switch is a small defect in the real code path: off, the exchange behaves; on, the
defect shows. (The replication switches are shown in test_replication.py; the risk-guard and
liquidation ones through the harness in tests/harness/test_end_to_end.py.)"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from targets.umref.launcher import Topology, plan
from tests.umref.test_topology import Client, clients, journal, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture(params=[(), ("fail_open_auth", "halt_spot_too", "commingle_fees", "non_atomic_transfer")],
                ids=["correct", "bugs-on"])
def topo(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Topology]:
    topology = Topology(plan(tmp_path / "umref", bugs=request.param, price_seed=13))
    topology.start(bootstrap=False)
    yield topology
    topology.stop()


def buggy(topo: Topology) -> bool:
    return bool(topo.config.bugs)


def test_auth_unreachable(topo: Topology) -> None:
    topo.kill("auth")
    forged = Client(topo.config.url("gateway"), "ak-acct000-forged")
    answer = forged.post("/transfer", {"asset": "USDT", "amount": "1", "from": "spot", "to": "um"})
    if buggy(topo):
        assert answer.status_code == 200  # fail_open_auth: an unverified key moves money
    else:
        assert answer.status_code == 503 and answer.json()["error"]["code"] == "AUTH_UNAVAILABLE"


def test_halt_scope(topo: Topology) -> None:
    c = clients(topo)["acct001"]
    topo.pause("margin")
    try:
        wait_for(lambda: requests.get(topo.config.url("matching") + "/state", timeout=2).json()["halted"], 5, "halt")
        spot = c.post("/spot/order", {"symbol": "BTC/USDT", "side": "BUY", "type": "LIMIT", "qty": "0.00100", "price": "30000.00"})
    finally:
        topo.resume("margin")
    if buggy(topo):
        assert spot.status_code == 503 and spot.json()["error"]["code"] == "UM_HALTED"  # halt_spot_too
    else:
        assert spot.status_code == 200


def test_fees_and_segregation(topo: Topology) -> None:
    c = clients(topo)
    assert c["acct002"].post("/um/order", {"symbol": "BTCUSDT", "side": "SELL", "type": "LIMIT", "qty": "0.010",
                                           "price": "50000.00"}).status_code == 200
    assert c["acct003"].post("/um/order", {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "qty": "0.010",
                                           "price": "50000.00"}).status_code == 200
    balances = requests.get(topo.config.url("ledger-a") + "/balances", timeout=5).json()["balances"]
    owed = sum(v.get("USDT", 0) for k, v in balances.items() if k.startswith("cust:"))
    held = balances["wallet:segregated"]["USDT"]
    if buggy(topo):
        assert held - owed == 200_000  # commingle_fees: the 0.2 USDT fee stayed in the customer wallet
    else:
        assert held == owed and balances["wallet:house"]["USDT"] == 200_000


def test_transfer_atomicity(topo: Topology) -> None:
    c = clients(topo)["acct004"]
    assert c.post("/transfer", {"asset": "USDT", "amount": "3", "from": "spot", "to": "um"}, client_id="tx-1").status_code == 200
    kinds = [r["kind"] for r in journal(topo) if r["client_id"].startswith("tx-1")]
    if buggy(topo):
        assert kinds == ["transfer_debit", "transfer_credit"]  # non_atomic_transfer: two commits, a crash between
    else:
        assert kinds == ["transfer"]
