"""The Toxiproxy layer: one real ``toxiproxy-server`` per run, and a client for its HTTP API.

The client is explicit (its own server URL, its own session, a timeout on every call, bounded
retries on connection errors) so that several servers can be driven at once, and it only ever
sees and deletes proxies named with its own run id. Every change is read back from the server
before it is reported as done.
"""

from __future__ import annotations

import logging
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_fixed

from harness.errors import HarnessError
from harness.http import target_session
from harness.net import free_port
from harness.procs import stop_group

__all__ = ["ToxiproxyError", "FaultNotLanded", "ToxiproxyServer", "Proxy", "ProxyNet"]

log = logging.getLogger("umchaos.toxiproxy")


class ToxiproxyError(HarnessError):
    """The Toxiproxy server refused or did not answer; says which call."""


class FaultNotLanded(ToxiproxyError):
    """A change was accepted but the server does not list it."""


class ToxiproxyServer:
    """A real toxiproxy-server on a free loopback port, in its own process group."""

    def __init__(self, binary: Path, *, run_id: str, log_path: Path | None = None) -> None:
        self.binary = binary
        self.run_id = run_id
        self.log_path = log_path
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def start(self, *, ready_within_s: float = 10.0) -> ToxiproxyServer:
        out = self.log_path.open("ab") if self.log_path else subprocess.DEVNULL
        self.proc = subprocess.Popen([str(self.binary), "-host", "127.0.0.1", "-port", str(self.port)],
                                     stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True, env={**os.environ, "UMCHAOS_RUN_ID": self.run_id})
        if self.log_path:
            out.close()  # type: ignore[union-attr]
        deadline = time.monotonic() + ready_within_s
        with target_session() as http:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise ToxiproxyError(f"toxiproxy-server exited with {self.proc.returncode} at start (port {self.port})")
                try:
                    if http.get(self.url + "/version", timeout=0.5).ok:
                        return self
                except requests.RequestException:
                    time.sleep(0.01)
        self.stop()
        raise ToxiproxyError(f"toxiproxy-server did not answer on {self.url} within {ready_within_s:.0f} s")

    def stop(self) -> None:
        if self.proc is not None:
            stop_group(self.proc, grace_s=5)

    def __enter__(self) -> ToxiproxyServer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


@dataclass(frozen=True)
class Proxy:
    name: str
    listen: str  # "127.0.0.1:PORT"
    upstream: str


_retry = retry(retry=retry_if_exception_type(requests.ConnectionError), stop=stop_after_attempt(3),
               wait=wait_fixed(0.2), reraise=True)


class ProxyNet:
    """This run's proxies on one Toxiproxy server, by link name (``caller->callee``)."""

    def __init__(self, api_url: str, *, run_id: str, timeout_s: float = 2.0) -> None:
        self.api_url = api_url.rstrip("/")
        self.run_id = run_id
        self.timeout_s = timeout_s
        self.session = target_session()

    def proxy_name(self, link: str) -> str:
        return f"{self.run_id}__{link.replace('->', '_to_')}"

    @_retry
    def _call(self, method: str, path: str, body: Any = None, *, ok: tuple[int, ...] = (200, 201, 204)) -> Any:
        try:
            resp = self.session.request(method, self.api_url + path, json=body, timeout=self.timeout_s)
        except requests.Timeout:
            raise ToxiproxyError(f"toxiproxy {method} {path}: no answer within {self.timeout_s} s") from None
        if resp.status_code not in ok:
            raise ToxiproxyError(f"toxiproxy {method} {path}: HTTP {resp.status_code} {resp.text.strip()[:200]}")
        return resp.json() if resp.content else None

    def call(self, method: str, path: str, body: Any = None, **kw: Any) -> Any:
        try:
            return self._call(method, path, body, **kw)
        except requests.ConnectionError:
            raise ToxiproxyError(f"toxiproxy server {self.api_url} unreachable ({method} {path})") from None

    def create_proxy(self, link: str, upstream: str, *, listen: str = "127.0.0.1:0") -> Proxy:
        """``listen`` is the server's side: loopback for a local server, all interfaces in a container."""
        name = self.proxy_name(link)
        created = self.call("POST", "/proxies", {"name": name, "listen": listen, "upstream": upstream, "enabled": True})
        return Proxy(name, created["listen"], upstream)

    def proxies(self) -> dict[str, dict[str, Any]]:
        """Only this run's proxies, by name."""
        every: dict[str, dict[str, Any]] = self.call("GET", "/proxies")
        return {name: p for name, p in every.items() if name.startswith(self.run_id + "__")}

    def toxics(self, link: str) -> list[dict[str, Any]]:
        return list(self.call("GET", f"/proxies/{self.proxy_name(link)}/toxics"))

    def add_toxic(self, link: str, kind: str, attributes: dict[str, Any], *, stream: str = "downstream",
                  toxicity: float = 1.0, name: str | None = None) -> str:
        toxic = name or f"{self.run_id}__{kind}_{stream}"
        self.call("POST", f"/proxies/{self.proxy_name(link)}/toxics",
                  {"name": toxic, "type": kind, "stream": stream, "toxicity": toxicity, "attributes": attributes})
        if toxic not in {t["name"] for t in self.toxics(link)}:
            raise FaultNotLanded(f"toxic {toxic} on {link} accepted but not listed by the server")
        return toxic

    def remove_toxic(self, link: str, toxic: str) -> None:
        """Idempotent: a toxic (or proxy) already gone is fine."""
        self.call("DELETE", f"/proxies/{self.proxy_name(link)}/toxics/{toxic}", ok=(200, 204, 404))

    def set_enabled(self, link: str, enabled: bool) -> None:
        name = self.proxy_name(link)
        self.call("POST", f"/proxies/{name}", {"enabled": enabled})
        if self.call("GET", f"/proxies/{name}")["enabled"] is not enabled:
            raise FaultNotLanded(f"proxy {name} did not become {'enabled' if enabled else 'disabled'}")

    def reset(self) -> None:
        """Remove every toxic of this run's proxies and enable them (never touches other runs)."""
        for name, proxy in self.proxies().items():
            for toxic in proxy.get("toxics", []):
                self.call("DELETE", f"/proxies/{name}/toxics/{toxic['name']}", ok=(200, 204, 404))
            if not proxy.get("enabled", True):
                self.call("POST", f"/proxies/{name}", {"enabled": True})

    def destroy_all(self) -> None:
        for name in self.proxies():
            self.call("DELETE", f"/proxies/{name}", ok=(200, 204, 404))
