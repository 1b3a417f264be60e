"""Witness (region C): the third place a promotion needs, so that a partition between A and B
never leaves both trading.

It keeps one fact, serialised: which ledger is primary at which epoch, whether the standby has
everything the primary acknowledged (``in_sync``), and the primary's lease. The primary renews
its lease a few times a second and asks here before it acknowledges writes its standby has not
confirmed (``/solo``: the standby is then out of sync and cannot be promoted). A promotion
(``/claim``) is granted only when the lease has run out and the claimant is in sync. Leases are
durations on each side's monotonic clock, never wall times compared across processes: the
primary counts its lease from before it asked, the witness from when it heard.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

from aiohttp import web

from targets.umref.config import ServiceConfig
from targets.umref.service import ApiError, json_response, make_app, read_json

__all__ = ["build", "LEASE_S"]

log = logging.getLogger("umref.witness")
LEASE_S = 1.0


class Witness:
    def __init__(self, cfg: ServiceConfig) -> None:
        self.path = Path(cfg.data_dir) / "witness.json"
        saved = json.loads(self.path.read_text()) if self.path.exists() else {}
        self.epoch: int = saved.get("epoch", 1)
        self.primary: str = saved.get("primary", "ledger-a")
        self.in_sync: bool = saved.get("in_sync", True)
        self.grants: list[dict[str, Any]] = saved.get("grants", [])
        self.lease_until = time.monotonic() + LEASE_S  # a (re)started witness waits out a lease it may have given

    def save(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"epoch": self.epoch, "primary": self.primary, "in_sync": self.in_sync,
                                   "grants": self.grants}))
        tmp.replace(self.path)

    def state(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "primary": self.primary, "in_sync": self.in_sync,
                "lease_left_s": round(max(0.0, self.lease_until - time.monotonic()), 3), "grants": self.grants}

    def holder(self, body: dict[str, Any]) -> None:
        """Only the primary at the current epoch may renew or change its standby's standing."""
        if body.get("node") != self.primary or body.get("epoch") != self.epoch:
            raise ApiError(409, "FENCED", f"{self.primary} is primary at epoch {self.epoch}")

    def renew(self, body: dict[str, Any]) -> dict[str, Any]:
        self.holder(body)
        self.lease_until = time.monotonic() + LEASE_S
        return {"epoch": self.epoch, "lease_s": LEASE_S}

    def standing(self, body: dict[str, Any], in_sync: bool) -> dict[str, Any]:
        self.holder(body)
        if self.in_sync != in_sync:
            self.in_sync = in_sync
            self.save()
            log.warning("standby of %s is %s", self.primary, "in sync" if in_sync else "behind: not promotable")
        return self.state()

    def claim(self, body: dict[str, Any]) -> dict[str, Any]:
        node, epoch = body.get("node"), body.get("epoch")
        if epoch != self.epoch + 1 or node == self.primary:
            raise ApiError(409, "FENCED", f"{self.primary} is primary at epoch {self.epoch}")
        if (left := self.lease_until - time.monotonic()) > 0:
            raise ApiError(409, "LEASE_HELD", f"{self.primary} holds its lease for {left:.3f} s more")
        if not self.in_sync:
            raise ApiError(409, "STANDBY_BEHIND", f"{node} lacks writes {self.primary} acknowledged alone")
        self.grants.append({"time": time.time(), "from": self.primary, "to": node, "epoch": epoch})
        self.epoch, self.primary, self.in_sync = int(epoch), str(node), False  # the new primary runs alone
        self.lease_until = time.monotonic() + LEASE_S
        self.save()
        log.warning("granted: %s primary at epoch %d", node, epoch)
        return self.state()


async def build(cfg: ServiceConfig) -> web.Application:
    app = make_app(cfg)
    witness = Witness(cfg)

    def handler(action: Any) -> Any:
        async def handle(request: web.Request) -> web.Response:
            return json_response(action(await read_json(request)))
        return handle

    app.router.add_post("/renew", handler(witness.renew))
    app.router.add_post("/solo", handler(lambda body: witness.standing(body, in_sync=False)))
    app.router.add_post("/synced", handler(lambda body: witness.standing(body, in_sync=True)))
    app.router.add_post("/claim", handler(witness.claim))

    async def state(_: web.Request) -> web.Response:
        return json_response(witness.state())

    app.router.add_get("/state", state)
    return app
