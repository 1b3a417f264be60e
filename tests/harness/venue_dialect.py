"""A venue whose client API is not the harness's: the proof that the load and the probes speak a
target's wire only through its ``ClientApi``.

Two halves of one dialect, in the style of a large crypto venue: parameters in the query string,
the key in ``X-MBX-APIKEY``, cancels as ``DELETE``, answers as ``{"orderId", "status",
"executedQty"}`` and refusals as ``{"code": -NNNN, "msg"}``.

- ``VenueClient``: the adapter a platform team would write (``client:`` in a topology file).
- the gateway: ``python -m tests.harness.venue_dialect PORT UPSTREAM`` serves the dialect on
  127.0.0.1:PORT by translating each request to umref's gateway at UPSTREAM, and counts what it
  served (``GET /served``). It stands where a venue's own API would: umref's gateway is never
  reached by the harness's clients directly.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from harness.targets.base import ClientRequest

# the venue's refusal numbers and the harness's codes (history.NOT_APPLIED_CODES and the rest)
CODES = {-3008: "UM_HALTED", -1002: "UNAUTHORIZED", -1003: "AUTH_UNAVAILABLE", -1007: "UPSTREAM_UNAVAILABLE",
         -3009: "NOT_PRIMARY", -3010: "PRICE_UNAVAILABLE", -3011: "JOURNAL_UNAVAILABLE", -2010: "REJECTED"}
NUMBERS = {code: number for number, code in CODES.items()}
SPOT = {"BTC/USDT": "BTCUSDT"}  # the venue names spot pairs without the slash
ORDER_FIELDS = {"symbol": "symbol", "side": "side", "type": "type", "qty": "quantity", "price": "price"}


class VenueClient:
    """The harness's client model over the venue's dialect."""

    def request(self, action: str, fields: Mapping[str, Any], api_key: str) -> ClientRequest:
        headers = {"X-MBX-APIKEY": api_key}
        query: dict[str, Any] = {"newClientOrderId": fields["client_id"]}
        if action in ("um_order", "spot_order"):
            query |= {ORDER_FIELDS[k]: fields[k] for k in ORDER_FIELDS if k in fields}
            if action == "spot_order":
                query["symbol"] = SPOT.get(str(fields["symbol"]), fields["symbol"])
            path, method = ("/fapi/v1/order" if action == "um_order" else "/api/v3/order"), "POST"
        elif action == "cancel":
            path, method, query = "/fapi/v1/order", "DELETE", query | {"orderId": fields["order_id"]}
        elif action == "leverage":
            path, method = "/fapi/v1/leverage", "POST"
            query |= {"symbol": fields["symbol"], "leverage": fields["leverage"]}
        elif action == "transfer":
            path, method = "/sapi/v1/asset/transfer", "POST"
            kind = "MAIN_UMFUTURE" if (fields["from"], fields["to"]) == ("spot", "um") else "UMFUTURE_MAIN"
            query |= {"type": kind, "asset": fields["asset"], "amount": fields["amount"]}
        else:
            raise ValueError(f"no such client action: {action}")
        return ClientRequest(method, f"{path}?{urlencode(query)}", headers)

    def answer(self, action: str, status: int | None, body: Any) -> tuple[int | None, Any]:
        if not isinstance(body, dict):
            return status, body
        if "code" in body and "msg" in body:
            return status, {"error": {"code": CODES.get(int(body["code"]), f"VENUE_{body['code']}"),
                                      "message": body["msg"]}}
        if "orderId" in body:
            return status, {"order_id": body["orderId"], "status": body.get("status"),
                            "filled_qty": body.get("executedQty", "0")}
        return status, body

    def marks_request(self) -> ClientRequest:
        return ClientRequest("GET", "/fapi/v1/premiumIndex", {})

    def marks(self, body: Any) -> Mapping[str, str]:
        return {e["symbol"]: e["markPrice"] for e in body if isinstance(e, dict)} if isinstance(body, list) else {}


# ---- the venue's gateway, in front of umref's ---------------------------------------------------

def serve(port: int, upstream: str) -> None:
    from aiohttp import ClientSession, ClientTimeout, web

    served: Counter[str] = Counter()
    UMREF = {("POST", "/fapi/v1/order"): "/um/order", ("DELETE", "/fapi/v1/order"): "/um/cancel",
             ("POST", "/fapi/v1/leverage"): "/um/leverage", ("POST", "/sapi/v1/asset/transfer"): "/transfer",
             ("POST", "/api/v3/order"): "/spot/order"}

    def body_of(route: str, q: Mapping[str, str]) -> dict[str, Any]:
        body: dict[str, Any] = {"client_id": q.get("newClientOrderId", "")}
        if route in ("/um/order", "/spot/order"):
            body |= {mine: q[theirs] for mine, theirs in ORDER_FIELDS.items() if theirs in q}
            if route == "/spot/order":
                body["symbol"] = {v: k for k, v in SPOT.items()}.get(q["symbol"], q["symbol"])
        elif route == "/um/cancel":
            body["order_id"] = q.get("orderId", "")
        elif route == "/um/leverage":
            body |= {"symbol": q.get("symbol"), "leverage": int(q.get("leverage", "0"))}
        else:
            into = q.get("type") == "MAIN_UMFUTURE"
            body |= {"asset": q.get("asset"), "amount": q.get("amount"),
                     "from": "spot" if into else "um", "to": "um" if into else "spot"}
        return body

    async def translate(request: web.Request) -> web.Response:
        route = UMREF.get((request.method, request.path))
        if route is None:
            return web.json_response({"code": -1100, "msg": "unknown endpoint"}, status=404)
        served[request.path] += 1
        session: ClientSession = request.app["session"]
        async with session.post(upstream + route, json=body_of(route, request.query),
                                headers={"X-API-Key": request.headers.get("X-MBX-APIKEY", "")}) as resp:
            answer = await resp.json(content_type=None)
            status = resp.status
        if isinstance(answer, dict) and isinstance(answer.get("error"), dict):
            code = str(answer["error"].get("code"))
            return web.json_response({"code": NUMBERS.get(code, -9999), "msg": code}, status=status)
        if isinstance(answer, dict) and "order_id" in answer:
            answer = {"orderId": answer["order_id"], "status": answer.get("status"),
                      "executedQty": answer.get("filled_qty", "0"), "clientOrderId": request.query.get("newClientOrderId")}
        return web.json_response(answer, status=status)

    async def marks(request: web.Request) -> web.Response:
        served[request.path] += 1
        async with request.app["session"].get(upstream + "/market") as resp:
            symbols = (await resp.json()).get("symbols", {})
        return web.json_response([{"symbol": s, "markPrice": v["mark"]} for s, v in symbols.items()])

    async def health(request: web.Request) -> web.Response:
        async with request.app["session"].get(upstream + "/health") as resp:
            return web.json_response(await resp.json(content_type=None), status=resp.status)

    async def count(_: web.Request) -> web.Response:
        return web.json_response(dict(served))

    async def session(app: web.Application) -> Any:
        app["session"] = ClientSession(timeout=ClientTimeout(total=10))
        yield
        await app["session"].close()

    app = web.Application()
    app.cleanup_ctx.append(session)
    app.router.add_get("/health", health)
    app.router.add_get("/served", count)
    app.router.add_get("/fapi/v1/premiumIndex", marks)
    app.router.add_route("*", "/{tail:.*}", translate)
    web.run_app(app, host="127.0.0.1", port=port, print=None)


if __name__ == "__main__":
    serve(int(sys.argv[1]), sys.argv[2].rstrip("/"))
