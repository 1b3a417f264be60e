"""umref's services, one module each; ``switched_off`` is shared by those serving the audit.

A conformance fixture, not a bug switch: ``python -m targets.umref up --without-endpoint PATH``
serves an audit endpoint of the contract as 404, so that ``umchaos conformance`` can be shown to
fail naming the clause. It is read from the instance's own data folder (``WITHOUT_FILE``), which
only ``up`` writes: a topology the harness starts, with a fresh private folder, can never get it.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from targets.umref.config import ServiceConfig
from targets.umref.service import Handler

__all__ = ["AUDIT_ENDPOINTS", "WITHOUT_FILE", "switched_off"]

AUDIT_ENDPOINTS = ("/audit/halts", "/audit/books", "/audit/ledger", "/audit/balances", "/audit/discarded",
                   "/audit/replication")
WITHOUT_FILE = "without-endpoints.txt"  # in the data folder: one path per line


def switched_off(app: web.Application, cfg: ServiceConfig) -> web.Application:
    """``app``, answering 404 (as for a route it does not have) on the paths switched off."""
    try:
        off = frozenset(Path(cfg.data_dir, WITHOUT_FILE).read_text().split()) & set(AUDIT_ENDPOINTS)
    except FileNotFoundError:
        return app
    if off:
        @web.middleware
        async def not_served(request: web.Request, handler: Handler) -> web.StreamResponse:
            if request.path in off:
                raise web.HTTPNotFound()
            return await handler(request)

        app.middlewares.append(not_served)
    return app
