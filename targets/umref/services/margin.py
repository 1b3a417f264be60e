"""Margin: pre-trade initial-margin checks and uniMMR evaluations from fresh prices.

Prices are polled from the pricefeed every 100 ms. A source price is used only if it is within
the staleness bound of now, not older than the caller's ``min_price_time``, and within the
allowed deviation from the median of the fresh sources; with no usable price for an asset that
matters, margin refuses to judge (no decision on a price it cannot trust).
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
from collections import deque
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from aiohttp import web

from targets.umref import margin_model as mm
from targets.umref.builds import Build
from targets.umref.config import ServiceConfig
from targets.umref.money import ASSETS, UM_SYMBOLS, base_of, parse_decimal
from targets.umref.service import (
    ApiError,
    Clock,
    Peer,
    PeerTimeout,
    PeerUnavailable,
    json_response,
    make_app,
    read_json,
)

__all__ = ["build", "usable_price", "UsablePrice"]

STABLE = ("USDT", "USDC")
MISLABEL_LAG_S = 1.5  # the price_mislabel defect's price age: older than the staleness bound
HISTORY_POLLS = 60  # price polls kept for it (100 ms apart)


@dataclass(frozen=True)
class UsablePrice:
    asset: str
    price: Decimal
    time: float  # the oldest source time among those used
    sources: tuple[dict[str, Any], ...]

    def view(self) -> dict[str, Any]:
        return {"asset": self.asset, "price": str(self.price), "time": self.time, "sources": list(self.sources)}


def usable_price(asset: str, sources: list[dict[str, Any]], now: float, *, staleness_s: float,
                 max_deviation_pct: Decimal, min_time: float | None) -> UsablePrice | None:
    fresh = [s for s in sources if now - s["time"] <= staleness_s and (min_time is None or s["time"] >= min_time)]
    if not fresh:
        return None
    median = statistics.median(Decimal(s["price"]) for s in fresh)
    kept = [s for s in fresh if abs(Decimal(s["price"]) - median) * 100 <= max_deviation_pct * median]
    if not kept:
        return None
    price = statistics.median(Decimal(s["price"]) for s in kept)
    return UsablePrice(asset, Decimal(price).quantize(Decimal("0.01")), min(s["time"] for s in kept), tuple(kept))


class Margin:
    def __init__(self, cfg: ServiceConfig, clock: Clock, build: Build) -> None:
        self.cfg = cfg
        self.clock = clock
        self.pricefeed = Peer(cfg.peers["pricefeed"], timeout_s=0.5)
        self.sources: dict[str, list[dict[str, Any]]] = {}
        self.history: deque[tuple[float, dict[str, list[dict[str, Any]]]]] = deque(maxlen=HISTORY_POLLS)
        self.max_dev = Decimal(cfg.risk.max_deviation_pct)
        self.build = build  # the app's (make_app): what /health reports is what runs
        self._task: asyncio.Task[None] | None = None

    async def start(self, _: web.Application) -> None:
        self._task = asyncio.create_task(self._poll())

    async def stop(self, _: web.Application) -> None:
        if self._task:
            self._task.cancel()
        await self.pricefeed.close()

    async def _poll(self) -> None:
        while True:
            with contextlib.suppress(PeerUnavailable, PeerTimeout, KeyError, TypeError):
                status, body = await self.pricefeed.get("/prices")
                if status == 200:
                    for asset, entry in body["assets"].items():
                        self.sources[asset] = entry["sources"]
                    if self.cfg.has_bug("price_mislabel"):
                        self.history.append((self.clock.now(), dict(self.sources)))
            await asyncio.sleep(0.1)

    def mislabelled(self, asset: str) -> list[dict[str, Any]]:
        """The ``price_mislabel`` defect: the quotes of some 1.5 s ago (a lagging cache), stamped
        with the freshest quote's time, so that they pass every freshness test downstream."""
        fresh = self.sources.get(asset, [])
        newest = max((s["time"] for s in fresh), default=None)
        polled = self.clock.now() - MISLABEL_LAG_S
        old = next((snap for t, snap in reversed(self.history) if t <= polled), None)
        if newest is None or old is None or asset not in old:
            return fresh
        return [{**s, "time": newest} for s in old[asset]]

    def prices(self, assets: set[str], min_time: float | None, *, decision: bool = False,
               ) -> tuple[dict[str, Decimal], list[dict[str, Any]], list[str]]:
        """Usable index prices for ``assets`` (stablecoins at 1), their evidence, and what is missing.
        ``decision``: for a margin call or liquidation (what the price_mislabel defect distorts)."""
        now = self.clock.now()
        mislabel = decision and self.cfg.has_bug("price_mislabel")
        index: dict[str, Decimal] = {a: Decimal(1) for a in STABLE}
        used: list[dict[str, Any]] = []
        missing: list[str] = []
        for asset in sorted(assets - set(STABLE)):
            quotes = self.mislabelled(asset) if mislabel else self.sources.get(asset, [])
            price = usable_price(asset, quotes, now, staleness_s=self.cfg.risk.staleness_ms / 1000,
                                 max_deviation_pct=self.max_dev, min_time=min_time)
            if price is None:
                missing.append(asset)
            else:
                index[asset] = price.price
                used.append(price.view())
        return index, used, missing

    async def check(self, request: web.Request) -> web.Response:
        """One check, or ``{"batch": [...]}`` answered as ``{"results": [{"status", "body"}...]}``."""
        body = await read_json(request)
        await self.regression()
        if isinstance(body.get("batch"), list):
            results = []
            for item in body["batch"]:
                try:
                    results.append({"status": 200, "body": self.check_one(item if isinstance(item, dict) else {})})
                except ApiError as exc:
                    results.append({"status": exc.status, "body": {"error": {"code": exc.code, "message": exc.message}}})
            return json_response({"results": results})
        return json_response(self.check_one(body))

    async def regression(self) -> None:
        """What a build with a latency regression costs every check and evaluation."""
        if self.build.check_delay_ms:
            await asyncio.sleep(self.build.check_delay_ms / 1000)

    def check_one(self, body: dict[str, Any]) -> dict[str, Any]:
        if body.get("ping"):
            return {"ok": True}
        wallet, positions = parse_wallet(body.get("wallet")), parse_positions(body.get("positions"))
        orders = parse_orders(body.get("open_orders"))
        new = body.get("order")
        if new is not None:
            orders.append(parse_order(new, new_order=True))
        assets = {a for a in wallet} | {base_of(p.symbol) for p in positions} | {base_of(o.symbol) for o in orders}
        index, _, missing = self.prices(assets, None)
        if missing:
            raise ApiError(503, "PRICE_UNAVAILABLE", f"no usable price for {', '.join(missing)}")
        orders = [o if o.price > 0 else mm.OrderIn(o.symbol, o.qty, index[base_of(o.symbol)], o.leverage) for o in orders]
        equity = mm.adjusted_equity(wallet, positions, index)
        im = sum((mm.initial_margin(p.qty, index[base_of(p.symbol)], p.leverage) for p in positions), Decimal(0))
        im += sum((mm.initial_margin(o.qty, o.price, o.leverage) for o in orders), Decimal(0))
        ok = equity >= im
        ratio = mm.unimmr(wallet, positions, index)
        return {"ok": ok, "code": None if ok else "INSUFFICIENT_MARGIN", "equity": str(equity),
                "initial_margin": str(im), "unimmr": None if ratio is None else str(ratio)}

    async def evaluate(self, request: web.Request) -> web.Response:
        body = await read_json(request)
        await self.regression()
        account = body.get("account")
        if not isinstance(account, str):
            raise ApiError(400, "BAD_REQUEST", "account required")
        wallet, positions = parse_wallet(body.get("wallet")), parse_positions(body.get("positions"))
        min_time = body.get("min_price_time")
        if min_time is not None and not isinstance(min_time, (int, float)):
            raise ApiError(400, "BAD_REQUEST", "min_price_time must be a number or null")
        assets = {a for a in wallet} | {base_of(p.symbol) for p in positions}
        index, used, missing = self.prices(assets, min_time, decision=True)
        evaluation: dict[str, Any] = {
            "account": account, "time": self.clock.now(), "wallet": {a: str(v) for a, v in wallet.items()},
            "positions": [{"symbol": p.symbol, "qty": str(p.qty), "entry_price": str(p.entry_price), "leverage": p.leverage}
                          for p in positions],
            "prices": used, "missing_prices": missing, "version": self.build.version,
        }
        if missing:
            return json_response({**evaluation, "state": "unknown", "unimmr": None, "equity": None, "maintenance": None})
        ratio = mm.unimmr(wallet, positions, index)
        maintenance = sum((mm.maintenance_margin(p.symbol, p.qty, index[base_of(p.symbol)]) for p in positions), Decimal(0))
        table = mm.OLD_THRESHOLDS if self.cfg.has_bug("old_state_table") else mm.THRESHOLDS
        return json_response({**evaluation, "state": mm.risk_level(ratio, table), "unimmr": None if ratio is None else str(ratio),
                              "equity": str(mm.adjusted_equity(wallet, positions, index)), "maintenance": str(maintenance)})


