"""Auth: API key -> account. The gateway asks on every request it has not recently verified."""

from __future__ import annotations

import hmac

from aiohttp import web

from targets.umref.config import ServiceConfig
from targets.umref.service import ApiError, json_response, make_app, read_json

__all__ = ["build"]


async def build(cfg: ServiceConfig) -> web.Application:
    app = make_app(cfg)
    keys = {a.api_key: a.account for a in cfg.accounts}

    async def verify(request: web.Request) -> web.Response:
        body = await read_json(request)
        key = body.get("api_key")
        if not isinstance(key, str):
            raise ApiError(400, "BAD_REQUEST", "api_key required")
        # Constant-time comparison over every known key: no timing oracle on key prefixes.
        account = next((acct for known, acct in keys.items() if hmac.compare_digest(known, key)), None)
        if account is None:
            raise ApiError(401, "UNAUTHORIZED", "unknown API key")
        return json_response({"account": account})

    app.router.add_post("/verify", verify)
    return app
