"""The matching engine's state, event-sourced from the ledger journal.

``Exchange`` holds books, positions, leverage and customer balances. Commands are *decided*
into a journal record (events + ledger legs) without touching the state; the record is written
to the ledger; only then is it *applied*. Replaying the journal rebuilds the same state, which
is how matching recovers after a crash or a journal failure.
"""

from __future__ import annotations

import bisect
import itertools
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal
from typing import Any

from targets.umref import money
from targets.umref.service import ApiError

__all__ = ["Order", "Position", "Book", "Exchange", "Leg", "TAKER_FEE"]

TAKER_FEE = Decimal("0.0004")
DEFAULT_LEVERAGE = 10
Leg = dict[str, Any]


@dataclass
class Order:
    order_id: str
    account: str
    symbol: str
    market: str  # "um" | "spot"
    side: str  # BUY | SELL
    price: Decimal
    qty: Decimal  # remaining
    time: float
    reduce_only: bool = False

    def view(self) -> dict[str, Any]:
        return {"order_id": self.order_id, "account": self.account, "symbol": self.symbol,
                "side": self.side, "price": str(self.price), "qty": str(self.qty), "time": self.time}


@dataclass
class Position:
    qty: Decimal = Decimal(0)  # signed: long > 0, short < 0
    entry_price: Decimal = Decimal(0)


@dataclass
class Book:
    """One symbol's price-time priority book: price levels of FIFO queues."""

    bids: dict[Decimal, deque[Order]] = field(default_factory=dict)
    asks: dict[Decimal, deque[Order]] = field(default_factory=dict)
    bid_prices: list[Decimal] = field(default_factory=list)  # ascending; best = last
    ask_prices: list[Decimal] = field(default_factory=list)  # ascending; best = first

    def add(self, order: Order) -> None:
        levels, prices = (self.bids, self.bid_prices) if order.side == "BUY" else (self.asks, self.ask_prices)
        if order.price not in levels:
            levels[order.price] = deque()
            bisect.insort(prices, order.price)
        levels[order.price].append(order)

    def remove(self, order: Order) -> None:
        levels, prices = (self.bids, self.bid_prices) if order.side == "BUY" else (self.asks, self.ask_prices)
        level = levels.get(order.price)
        if level is None:
            return
        try:
            level.remove(order)
        except ValueError:
            return
        if not level:
            del levels[order.price]
            prices.remove(order.price)

    def crossing(self, side: str, limit: Decimal | None) -> Iterator[Order]:
        """Resting orders a taker on ``side`` would meet, best first, up to its limit (lazily:
        a taker stops reading once it is filled)."""
        if side == "BUY":
            prices: Iterable[Decimal] = itertools.takewhile(lambda p: limit is None or p <= limit, self.ask_prices)
            levels = self.asks
        else:
            prices = itertools.takewhile(lambda p: limit is None or p >= limit, reversed(self.bid_prices))
            levels = self.bids
        for price in prices:
            yield from levels[price]

    def resting(self) -> dict[str, list[dict[str, Any]]]:
        return {
            "bids": [o.view() for p in reversed(self.bid_prices) for o in self.bids[p]],
            "asks": [o.view() for p in self.ask_prices for o in self.asks[p]],
        }

    def best(self) -> tuple[Decimal | None, Decimal | None]:
        return (self.bid_prices[-1] if self.bid_prices else None,
                self.ask_prices[0] if self.ask_prices else None)


def cust(account: str, wallet: str) -> str:
    return f"cust:{account}:{wallet}"


def transfer_legs(debit: str, credit: str, asset: str, amount: int) -> list[Leg]:
    """A movement of ``amount`` from liability ``debit`` to liability ``credit``."""
    return [{"account": debit, "asset": asset, "amount": amount},
            {"account": credit, "asset": asset, "amount": -amount}]


