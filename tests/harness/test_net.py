"""Ports and URLs the harness chooses: real sockets on both loopbacks, no mocks of the kernel."""

from __future__ import annotations

import socket

import pytest

from harness import net


@pytest.mark.parametrize(("host", "family"), [("127.0.0.1", socket.AF_INET), ("::1", socket.AF_INET6),
                                              ("localhost", None)])
def test_a_free_port_can_be_bound_on_either_loopback(host: str, family: socket.AddressFamily | None) -> None:
    port = net.free_port(host)
    family = family or socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)[0][0]
    with socket.socket(family) as s:
        s.bind((host, port))  # raises if the port was not free on that address family
        s.listen()
    low, high = map(int, open("/proc/sys/net/ipv4/ip_local_port_range").read().split())
    assert not low <= port <= high  # no client connection can take it before its service binds


def test_a_port_in_use_is_never_drawn(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        draw = net.random.SystemRandom.choice
        draws: list[int] = []

        def busy_twice_then_random(self: net.random.SystemRandom, seq: range) -> int:
            draws.append(busy if len(draws) < 2 else draw(self, seq))
            return draws[-1]

        monkeypatch.setattr(net.random.SystemRandom, "choice", busy_twice_then_random)
        port = net.free_port("127.0.0.1")
    assert port != busy and draws[:2] == [busy, busy] and len(draws) >= 3


def test_free_ports_are_different_even_when_draws_repeat(monkeypatch: pytest.MonkeyPatch) -> None:
    draws = iter([20780, 20780, *range(30000, 30100)])
    monkeypatch.setattr(net, "free_port", lambda host="127.0.0.1": next(draws))
    ports = net.free_ports(9)
    assert len(set(ports)) == 9 and ports[0] == 20780


def test_a_crowded_range_asks_the_kernel_after_a_bounded_number_of_draws(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        monkeypatch.setattr(net, "_listening_range", lambda: range(busy, busy + 1))  # only a taken port
        draws = []
        monkeypatch.setattr(net.random.SystemRandom, "choice", lambda self, seq: draws.append(1) or seq[0])
        port = net.free_port("127.0.0.1")
    assert len(draws) == net.DRAWS and port != busy and 0 < port < 65_536


@pytest.mark.parametrize(("host", "url"), [("127.0.0.1", "http://127.0.0.1:8080"), ("::1", "http://[::1]:8080"),
                                           ("localhost", "http://localhost:8080")])
def test_urls_bracket_ipv6(host: str, url: str) -> None:
    assert net.base_url(host, 8080) == url
