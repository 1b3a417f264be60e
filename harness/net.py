"""Loopback ports and URLs the harness chooses: for the target's services, its Toxiproxy, Locust.

Ports are drawn outside the kernel's ephemeral range, so that none of the many client connections
a load test opens can take a chosen port before its service binds it; two runs at once rarely
draw the same one, and a bind failure at start-up is retried with new ports by the backend. The
address family comes from the host (``::1`` is IPv6), and URLs bracket IPv6 addresses.
"""

from __future__ import annotations

import ipaddress
import random
import socket
from collections.abc import Collection
from pathlib import Path

__all__ = ["free_port", "free_ports", "base_url", "hostport"]

DRAWS = 200  # random draws before the kernel is asked: a crowded range must not spin


def _family(host: str) -> socket.AddressFamily:
    try:
        return socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET
    except ValueError:  # a name: what it resolves to first
        return socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)[0][0]


def _listening_range() -> range:
    """Ports the kernel never hands out as a connection's source port (outside
    ip_local_port_range)."""
    try:
        low, high = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    except (OSError, ValueError):
        low, high = 32768, 60999
    return range(10_000, low) if low - 10_000 >= 2_000 else range(high + 1, 65_536)


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on at ``host`` now, drawn at random outside the ephemeral range."""
    family = _family(host)
    candidates = _listening_range()
    draw = random.SystemRandom()
    for _ in range(DRAWS):
        port = draw.choice(candidates)
        with socket.socket(family) as s:
            try:
                s.bind((host, port))
            except OSError:
                continue
            return port
    with socket.socket(family) as s:  # a crowded range: let the kernel choose
        s.bind((host, 0))
        return int(s.getsockname()[1])


def free_ports(count: int, host: str = "127.0.0.1", *, avoid: Collection[int] = ()) -> list[int]:
    """``count`` different free ports, none of ``avoid`` (ports handed out already, not yet bound):
    independent draws can repeat one (nine from ~30,000: once in some 400 runs), and a target's
    services need different ones."""
    ports: list[int] = []
    for _ in range(100 * count):
        if (port := free_port(host)) not in ports and port not in avoid:
            ports.append(port)
            if len(ports) == count:
                return ports
    raise OSError(f"no {count} different free ports on {host}")


def hostport(host: str, port: int) -> str:
    """``host:port``, with an IPv6 address in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def base_url(host: str, port: int) -> str:
    return f"http://{hostport(host, port)}"
