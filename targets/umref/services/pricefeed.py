"""Pricefeed: three sources per asset publishing the seeded true path; shocks on request."""

from __future__ import annotations

from decimal import Decimal

from aiohttp import web

from targets.umref.config import ServiceConfig
from targets.umref.money import parse_decimal
from targets.umref.prices import START_PRICE, STEP_S, PricePath, is_outlier
from targets.umref.service import ApiError, json_response, make_app, read_json

__all__ = ["build"]
SOURCES = ("s1", "s2", "s3")


async def build(cfg: ServiceConfig) -> web.Application:
    app = make_app(cfg)
    clock = app["clock"]
    path = PricePath(seed=cfg.price_seed, start=clock.now())

    async def prices(_: web.Request) -> web.Response:
        now = clock.now()
        assets = {}
        for asset in START_PRICE:
            true = path.price_at(asset, now)
            step = path.step_of(now)
            sources = [{"source": s, "time": now,
                        "price": str((true * Decimal("1.05")).quantize(Decimal("0.01")) if s == "s3" and is_outlier(cfg.price_seed, asset, step) else true)}
                       for s in SOURCES]
            assets[asset] = {"sources": sources}
        return json_response({"time": now, "assets": assets})

    async def shock(request: web.Request) -> web.Response:
        body = await read_json(request)
        asset = body.get("asset")
        if asset not in START_PRICE:
            raise ApiError(400, "UNKNOWN_ASSET", f"asset must be one of {', '.join(START_PRICE)}")
        move = parse_decimal(body.get("move_pct"), "move_pct")
        if not Decimal(-90) < move < Decimal(90):
            raise ApiError(400, "INVALID_MOVE_PCT", "move_pct must be between -90 and 90")
        applied = path.shock(asset, move, clock.now())
        return json_response({"time": applied.time, "asset": asset, "move_pct": str(move), "step": applied.step})

    async def audit(_: web.Request) -> web.Response:
        now = clock.now()
        return json_response({
            "step_s": STEP_S, "start": path.start, "seed": cfg.price_seed,
            "assets": {a: [[t, str(p)] for t, p in path.path(a, now)] for a in START_PRICE},
            "shocks": [{"asset": s.asset, "move_pct": str(s.move_pct), "time": s.time, "step": s.step} for s in path.shocks],
        })

    app.router.add_get("/prices", prices)
    app.router.add_post("/shock", shock)
    app.router.add_get("/audit/prices", audit)
    return app