def exchange_income_legs(payer: str, income: str, asset: str, amount: int, *, move_custody: bool) -> list[Leg]:
    """A customer pays the exchange (fee, insurance): the liability falls, the exchange's account
    rises, and the money leaves the segregated wallet for the house wallet (unless the
    ``commingle_fees`` bug leaves it among customer funds)."""
    if amount == 0:
        return []
    legs = transfer_legs(payer, income, asset, amount)
    if move_custody:
        legs += [{"account": "wallet:house", "asset": asset, "amount": amount},
                 {"account": "wallet:segregated", "asset": asset, "amount": -amount}]
    return legs


class Exchange:
    """In-memory state of matching, changed only by ``apply(record)``."""

    def __init__(self) -> None:
        self.books: dict[str, Book] = {s: Book() for s in money.ALL_SYMBOLS}
        self.orders: dict[str, Order] = {}
        self.by_account: dict[str, dict[str, Order]] = {}  # account -> its resting orders
        self.exposure: dict[str, dict[tuple[str, str], list[Decimal]]] = {}  # account -> (symbol, side) -> [qty, notional]
        self.positions: dict[tuple[str, str], Position] = {}
        self.leverage: dict[tuple[str, str], int] = {}
        self.balances: dict[str, dict[str, int]] = {}  # ledger account -> asset -> minor units (natural sign)
        self.results: dict[str, dict[str, Any]] = {}  # client_id -> answer given (idempotency)
        self.halts: list[dict[str, Any]] = []
        self.risk_levels: dict[str, str] = {}  # account -> its risk level, where not NORMAL
        self.streams: dict[str, list[dict[str, Any]]] = {}  # account -> its user-data stream's riskLevelChange events
        self.last_price: dict[str, Decimal] = {}
        self.last_seq = 0
        self._ids = itertools.count(1)

    # ---- reads ---------------------------------------------------------------------------
    def balance(self, account: str, asset: str) -> int:
        return self.balances.get(account, {}).get(asset, 0)

    def wallet(self, account: str, wallet: str) -> dict[str, int]:
        return dict(self.balances.get(cust(account, wallet), {}))

    def position(self, account: str, symbol: str) -> Position:
        return self.positions.get((account, symbol), Position())

    def risk_level_of(self, account: str) -> str:
        return self.risk_levels.get(account, "NORMAL")

    def reduces(self, account: str, symbol: str, side: str, qty: Decimal) -> bool:
        """Whether an order only reduces the account's position (never opens or flips one)."""
        pos = self.position(account, symbol)
        return (side == "SELL" and pos.qty >= qty) or (side == "BUY" and -pos.qty >= qty)

    def leverage_of(self, account: str, symbol: str) -> int:
        return self.leverage.get((account, symbol), DEFAULT_LEVERAGE)

    def open_orders(self, account: str, market: str | None = None) -> list[Order]:
        return [o for o in self.by_account.get(account, {}).values() if market is None or o.market == market]

    def open_um_exposure(self, account: str) -> list[dict[str, Any]]:
        """Open UM orders summed per (symbol, side): all the initial-margin check needs of them."""
        return [{"symbol": symbol, "side": side, "qty": str(qty), "notional": str(notional),
                 "leverage": self.leverage_of(account, symbol)}
                for (symbol, side), (qty, notional) in sorted(self.exposure.get(account, {}).items()) if qty > 0]

    def _rest(self, order: Order, sign: int, qty: Decimal) -> None:
        """Keep the per-account index and UM exposure in step with what rests on the books."""
        if order.market == "um":
            entry = self.exposure.setdefault(order.account, {}).setdefault((order.symbol, order.side), [Decimal(0), Decimal(0)])
            entry[0] += sign * qty
            entry[1] += sign * qty * order.price

    def um_positions(self, account: str) -> list[dict[str, Any]]:
        return [
            {"symbol": s, "qty": str(p.qty), "entry_price": str(p.entry_price), "leverage": self.leverage_of(a, s)}
            for (a, s), p in sorted(self.positions.items()) if a == account and p.qty != 0
        ]

    def margin_view(self, account: str) -> dict[str, Any]:
        """What margin needs to judge this account: UM wallet, positions, open UM orders."""
        return {
            "account": account,
            "wallet": {a: str(money.from_minor(a, v)) for a, v in self.wallet(account, "um").items()},
            "positions": self.um_positions(account),
            "open_orders": self.open_um_exposure(account),
            "risk_level": self.risk_level_of(account),
        }

    def accounts_at_risk(self) -> list[str]:
        """Accounts the risk engine watches: those with a position, and those whose level is
        still raised (a position closed by trading must bring it back to NORMAL)."""
        return sorted({a for (a, _), p in self.positions.items() if p.qty != 0} | set(self.risk_levels))

    def new_id(self, prefix: str, seq_hint: int) -> str:
        return f"{prefix}{seq_hint}-{next(self._ids)}"

    # ---- decisions (pure: state is not changed) --------------------------------------------
    def decide_order(self, account: str, client_id: str, symbol: str, side: str, order_type: str,
                     qty: Decimal, price: Decimal | None, reduce_only: bool, now: float,
                     *, move_custody: bool) -> dict[str, Any]:
        """The journal record for a new order: the order, its trades, fees and PnL legs."""
        market = "spot" if symbol in money.SPOT_SYMBOLS else "um"
        if reduce_only:
            if market != "um" or not self.reduces(account, symbol, side, qty):
                raise ApiError(400, "REDUCE_ONLY_REJECTED", "reduce-only order would not reduce the position")
        order_id = f"o-{client_id}"
        events: list[dict[str, Any]] = [{
            "type": "order", "order_id": order_id, "account": account, "symbol": symbol, "market": market,
            "side": side, "order_type": order_type, "price": None if price is None else str(price),
            "qty": str(qty), "reduce_only": reduce_only,
        }]
        legs: list[Leg] = []
        remaining = qty
        # Positions and balances as they evolve within this one order (several fills).
        pos_after: dict[tuple[str, str], Position] = {}
        bal_after: dict[tuple[str, str], int] = {}

        def bal(acct: str, asset: str) -> int:
            return bal_after.get((acct, asset), self.balance(acct, asset))

        def move(debit: str, credit: str, asset: str, amount: int) -> None:
            if amount <= 0:
                return
            legs.extend(transfer_legs(debit, credit, asset, amount))
            bal_after[(debit, asset)] = bal(debit, asset) - amount
            bal_after[(credit, asset)] = bal(credit, asset) + amount

        def pay_exchange(payer: str, asset: str, amount: int) -> None:
            amount = min(amount, max(0, bal(payer, asset)))
            if amount <= 0:
                return
            legs.extend(exchange_income_legs(payer, "fee:revenue", asset, amount, move_custody=move_custody))
            bal_after[(payer, asset)] = bal(payer, asset) - amount

        for maker in self.books[symbol].crossing(side, price):
            if remaining <= 0:
                break
            fill = min(remaining, maker.qty)
            trade_price = maker.price
            if market == "spot":
                base, quote = money.SPOT_SYMBOLS[symbol]
                buyer, seller = (account, maker.account) if side == "BUY" else (maker.account, account)
                quote_amt = money.to_minor(quote, fill * trade_price)
                base_amt = money.to_minor(base, fill)
                if bal(cust(buyer, "spot"), quote) < quote_amt or bal(cust(seller, "spot"), base) < base_amt:
                    if buyer == account or seller == account:
                        break  # the taker cannot pay: stop filling, rest/cancel the remainder
                    continue  # the maker cannot pay: skip it
                move(cust(buyer, "spot"), cust(seller, "spot"), quote, quote_amt)
                move(cust(seller, "spot"), cust(buyer, "spot"), base, base_amt)
                pay_exchange(cust(account, "spot"), quote, money.to_minor(quote, fill * trade_price * TAKER_FEE))
            else:
                asset = money.UM_SYMBOLS[symbol]
                for acct, delta in ((account, fill if side == "BUY" else -fill),
                                    (maker.account, -fill if side == "BUY" else fill)):
                    key = (acct, symbol)
                    before = pos_after.get(key, self.position(acct, symbol))
                    after, realized = apply_fill(before, delta, trade_price)
                    pos_after[key] = after
                    pnl = money.to_minor(asset, abs(realized))
                    wallet_acct = cust(acct, "um")
                    if realized > 0:
                        move("cust:clearing:um", wallet_acct, asset, pnl)
                    elif realized < 0:
                        covered = min(pnl, max(0, bal(wallet_acct, asset)))
                        move(wallet_acct, "cust:clearing:um", asset, covered)
                        shortfall = pnl - covered  # the insurance fund covers a loss beyond the wallet
                        if shortfall:
                            legs.extend(exchange_income_legs("insurance:fund", "cust:clearing:um", asset, shortfall, move_custody=False))
                            legs.extend([{"account": "wallet:segregated", "asset": asset, "amount": shortfall},
                                         {"account": "wallet:house", "asset": asset, "amount": -shortfall}])
                pay_exchange(cust(account, "um"), asset, money.to_minor(asset, fill * trade_price * TAKER_FEE))
            events.append({
                "type": "trade", "trade_id": f"t-{client_id}-{len(events)}", "symbol": symbol, "market": market,
                "price": str(trade_price), "qty": str(fill), "maker_order_id": maker.order_id,
                "taker_order_id": order_id, "maker_account": maker.account, "taker_account": account,
                "taker_side": side,
            })
            remaining -= fill
        if remaining > 0 and order_type == "MARKET":
            events.append({"type": "cancel", "order_id": order_id, "account": account, "symbol": symbol,
                           "market": market, "qty": str(remaining), "reason": "unfilled_market"})
        return {"client_id": client_id, "kind": "spot_order" if market == "spot" else "order",
                "time": now, "events": events, "legs": legs}

    def decide_cancel(self, account: str, client_id: str, order_id: str, now: float, reason: str = "client") -> dict[str, Any]:
        order = self.orders.get(order_id)
        if order is None:
            raise ApiError(404, "NOT_FOUND", f"no resting order {order_id}")
        if order.account != account:
            raise ApiError(403, "FORBIDDEN", "order belongs to another account")
        return {"client_id": client_id, "kind": "cancel", "time": now, "legs": [],
                "events": [cancel_event(order, reason)]}

    # ---- apply (the only mutation) ---------------------------------------------------------
    def apply(self, record: dict[str, Any]) -> None:
        for leg in record.get("legs", []):
            sign = 1 if leg["account"].startswith(("wallet:", "suspense:")) else -1
            acct = self.balances.setdefault(leg["account"], {})
            acct[leg["asset"]] = acct.get(leg["asset"], 0) + sign * leg["amount"]
        new_orders = [self._apply_event(event, record) for event in record.get("events", [])]
        # A new limit order rests with what its own trades left; a market order never rests.
        for order in filter(None, new_orders):
            if self.orders.get(order.order_id) is order:
                if order.price > 0 and order.qty > 0:
                    self.books[order.symbol].add(order)
                    self.by_account.setdefault(order.account, {})[order.order_id] = order
                    self._rest(order, 1, order.qty)
                else:
                    del self.orders[order.order_id]
        if "client_id" in record and "answer" in record:
            self.results[record["client_id"]] = record["answer"]
        self.last_seq = max(self.last_seq, record.get("seq", 0))

    def _apply_event(self, ev: dict[str, Any], record: dict[str, Any]) -> Order | None:
        kind = ev["type"]
        if kind == "order":
            order = Order(ev["order_id"], ev["account"], ev["symbol"], ev["market"], ev["side"],
                          Decimal(ev["price"] or 0), Decimal(ev["qty"]), record.get("time", 0.0),
                          ev.get("reduce_only", False))
            self.orders[order.order_id] = order
            return order
        if kind == "trade":
            qty, price = Decimal(ev["qty"]), Decimal(ev["price"])
            self.last_price[ev["symbol"]] = price
            for oid in (ev["maker_order_id"], ev["taker_order_id"]):
                if (resting := self.orders.get(oid)) is not None:
                    self._reduce(resting, qty)
            if ev["market"] == "um":
                buy = ev["taker_side"] == "BUY"
                for acct, delta in ((ev["taker_account"], qty if buy else -qty), (ev["maker_account"], -qty if buy else qty)):
                    key = (acct, ev["symbol"])
                    self.positions[key], _ = apply_fill(self.positions.get(key, Position()), delta, price)
        elif kind == "cancel":
            if (cancelled := self.orders.pop(ev["order_id"], None)) is not None:
                self.books[cancelled.symbol].remove(cancelled)
                if self.by_account.get(cancelled.account, {}).pop(cancelled.order_id, None) is not None:
                    self._rest(cancelled, -1, cancelled.qty)
        elif kind == "leverage":
            self.leverage[(ev["account"], ev["symbol"])] = int(ev["leverage"])
        elif kind == "risk_level":
            if ev["to"] == "NORMAL":
                self.risk_levels.pop(ev["account"], None)
            else:
                self.risk_levels[ev["account"]] = ev["to"]
            self.tell(ev["account"], record, ev["to"], ev)
        elif kind == "liquidation":
            self.risk_levels.pop(ev["account"], None)  # executed: nothing left at risk
            self.tell(ev["account"], record, "NORMAL", {})
            for pos in ev.get("closed", []):
                self.positions[(ev["account"], pos["symbol"])] = Position()
                ins = ("insurance", pos["symbol"])
                self.positions[ins], _ = apply_fill(self.positions.get(ins, Position()), Decimal(pos["qty"]), Decimal(pos["price"]))
        elif kind in ("halt", "resume"):
            self.halts.append({"type": kind, "time": record.get("time"), "reason": ev.get("reason"), "scope": ev.get("scope")})
        return None

    def tell(self, account: str, record: dict[str, Any], level: str, evaluation: dict[str, Any]) -> None:
        """The account's user-data stream gets the move, in the venue's ``riskLevelChange`` shape
        (``u`` uniMMR, ``s`` the level, ``eq`` equity, ``m`` maintenance, ``E`` ms)."""
        self.streams.setdefault(account, []).append({
            "e": "riskLevelChange", "E": round(1000 * float(record.get("time") or 0)), "s": level,
            "u": evaluation.get("unimmr"), "eq": evaluation.get("equity"), "m": evaluation.get("maintenance")})

    def _reduce(self, order: Order, qty: Decimal) -> None:
        if order.order_id in self.by_account.get(order.account, {}):
            self._rest(order, -1, qty)
        order.qty -= qty
        if order.qty <= 0:
            self.books[order.symbol].remove(order)
            self.orders.pop(order.order_id, None)
            self.by_account.get(order.account, {}).pop(order.order_id, None)


def cancel_event(order: Order, reason: str) -> dict[str, Any]:
    return {"type": "cancel", "order_id": order.order_id, "account": order.account, "symbol": order.symbol,
            "market": order.market, "qty": str(order.qty), "reason": reason}


def apply_fill(pos: Position, delta: Decimal, price: Decimal) -> tuple[Position, Decimal]:
    """New position after a fill of signed ``delta`` at ``price``, and the PnL it realizes."""
    if pos.qty == 0 or (pos.qty > 0) == (delta > 0):
        qty = pos.qty + delta
        entry = ((pos.qty * pos.entry_price + delta * price) / qty).quantize(Decimal("0.00000001"), ROUND_DOWN)
        return Position(qty, entry), Decimal(0)
    closed = min(abs(delta), abs(pos.qty))
    realized = closed * (price - pos.entry_price) * (1 if pos.qty > 0 else -1)
    qty = pos.qty + delta
    if qty == 0:
        return Position(), realized
    if (qty > 0) == (pos.qty > 0):
        return Position(qty, pos.entry_price), realized
    return Position(qty, price), realized  # flipped: the rest opens at the fill price