def parse_wallet(raw: Any) -> dict[str, Decimal]:
    if not isinstance(raw, dict):
        raise ApiError(400, "BAD_REQUEST", "wallet must be an object of asset -> amount")
    unknown = set(raw) - set(ASSETS)
    if unknown:
        raise ApiError(400, "UNKNOWN_ASSET", f"unknown asset(s) {sorted(unknown)}")
    return {a: parse_decimal(v, "amount") for a, v in raw.items()}


def parse_positions(raw: Any) -> list[mm.PositionIn]:
    if not isinstance(raw, list):
        raise ApiError(400, "BAD_REQUEST", "positions must be a list")
    out = []
    for p in raw:
        if not isinstance(p, dict) or p.get("symbol") not in UM_SYMBOLS:
            raise ApiError(400, "UNKNOWN_SYMBOL", f"bad position {p!r}")
        out.append(mm.PositionIn(p["symbol"], parse_decimal(p.get("qty"), "qty"), parse_decimal(p.get("entry_price"), "price"),
                                 int(p.get("leverage", 10))))
    return out


def parse_order(raw: Any, *, new_order: bool = False) -> mm.OrderIn:
    """One order, or open orders summed per symbol and side (``notional`` = Σ qty·price)."""
    if not isinstance(raw, dict) or raw.get("symbol") not in UM_SYMBOLS:
        raise ApiError(400, "UNKNOWN_SYMBOL", f"bad order {raw!r}")
    qty = abs(parse_decimal(raw.get("qty"), "qty"))
    if not new_order and raw.get("notional") is not None and qty:
        price = parse_decimal(raw["notional"], "notional") / qty
    else:
        price = Decimal(0) if raw.get("price") is None else parse_decimal(raw["price"], "price")
    return mm.OrderIn(raw["symbol"], qty, price, int(raw.get("leverage", 10)))


def parse_orders(raw: Any) -> list[mm.OrderIn]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise ApiError(400, "BAD_REQUEST", "open_orders must be a list")
    return [parse_order(o) for o in raw]


async def build(cfg: ServiceConfig) -> web.Application:
    app = make_app(cfg)
    margin = Margin(cfg, app["clock"], app["build"])
    app.on_startup.append(margin.start)
    app.on_cleanup.append(margin.stop)
    app.router.add_post("/check", margin.check)
    app.router.add_post("/evaluate", margin.evaluate)
    app["metrics"].gauges["price_age_s"] = lambda: max(
        (app["clock"].now() - max((s["time"] for s in v), default=0.0) for v in margin.sources.values()), default=-1.0)
    return app
