"""Pricefeed: three sources per asset publishing the market's ticks, taken at its intake.

The market-data source (the harness, in a test) owns the price path: it posts each tick to
``POST /intake`` and ``GET /prices`` serves the last one, every source stamped with the tick's
time, so that a margin decision's input can be matched to the tick it came from. Until the
first tick arrives the feed drives its own seeded demo path, so a freshly started exchange has
prices; after it, never again: if the ticks stop, the prices go stale and margin refuses.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from aiohttp import web

from targets.umref.config import ServiceConfig
from targets.umref.money import parse_decimal
from targets.umref.prices import START_PRICE, PricePath, is_outlier, step_of_time
from targets.umref.service import ApiError, json_response, make_app, read_json

__all__ = ["build", "Tick", "parse_tick"]
SOURCES = ("s1", "s2", "s3")
OUTLIER = Decimal("1.05")
CENT = Decimal("0.01")


@dataclass(frozen=True)
class Tick:
    time: float
    prices: dict[str, Decimal]


def parse_tick(body: dict[str, Any]) -> Tick:
    """A market tick from the intake's body; 400 with the field at fault otherwise."""
    t = body.get("time")
    if isinstance(t, bool) or not isinstance(t, (int, float)) or not math.isfinite(t) or t <= 0:
        raise ApiError(400, "INVALID_TIME", "time must be the tick's epoch time in seconds (a number)")
    raw = body.get("prices")
    if not isinstance(raw, dict) or not raw:
        raise ApiError(400, "BAD_REQUEST", "prices must be a non-empty object of asset -> decimal string")
    if unknown := sorted(set(raw) - set(START_PRICE)):
        raise ApiError(400, "UNKNOWN_ASSET", f"unknown asset(s) {unknown}; known: {', '.join(START_PRICE)}")
    prices = {}
    for asset, value in raw.items():
        price = parse_decimal(value, "price")
        if price <= 0:
            raise ApiError(400, "INVALID_PRICE", f"{asset} price must be > 0")
        prices[asset] = price
    return Tick(float(t), prices)


def published(seed: int, asset: str, price: Decimal, t: float, step: int) -> list[dict[str, Any]]:
    """The three sources' quotes of one price; s3 is off by 5 % on a seeded ~2 % of steps."""
    s3 = (price * OUTLIER).quantize(CENT) if is_outlier(seed, asset, step) else price
    return [{"source": s, "time": t, "price": str(s3 if s == "s3" else price)} for s in SOURCES]


async def build(cfg: ServiceConfig) -> web.Application:
    state: dict[str, Any] = {"tick": None, "ticks": 0}
    app = make_app(cfg, health=lambda: {"mode": "demo" if state["tick"] is None else "intake",
                                        "ticks": state["ticks"]})
    clock = app["clock"]
    demo = PricePath(seed=cfg.price_seed, start=clock.now())

    async def prices(_: web.Request) -> web.Response:
        now = clock.now()
        tick: Tick | None = state["tick"]
        if tick is None:
            step = demo.step_of(now)
            assets = {a: {"sources": published(cfg.price_seed, a, demo.price_at(a, now), now, step)}
                      for a in START_PRICE}
        else:
            step = step_of_time(tick.time)
            assets = {a: {"sources": published(cfg.price_seed, a, p, tick.time, step)}
                      for a, p in tick.prices.items()}
        return json_response({"time": now, "mode": "demo" if tick is None else "intake", "assets": assets})

    async def intake(request: web.Request) -> web.Response:
        tick = parse_tick(await read_json(request))
        last: Tick | None = state["tick"]
        if last is not None and tick.time < last.time:  # overtaken on the way: a newer one is served
            return json_response({"accepted": False, "reason": f"older than the tick served ({last.time})"})
        state["tick"] = tick
        state["ticks"] += 1
        return json_response({"accepted": True})

    app.router.add_get("/prices", prices)
    app.router.add_post("/intake", intake)
    return app
