"""What every umref service shares: the aiohttp app with /health and /metrics, JSON errors,
a peer client with explicit timeouts, a skewable clock, and the process entry point.

Run one service: ``python -m targets.umref.service NAME CONFIG.json``.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import signal
import sys
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from aiohttp import web

from targets.umref.builds import build_of
from targets.umref.config import ServiceConfig

__all__ = [
    "ApiError",
    "Clock",
    "Peer",
    "PeerUnavailable",
    "PeerTimeout",
    "json_response",
    "read_json",
    "make_app",
    "main",
]

log = logging.getLogger("umref")
DRAIN_S = 5.0  # on SIGTERM, how long requests in flight may take to finish before the process exits


class ApiError(Exception):
    """An error answered to the client as ``{"error": {"code", "message"}}`` with an HTTP status."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


class PeerUnavailable(Exception):
    """The peer could not be reached: the request was definitely not processed by it."""


class PeerTimeout(Exception):
    """The peer did not answer in time: the request may or may not have been processed."""


@dataclass
class Clock:
    """Wall clock with an offset, so that the harness can skew one service's clock (mutable on
    purpose: the service's clock control changes the offset while it runs)."""

    offset_s: float = 0.0

    def now(self) -> float:
        return time.time() + self.offset_s


def json_response(body: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json")


async def read_json(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    try:
        body = orjson.loads(raw) if raw else {}
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, "MALFORMED_JSON", f"request body is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise ApiError(400, "MALFORMED_JSON", "request body must be a JSON object")
    return body


class Metrics:
    """Prometheus text metrics: request counts and latency sums per route and status."""

    def __init__(self, service: str) -> None:
        self.service = service
        self.requests: dict[tuple[str, int], int] = defaultdict(int)
        self.seconds: dict[str, float] = defaultdict(float)
        self.gauges: dict[str, Callable[[], float]] = {}

    def observe(self, route: str, status: int, seconds: float) -> None:
        self.requests[(route, status)] += 1
        self.seconds[route] += seconds

    def render(self) -> str:
        lines = [
            "# TYPE umref_requests_total counter",
            *(
                f'umref_requests_total{{service="{self.service}",route="{r}",status="{s}"}} {n}'
                for (r, s), n in sorted(self.requests.items())
            ),
            "# TYPE umref_request_seconds_sum counter",
            *(
                f'umref_request_seconds_sum{{service="{self.service}",route="{r}"}} {v:.6f}'
                for r, v in sorted(self.seconds.items())
            ),
        ]
        for name, read in sorted(self.gauges.items()):
            lines += [f"# TYPE umref_{name} gauge", f'umref_{name}{{service="{self.service}"}} {read()}']
        return "\n".join(lines) + "\n"


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def make_app(cfg: ServiceConfig, health: Callable[[], dict[str, Any]] | None = None) -> web.Application:
    """The app every service starts from: errors as JSON, metrics, health."""
    metrics = Metrics(cfg.name)

    @web.middleware
    async def errors_and_metrics(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.perf_counter()
        route = request.match_info.route.resource.canonical if request.match_info.route.resource else "?"
        try:
            response = await handler(request)
        except ApiError as exc:
            response = json_response({"error": {"code": exc.code, "message": exc.message}}, exc.status)
        except web.HTTPException as exc:
            response = json_response({"error": {"code": exc.reason.upper().replace(" ", "_"), "message": exc.text or exc.reason}}, exc.status)
        except (PeerUnavailable, PeerTimeout) as exc:
            timeout = isinstance(exc, PeerTimeout)
            code = "UPSTREAM_TIMEOUT" if timeout else "UPSTREAM_UNAVAILABLE"
            response = json_response({"error": {"code": code, "message": str(exc)}}, 504 if timeout else 503)
        except Exception as exc:  # a bug in the service: answer 500, keep serving
            log.exception("unhandled error in %s", route)
            response = json_response({"error": {"code": "INTERNAL", "message": repr(exc)}}, 500)
        metrics.observe(route, response.status, time.perf_counter() - started)
        return response

    app = web.Application(middlewares=[errors_and_metrics], client_max_size=1 << 20)
    app["cfg"] = cfg
    app["metrics"] = metrics
    app["clock"] = Clock(cfg.clock_offset_ms / 1000)
    app["build"] = build_of(cfg.name, cfg.build)
    version = app["build"].version

    async def health_handler(_: web.Request) -> web.Response:
        return json_response({"service": cfg.name, "status": "ok", "version": version, **(health() if health else {})})

    async def metrics_handler(_: web.Request) -> web.Response:
        return web.Response(text=metrics.render(), content_type="text/plain")

    async def clock_handler(request: web.Request) -> web.Response:
        """The node's clock control: its processes share the host's kernel clock, so a skewed node
        is a node whose clock reads ``offset_ms`` ahead (or behind, if negative) of the host's."""
        clock: Clock = app["clock"]
        if request.method == "POST":
            offset = (await read_json(request)).get("offset_ms")
            if isinstance(offset, bool) or not isinstance(offset, (int, float)) or abs(offset) > 3_600_000:
                raise ApiError(400, "BAD_REQUEST", "offset_ms must be a number of milliseconds within ±1 h")
            clock.offset_s = offset / 1000
        return json_response({"offset_ms": round(clock.offset_s * 1000, 3), "now": clock.now()})

    app.router.add_get("/health", health_handler)
    app.router.add_get("/metrics", metrics_handler)
    app.router.add_route("*", "/admin/clock", clock_handler)
    return app


class Peer:
    """HTTP/JSON client to one peer, with a keep-alive pool and an explicit timeout per call.

    Connection refused/reset before sending means ``PeerUnavailable`` (not processed);
    a timeout or a reset after sending means ``PeerTimeout`` (outcome unknown).
    """

    def __init__(self, base_url: str, *, timeout_s: float = 2.0, limit: int = 64) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self._limit = limit
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                # no DNS cache: a released service's new container takes over its name (docker), and
                # a connection opened after the swap must find it, not the drained one's address
                connector=aiohttp.TCPConnector(limit=self._limit, force_close=False, use_dns_cache=False),
                json_serialize=lambda o: orjson.dumps(o).decode(),
            )
        return self._session

    async def exchange(self, method: str, path: str, data: bytes | None, headers: dict[str, str],
                       timeout_s: float | None = None) -> tuple[int, bytes]:
        """One HTTP exchange; transport failures become PeerUnavailable (not processed) or
        PeerTimeout (outcome unknown)."""
        timeout = aiohttp.ClientTimeout(total=timeout_s or self.timeout_s)
        try:
            async with self._client().request(method, self.base_url + path, data=data, headers=headers, timeout=timeout) as resp:
                return resp.status, await resp.read()
        except (aiohttp.ClientConnectorError, ConnectionRefusedError) as exc:
            raise PeerUnavailable(f"{self.base_url}{path}: {exc.__class__.__name__}") from None
        except TimeoutError:
            raise PeerTimeout(f"{self.base_url}{path}: no answer within {timeout.total}s") from None
        except (aiohttp.ClientError, OSError) as exc:
            raise PeerTimeout(f"{self.base_url}{path}: {exc.__class__.__name__}") from None

    async def call(self, method: str, path: str, body: Any = None, *, timeout_s: float | None = None,
                   headers: dict[str, str] | None = None) -> tuple[int, Any]:
        """JSON in, JSON out; a garbled answer counts as an unknown outcome."""
        data = orjson.dumps(body) if body is not None else None
        status, raw = await self.exchange(method, path, data, {"Content-Type": "application/json", **(headers or {})},
                                          timeout_s)
        try:
            return status, orjson.loads(raw) if raw else None
        except orjson.JSONDecodeError:
            raise PeerTimeout(f"{self.base_url}{path}: garbled answer") from None

    async def get(self, path: str, **kw: Any) -> tuple[int, Any]:
        return await self.call("GET", path, **kw)

    async def post(self, path: str, body: Any, **kw: Any) -> tuple[int, Any]:
        return await self.call("POST", path, body, **kw)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


async def _serve(cfg: ServiceConfig) -> None:
    module = importlib.import_module(f"targets.umref.services.{cfg.name.split('-')[0]}")
    app: web.Application = await module.build(cfg)
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=DRAIN_S)
    await runner.setup()
    # reuse_port: a release's new process binds the port while this one still serves (deployer.py)
    site = web.TCPSite(runner, cfg.host, cfg.port, reuse_address=True, reuse_port=True, backlog=1024)
    await site.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log.info("%s listening on %s:%d", cfg.name, cfg.host, cfg.port)
    await stop.wait()
    await runner.cleanup()  # drains: stops listening, lets requests in flight finish, then exits


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        raise SystemExit("usage: python -m targets.umref.service NAME CONFIG.json")
    cfg = ServiceConfig.read(Path(args[1]))
    logging.basicConfig(level=logging.INFO, format=f"%(asctime)s {cfg.name} %(levelname)s %(message)s")
    import uvloop

    uvloop.run(_serve(cfg))


if __name__ == "__main__":
    main()
