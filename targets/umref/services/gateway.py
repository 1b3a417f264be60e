"""Gateway: the public API. Authenticates every request (fail-closed), then routes it.

A verified key is cached for a short time so that auth is not on every request's path; an
unknown key is never cached. When auth cannot be reached the gateway refuses (503
AUTH_UNAVAILABLE) — unless the `fail_open_auth` bug trusts the account named in the key. The
public system status (``status_page``) needs no key.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any
from urllib.parse import quote

from aiohttp import web

from targets.umref import status_page
from targets.umref.config import ServiceConfig
from targets.umref.service import (
    ApiError,
    Clock,
    Peer,
    PeerTimeout,
    PeerUnavailable,
    json_response,
    make_app,
)

__all__ = ["build"]

KEY_CACHE_S = 1.0
# public path -> matching's path (the market of an order is fixed by the public path)
WRITES = {
    "/um/order": "/order?market=um",
    "/um/cancel": "/cancel",
    "/um/leverage": "/leverage",
    "/transfer": "/transfer",
    "/spot/order": "/order?market=spot",
}
AUDIT_OWNERS = {
    "halts": "matching", "books": "matching", "replication": "coordinator",
    "orders": "ledger", "trades": "ledger", "ledger": "ledger", "balances": "ledger",
    "risk-levels": "ledger", "liquidations": "ledger",
}


class Gateway:
    def __init__(self, cfg: ServiceConfig, clock: Clock) -> None:
        self.cfg = cfg
        self.auth = Peer(cfg.peers["auth"], timeout_s=1.0)
        self.matching = Peer(cfg.peers["matching"], timeout_s=5.0)
        # its own connection, with a short timeout: a read stuck on matching holds the page back no longer
        self.status = status_page.StatusPage(Peer(cfg.peers["matching"], timeout_s=2 * status_page.REFRESH_S), clock,
                                             stale=cfg.has_bug("stale_status"))
        self.ledgers = [Peer(cfg.peers[n], timeout_s=5.0) for n in ("ledger-a", "ledger-b")]
        self.verified: dict[str, tuple[str, float]] = {}

    async def account_of(self, request: web.Request) -> str:
        key = request.headers.get("X-API-Key", "")
        if not key:
            raise ApiError(401, "UNAUTHORIZED", "X-API-Key header required")
        cached = self.verified.get(key)
        now = time.monotonic()
        if cached and now - cached[1] < KEY_CACHE_S:
            return cached[0]
        try:
            status, body = await self.auth.post("/verify", {"api_key": key})
        except (PeerUnavailable, PeerTimeout):
            if self.cfg.has_bug("fail_open_auth") and key.count("-") >= 2:
                return key.split("-")[1]  # trusts the account embedded in the key, unverified
            raise ApiError(503, "AUTH_UNAVAILABLE", "cannot verify the API key now") from None
        if status == 401:
            raise ApiError(401, "UNAUTHORIZED", "invalid API key")
        if status != 200 or not isinstance(body, dict) or "account" not in body:
            raise ApiError(503, "AUTH_UNAVAILABLE", f"auth answered {status}")
        self.verified[key] = (body["account"], now)
        return str(body["account"])

    async def write(self, request: web.Request) -> web.Response:
        """Authenticate, then pass the body through: the key decides the account, never the body."""
        account = await self.account_of(request)
        public = request.match_info.route.resource.canonical  # type: ignore[union-attr]
        status, raw = await self.matching.exchange("POST", WRITES[public], await request.read(),
                                                  {"Content-Type": "application/json", "X-Account": account})
        return web.Response(body=raw, status=status, content_type="application/json")

    async def account(self, request: web.Request) -> web.Response:
        account = await self.account_of(request)
        status, answer = await self.matching.get(f"/account/{account}")
        return json_response(answer, status)

    async def user_stream(self, request: web.Request) -> web.Response:
        """The key's account's user-data stream (``riskLevelChange`` events) from ``after`` on."""
        account = await self.account_of(request)
        after = request.query.get("after", "0")
        status, answer = await self.matching.get(f"/internal/stream/{quote(account)}?after={quote(after)}")
        return json_response(answer, status)

    async def system_status(self, _: web.Request) -> web.Response:
        """The public status page: no key needed (users read it when nothing else answers)."""
        return json_response(self.status.current())

    async def market(self, _: web.Request) -> web.Response:
        status, answer = await self.matching.get("/market")
        return json_response(answer, status)

    async def audit(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        owner = AUDIT_OWNERS.get(name)
        if owner is None:
            raise ApiError(404, "NOT_FOUND", f"no audit view {name!r}; known: {', '.join(sorted(AUDIT_OWNERS))}")
        if owner == "ledger":
            return await self.from_any_ledger(f"/audit/{name}")
        peer = self.matching if owner == "matching" else Peer(self.cfg.peers.get(owner, ""), timeout_s=5.0)
        status, answer = await peer.get(f"/audit/{name}")
        return json_response(answer, status)

    async def from_any_ledger(self, path: str) -> web.Response:
        last: Any = None
        for peer in self.ledgers:
            try:
                status, answer = await peer.get(path)
                return json_response(answer, status)
            except (PeerUnavailable, PeerTimeout) as exc:
                last = exc
        raise ApiError(503, "UPSTREAM_UNAVAILABLE", f"no ledger node answered: {last}")


async def build(cfg: ServiceConfig) -> web.Application:
    app = make_app(cfg)
    gw = Gateway(cfg, app["clock"])
    for public in WRITES:
        app.router.add_post(public, gw.write)
    app.router.add_get("/account", gw.account)
    app.router.add_get("/um/user-stream", gw.user_stream)
    app.router.add_get("/market", gw.market)
    app.router.add_get("/audit/{name}", gw.audit)
    app.router.add_get(status_page.PATH, gw.system_status)
    refreshing: list[asyncio.Task[None]] = []

    async def start(_: web.Application) -> None:
        refreshing.append(asyncio.create_task(gw.status.run()))

    async def close(_: web.Application) -> None:
        for task in refreshing:
            task.cancel()
        for peer in (gw.auth, gw.matching, gw.status.matching, *gw.ledgers):
            await peer.close()

    app.on_startup.append(start)
    app.on_cleanup.append(close)
    return app
