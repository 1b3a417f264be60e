"""Small hand-made histories and audits for the pure check tests."""

from __future__ import annotations

from typing import Any

from harness.audit import JournalRecord, Leg
from harness.collect import topology_facts
from harness.history import History, Op
from harness.targets import load_target

T0 = 1_000_000.0


class HistoryBuilder:
    """Appends ops in time order; ``request`` adds an invoke and its completion."""

    def __init__(self) -> None:
        self.ops: list[Op] = []

    def add(self, type_: str, f: str, process: str, t: float, value: dict[str, Any] | None = None,
            latency_ms: float | None = None, error: str | None = None) -> Op:
        op = Op(len(self.ops), type_, f, process, T0 + t, t, value or {}, latency_ms, error)  # type: ignore[arg-type]
        self.ops.append(op)
        return op

    def request(self, f: str, t: float, outcome: str, client_id: str, *, process: str = "u1", account: str = "a1",
                status: int | None = 200, error: str | None = None, latency_ms: float = 5.0, valid_key: bool = True,
                **value: Any) -> Op:
        self.add("invoke", f, process, t, {"client_id": client_id, "account": account, "api_key_valid": valid_key, **value})
        return self.add(outcome, f, process, t + latency_ms / 1000, {"client_id": client_id, "account": account,
                                                                     "status": status}, latency_ms, error)

    def fault(self, fid: str, t_inject: float, t_heal: float | None, *, expect_um_halt: bool = True,
              landed: bool = True, fault: str = "latency", target: str = "matching->margin", heal_s: float = 0.001) -> None:
        base = {"id": fid, "fault": fault, "target": target, "expect_um_halt": expect_um_halt}
        self.add("invoke", "fault", "nemesis", t_inject, {**base, "action": "inject"})
        self.add("info", "fault", "nemesis", t_inject + 0.001, {**base, "action": "inject", "landed": landed})
        if t_heal is not None:
            self.add("invoke", "fault", "nemesis", t_heal, {**base, "action": "heal"})
            self.add("info", "fault", "nemesis", t_heal + heal_s, {**base, "action": "heal", "landed": True})

    def phase(self, t: float, name: str, **extra: Any) -> None:
        self.add("info", "phase", "runner", t, {"phase": name, **extra})

    def build(self) -> History:
        return History(sorted(self.ops, key=lambda op: op.time))


def record(seq: int, t: float, kind: str, client_id: str, *, events: list[dict[str, Any]] | None = None,
           legs: list[Leg] | None = None, epoch: int = 1, writer: str = "") -> JournalRecord:
    return JournalRecord(seq=seq, epoch=epoch, node="ledger-a", time=T0 + t, client_id=client_id, kind=kind,
                         events=events or [], legs=legs or [], writer=writer)


def leg(account: str, asset: str, amount: int) -> Leg:
    return Leg(account=account, asset=asset, amount=amount)


def halt(t: float, kind: str = "halt", scope: tuple[str, ...] = ("um",)) -> dict[str, Any]:
    return {"type": kind, "time": T0 + t, "reason": "test", "scope": list(scope)}


UMREF_FACTS = topology_facts(load_target("umref").topology)  # what a run's audit config says of umref


def audit(**parts: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"config": {"risk": {}, "topology": UMREF_FACTS}, "halts": [], "journal": [], "risk_levels": [], "liquidations": [],
                            "balances": {"time": T0, "balances": {}}, "balance_samples": [], "errors": [],
                            "replication": {"failovers": []}}
    return {**base, **parts}


def fault_with_scope(h: HistoryBuilder, fid: str, t_inject: float, t_heal: float | None, *, um_only: bool,
                     expect_um_halt: bool = False, fault: str = "latency", target: str = "matching->margin") -> None:
    """A fault whose inject and heal ops carry ``um_only`` (contract 2), as the runner writes them."""
    base = {"id": fid, "fault": fault, "target": target, "expect_um_halt": expect_um_halt, "um_only": um_only}
    h.add("invoke", "fault", "nemesis", t_inject, {**base, "action": "inject"})
    h.add("info", "fault", "nemesis", t_inject + 0.001, {**base, "action": "inject", "landed": True})
    if t_heal is not None:
        h.add("invoke", "fault", "nemesis", t_heal, {**base, "action": "heal"})
        h.add("info", "fault", "nemesis", t_heal + 0.001, {**base, "action": "heal", "landed": True})


def ack(h: HistoryBuilder, f: str, t: float, client_id: str, body: dict[str, Any], *, latency_ms: float = 5.0,
        process: str = "u1", **request: Any) -> Op:
    """A client request acknowledged (200) with this answer body, as the load writes it."""
    h.add("invoke", f, process, t, {"client_id": client_id, "account": "a1", "api_key_valid": True, **request})
    return h.add("ok", f, process, t + latency_ms / 1000,
                 {"client_id": client_id, "account": "a1", "status": 200, "body": body}, latency_ms)


# ---- margin decisions: the harness's price ticks, UM trades, decision events ------------------
def tick(h: HistoryBuilder, t: float, prices: dict[str, str], delivered: bool = True) -> Op:
    """One tick the harness published to the target's price intake (the harness is the market)."""
    return h.add("info", "tick", "market", t, {"prices": dict(prices), "delivered": delivered})


def um_trade(taker: str, maker: str, qty: str, price: str, *, taker_side: str = "BUY",
             symbol: str = "BTCUSDT") -> dict[str, Any]:
    return {"type": "trade", "trade_id": f"t-{taker}-{maker}-{price}", "symbol": symbol, "market": "um",
            "price": price, "qty": qty, "maker_order_id": f"o-{maker}", "taker_order_id": f"o-{taker}",
            "maker_account": maker, "taker_account": taker, "taker_side": taker_side}


def decision(kind: str, account: str, t: float, *, wallet: dict[str, str], positions: list[dict[str, Any]],
             prices: list[tuple[str, str, float]], move: tuple[str, str] = ("NORMAL", "REDUCE_ONLY"),
             closed: list[dict[str, str]] | None = None) -> dict[str, Any]:
    """A ``risk_level`` move (``move``: from, to) or an executed ``liquidation`` (``closed``) as
    umref journals it: the evaluation it was decided on (prices as (asset, price, time since T0))
    and the decision's own time."""
    event: dict[str, Any] = {"type": kind, "account": account, "time": T0 + t, "wallet": wallet, "positions": positions,
                             "prices": [{"asset": a, "price": p, "time": T0 + pt, "sources": []} for a, p, pt in prices]}
    if kind == "risk_level":
        event["from"], event["to"] = move
    else:
        event["stage"], event["closed"] = "executed", closed or []
    return event
