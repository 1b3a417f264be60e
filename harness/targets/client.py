"""The client actions the load and the probes take, and how they go over a target's wire.

The harness speaks one client model: an action (``ACTIONS``) with the fields the checks read
(symbol, side, qty, price, order_id, asset, amount, from, to, leverage), and an answer as an HTTP
status plus ``{"order_id", "status", "filled_qty"}`` or ``{"error": {"code"}}`` with the codes of
``harness.history``. A ``ClientApi`` (Jepsen's *client*) turns one into the target's request and
the target's answer back into the model, so the history and the checks never see a target's
wire. ``StandardClient`` is the harness's own client API (docs/client-api.md): a target that
serves it, as umref does, needs no adapter; any other names its adapter as ``module:attr``
(``TargetSystem.client_api``, or ``client:`` in a topology file).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from harness.errors import BadInput
from harness.targets.base import PRODUCTS, STANDARD_CLIENT, ClientApi, ClientRequest

__all__ = ["ACTIONS", "STANDARD_CLIENT", "StandardClient", "load_client_api", "product_line"]

# action -> the fields it carries (besides client_id); the history's ``f`` of its ops
ACTIONS: Mapping[str, tuple[str, ...]] = {
    "um_order": ("symbol", "side", "type", "qty", "price"),
    "cancel": ("order_id",),
    "leverage": ("symbol", "leverage"),
    "transfer": ("asset", "amount", "from", "to"),
    "spot_order": ("symbol", "side", "type", "qty", "price"),
}


class StandardClient:
    """The harness's own client API: JSON POSTs on the gateway, the API key in ``X-API-Key``,
    answers already in the client model."""

    PATHS = {"um_order": "/um/order", "cancel": "/um/cancel", "leverage": "/um/leverage", "transfer": "/transfer",
             "spot_order": "/spot/order"}

    def request(self, action: str, fields: Mapping[str, Any], api_key: str) -> ClientRequest:
        return ClientRequest("POST", self.PATHS[action], {"X-API-Key": api_key}, dict(fields))

    def answer(self, action: str, status: int | None, body: Any) -> tuple[int | None, Any]:
        return status, body

    def marks_request(self) -> ClientRequest:
        return ClientRequest("GET", "/market", {})

    def marks(self, body: Any) -> Mapping[str, str]:
        symbols = body.get("symbols") if isinstance(body, dict) else None
        return {s: str(v["mark"]) for s, v in symbols.items() if isinstance(v, dict) and "mark" in v} \
            if isinstance(symbols, dict) else {}

    STATUS_PATH = "/sapi/v1/system/status"  # the venue's public system status, per product

    def status_request(self) -> ClientRequest:
        return ClientRequest("GET", self.STATUS_PATH, {})

    def status(self, body: Any) -> Mapping[str, Any] | None:
        products = body.get("products") if isinstance(body, dict) else None
        if not isinstance(products, dict):
            return None
        lines = {name: product_line(products.get(name)) for name in PRODUCTS}
        updated = body.get("updated")
        return {**lines, "updated": float(updated) if isinstance(updated, (int, float)) else None}


    def risk_stream_request(self, after: int, api_key: str) -> ClientRequest:
        return ClientRequest("GET", f"/um/user-stream?after={int(after)}", {"X-API-Key": api_key})

    def risk_stream(self, body: Any) -> tuple[list[Mapping[str, Any]], int] | None:
        events, cursor = (body.get("events"), body.get("next")) if isinstance(body, dict) else (None, None)
        if not isinstance(events, list) or not isinstance(cursor, int):
            return None
        return [{"level": e.get("s"), "time": e["E"] / 1000, "unimmr": e.get("u")} for e in events
                if isinstance(e, dict) and e.get("e") == "riskLevelChange" and isinstance(e.get("E"), (int, float))], cursor


def product_line(raw: Any) -> dict[str, Any] | None:
    """One product's line of a status page as the model has it; None when it says neither
    ``normal`` nor ``halted`` (a page that does not say is not taken to say either)."""
    if not isinstance(raw, dict) or raw.get("status") not in ("normal", "halted"):
        return None
    since, reason = raw.get("since"), raw.get("reason")
    return {"status": raw["status"], "since": float(since) if isinstance(since, (int, float)) else None,
            "reason": str(reason) if reason is not None else None}


def load_client_api(spec: str) -> ClientApi:
    """The adapter ``spec`` (``module:attr``, a class or an instance) names; one-line BadInput
    when it does not import or is no ``ClientApi``."""
    module_name, _, attr = spec.partition(":")
    try:
        found = getattr(importlib.import_module(module_name), attr) if attr else None
    except Exception as exc:  # noqa: BLE001 - a third party's module: say which, in one line
        raise BadInput(f"client API {spec!r} does not import: {exc.__class__.__name__}: {exc}") from None
    client = found() if isinstance(found, type) else found
    if not isinstance(client, ClientApi):
        raise BadInput(f"client API {spec!r} is not module:attr naming a ClientApi "
                       "(request, answer, marks_request, marks)")
    return client
