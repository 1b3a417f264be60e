"""The Toxiproxy layer against the real server and a real upstream on loopback."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from harness.backends.go_tools import install_toxiproxy
from harness.faults.network import ProxyNet, ToxiproxyError, ToxiproxyServer

pytestmark = pytest.mark.integration


class Hello(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *_: object) -> None:
        return None


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Hello)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture
def server(tmp_path) -> Iterator[ToxiproxyServer]:
    with ToxiproxyServer(install_toxiproxy(), run_id="t1", log_path=tmp_path / "toxiproxy.log") as srv:
        yield srv


def timed_get(url: str, timeout: float = 5.0) -> float:
    started = time.monotonic()
    assert requests.get(url, timeout=timeout).text == "ok"
    return time.monotonic() - started


def test_latency_toxic_delays_and_heals(server: ToxiproxyServer, upstream: str) -> None:
    net = ProxyNet(server.url, run_id="runA")
    proxy = net.create_proxy("matching->margin", upstream)
    url = f"http://{proxy.listen}/"
    # a delay far above what a busy machine adds to a loopback GET, so that the bounds cannot be flaky
    assert timed_get(url) < 0.8
    toxic = net.add_toxic("matching->margin", "latency", {"latency": 1000, "jitter": 0})
    assert [t["name"] for t in net.toxics("matching->margin")] == [toxic]
    assert timed_get(url) >= 1.0
    net.remove_toxic("matching->margin", toxic)
    net.remove_toxic("matching->margin", toxic)  # idempotent
    assert timed_get(url) < 0.8


def test_timeout_toxic_black_holes(server: ToxiproxyServer, upstream: str) -> None:
    net = ProxyNet(server.url, run_id="runB")
    proxy = net.create_proxy("gateway->auth", upstream)
    net.add_toxic("gateway->auth", "timeout", {"timeout": 0}, stream="upstream")
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.get(f"http://{proxy.listen}/", timeout=0.5)


def test_disabled_link_refuses_connections(server: ToxiproxyServer, upstream: str) -> None:
    net = ProxyNet(server.url, run_id="runC")
    proxy = net.create_proxy("margin->pricefeed", upstream)
    net.set_enabled("margin->pricefeed", False)
    host, port = proxy.listen.split(":")
    with pytest.raises(OSError), socket.create_connection((host, int(port)), timeout=1) as conn:
        conn.sendall(b"GET / HTTP/1.0\r\n\r\n")
        assert conn.recv(10) == b""
        raise ConnectionRefusedError
    net.set_enabled("margin->pricefeed", True)
    assert timed_get(f"http://{proxy.listen}/") < 1


def test_runs_do_not_see_or_delete_each_other(server: ToxiproxyServer, upstream: str) -> None:
    a, b = ProxyNet(server.url, run_id="runD"), ProxyNet(server.url, run_id="runE")
    a.create_proxy("gateway->matching", upstream)
    b.create_proxy("gateway->matching", upstream)
    a.destroy_all()
    assert list(a.proxies()) == []
    assert list(b.proxies()) == ["runE__gateway_to_matching"]


def test_two_servers_at_once(tmp_path, upstream: str) -> None:
    with ToxiproxyServer(install_toxiproxy(), run_id="x") as one, ToxiproxyServer(install_toxiproxy(), run_id="y") as two:
        p1 = ProxyNet(one.url, run_id="r1").create_proxy("gateway->auth", upstream)
        p2 = ProxyNet(two.url, run_id="r2").create_proxy("gateway->auth", upstream)
        assert timed_get(f"http://{p1.listen}/") < 1 and timed_get(f"http://{p2.listen}/") < 1


def test_dead_server_is_a_clear_error_and_stop_leaves_nothing(tmp_path) -> None:
    srv = ToxiproxyServer(install_toxiproxy(), run_id="z").start()
    pid = srv.pid
    srv.stop()
    srv.stop()  # idempotent
    with pytest.raises(ProcessLookupError):
        import os
        os.kill(pid, 0)
    with pytest.raises(ToxiproxyError, match="unreachable"):
        ProxyNet(srv.url, run_id="z", timeout_s=0.5).proxies()
