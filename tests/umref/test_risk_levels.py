"""The venue's risk levels on a running umref: a leveraged account driven by the price it is fed
through REDUCE_ONLY (orders that add exposure and collateral taken out refused, reducing orders
taken), into FORCE_LIQUIDATION (its open orders cancelled first), out of it again by a recovery
within the liquidation's grace (the liquidation cancelled), and into it once more until it is
liquidated; each move journaled as a ``risk_level`` event with its inputs."""

from __future__ import annotations

import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from targets.umref.launcher import Topology
from tests.umref.started import started
from tests.umref.test_topology import clients, journal, wait_for
from tests.umref.ticks import Ticker

pytestmark = pytest.mark.integration
RATE = Decimal("0.004")  # BTCUSDT's first bracket: lev0's 1 BTC stays in it below 50,000


def btc_at(ratio: Decimal, wallet: Decimal, entry: Decimal, qty: Decimal) -> Decimal:
    """The BTC price at which a long of ``qty`` from ``entry`` on ``wallet`` has this uniMMR:
    (wallet + qty·(P − entry)) / (qty·P·RATE) = ratio."""
    return ((qty * entry - wallet) / (qty - ratio * RATE * qty)).quantize(Decimal("0.01"))


def moves(topo: Topology, account: str) -> list[dict[str, Any]]:
    return [e for r in journal(topo) for e in r["events"] if e["type"] in ("risk_level", "liquidation")
            and e.get("account") == account]


def test_an_account_through_reduce_only_and_forced_liquidation(tmp_path: Path) -> None:
    # a grace long enough for the test to see the forced level and feed the recovery on a busy machine
    topo = started(tmp_path / "umref", price_seed=13, liquidation_grace_ms=3000)
    try:
        lev0 = clients(topo)["lev0"]
        held = lev0.account()
        (position,) = held["positions"]
        wallet, entry, qty = Decimal(held["balances"]["um"]["USDT"]), Decimal(position["entry_price"]), Decimal(position["qty"])
        price = {"BTC": btc_at(Decimal("1.1"), wallet, entry, qty)}

        def levels() -> list[str]:
            return [str(e.get("to", "liquidated")) for e in moves(topo, "lev0")]

        with Ticker(topo, lambda _: {"BTC": price["BTC"], "ETH": Decimal(3000)}):
            wait_for(lambda: levels()[-1:] == ["REDUCE_ONLY"], 10, "lev0 at REDUCE_ONLY")
            far_below, far_above = str(price["BTC"] - 2000), str(price["BTC"] + 2000)
            adding = lev0.post("/um/order", {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "qty": "0.001", "price": far_below})
            assert adding.status_code == 400 and adding.json()["error"]["code"] == "REDUCE_ONLY", adding.text
            out = lev0.post("/transfer", {"asset": "USDT", "amount": "1", "from": "um", "to": "spot"})
            assert out.status_code == 400 and out.json()["error"]["code"] == "REDUCE_ONLY", out.text
            reducing = lev0.post("/um/order", {"symbol": "BTCUSDT", "side": "SELL", "type": "LIMIT", "qty": "0.001",
                                               "price": far_above, "reduce_only": True})  # no initial margin to cover
            assert reducing.status_code == 200 and reducing.json()["status"] == "NEW", reducing.text

            price["BTC"] = btc_at(Decimal("0.9"), wallet, entry, qty)
            wait_for(lambda: levels()[-1:] == ["FORCE_LIQUIDATION"], 10, "lev0 in FORCE_LIQUIDATION")
            price["BTC"] = btc_at(Decimal("1.1"), wallet, entry, qty)  # back within the grace: cancelled
            forced = next(r for r in journal(topo) if any(e.get("to") == "FORCE_LIQUIDATION" and e.get("account") == "lev0"
                                                         for e in r["events"]))  # levx0, levc0 may go first
            assert [(e["type"], e.get("reason")) for e in forced["events"][1:]] == [("cancel", "force_liquidation")]
            assert forced["events"][1]["order_id"] == reducing.json()["order_id"]  # its open order went first
            wait_for(lambda: levels()[-1:] == ["REDUCE_ONLY"], 10, "the liquidation cancelled by the recovery")

            price["BTC"] = btc_at(Decimal("0.9"), wallet, entry, qty)
            wait_for(lambda: levels()[-1:] == ["liquidated"], 15, "lev0 liquidated")
            time.sleep(0.5)  # nothing more happens to an account with no position
        assert levels() == ["REDUCE_ONLY", "FORCE_LIQUIDATION", "REDUCE_ONLY", "FORCE_LIQUIDATION", "liquidated"]
        ups_and_downs = [(e.get("from"), e.get("to"), e.get("unimmr")) for e in moves(topo, "lev0")]
        assert all(u is not None for _, _, u in ups_and_downs), ups_and_downs  # each move carries its uniMMR
        assert lev0.account()["positions"] == []
        stream = lev0.session.get(lev0.gateway + "/um/user-stream", params={"after": 3}, headers={"X-API-Key": lev0.key},
                                  timeout=5).json()
        assert stream["next"] == 5 and [e["s"] for e in stream["events"]] == ["FORCE_LIQUIDATION", "NORMAL"]
        assert all(e["e"] == "riskLevelChange" and e["E"] > 0 for e in stream["events"])
        assert lev0.post("/um/order", {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "qty": "0.001",
                                       "price": str(price["BTC"] - 2000)}).status_code == 200  # NORMAL again
    finally:
        topo.stop()
