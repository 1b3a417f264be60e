"""The public system status, as the venue publishes it: per product, normal or halted, since
when and why.

The gateway serves it unauthenticated (``GET /sapi/v1/system/status``), learning it from its
region's matching engine (``GET /state``; the reason of a halt from ``/audit/halts``, once per
halt) every ``REFRESH_S``. A page carries the time it was read (``updated``); when matching
cannot be reached the last page read is served with its old ``updated``. A standby region's
engine is not the one trading: its gateway refuses the page as it refuses everything else
(503 ``NOT_ACTIVE``), and the client asks the next gateway. The ``stale_status`` defect serves the
page read ``STALE_S`` earlier (the oldest one kept, at first).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from typing import Any

from targets.umref.service import ApiError, Clock, Peer, PeerTimeout, PeerUnavailable

__all__ = ["PATH", "REFRESH_S", "STALE_S", "StatusPage", "page_of"]

PATH = "/sapi/v1/system/status"
REFRESH_S = 0.5
STALE_S = 60.0
PRODUCTS = ("um", "spot")
NOT_ACTIVE: dict[str, Any] = {}  # what a standby engine's state makes of the page: none to serve


def page_of(state: dict[str, Any], reason: str | None, updated: float) -> dict[str, Any]:
    """The page for matching's ``/state``: each product halted when the halt's scope holds it."""
    halted, scope = bool(state.get("halted")), state.get("scope") or []
    products = {}
    for name in PRODUCTS:
        down = halted and name in scope
        products[name] = {"status": "halted" if down else "normal",
                          "since": state.get("halted_since") if down else state.get("resumed_at") if name == "um" else None,
                          "reason": reason if down else None}
    down = any(p["status"] == "halted" for p in products.values())
    return {"status": 1 if down else 0, "msg": "system maintenance" if down else "normal", "updated": updated,
            "products": products}


class StatusPage:
    """The pages read from ``matching``, newest last; ``current`` is the one to serve."""

    def __init__(self, matching: Peer, clock: Clock, *, stale: bool) -> None:
        self.matching = matching
        self.clock = clock
        self.lag_s = STALE_S if stale else 0.0
        self.pages: deque[tuple[float, dict[str, Any]]] = deque(maxlen=int(self.lag_s / REFRESH_S) + 2)
        self.reasons: dict[float, str] = {}  # halted_since -> the halt's reason, as matching logged it

    async def refresh(self) -> None:
        """Read the state once; keep the last page when matching does not answer."""
        status, state = await self.matching.get("/state")
        if status != 200 or not isinstance(state, dict):
            return
        if not state.get("active", True):
            self.pages.append((time.monotonic(), NOT_ACTIVE))
            return
        since = state.get("halted_since")
        reason = None
        if state.get("halted") and isinstance(since, (int, float)):
            if since not in self.reasons:
                self.reasons = {since: await self.reason_of()}
            reason = self.reasons[since]
        self.pages.append((time.monotonic(), page_of(state, reason, self.clock.now())))

    async def reason_of(self) -> str:
        """Why UM halted: the reason of matching's last halt event."""
        status, answer = await self.matching.get("/audit/halts")
        events = answer.get("events") if status == 200 and isinstance(answer, dict) else None
        halts = [e for e in events or [] if isinstance(e, dict) and e.get("type") == "halt"]
        return str(halts[-1].get("reason") or "halted") if halts else "halted by the risk guard"

    async def run(self) -> None:
        """Refresh every REFRESH_S for as long as the gateway serves."""
        while True:
            with contextlib.suppress(PeerUnavailable, PeerTimeout):
                await self.refresh()
            await asyncio.sleep(REFRESH_S)

    def current(self) -> dict[str, Any]:
        """The page to serve now (with ``stale_status``, the one read ``STALE_S`` ago, or the oldest)."""
        if not self.pages:
            raise ApiError(503, "UPSTREAM_UNAVAILABLE", "the system status is not known yet")
        cut = time.monotonic() - self.lag_s
        page = next((p for at, p in reversed(self.pages) if at <= cut), self.pages[0][1])
        if page is NOT_ACTIVE:
            raise ApiError(503, "NOT_ACTIVE", "this region's stack is a standby: ask the other gateway")
        return page
