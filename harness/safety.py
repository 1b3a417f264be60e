"""Target safety: the harness only ever touches loopback unless a scenario names the target explicitly.

A chaos tool pointed at the wrong address does real damage, so the target's host is checked at
prepare time (before anything starts) and every address the backend reports is checked again
before any load or fault is sent to it.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from urllib.parse import urlsplit

from harness.errors import BadInput
from harness.scenario import Scenario

__all__ = ["host_of", "is_loopback", "target_allowed", "refuse_unsafe_target", "refuse_unsafe_addresses"]


def host_of(address: str) -> str:
    """The host of ``host``, ``host:port``, ``[v6]:port`` or ``http://host:port/...``."""
    if "//" in address:
        return urlsplit(address).hostname or ""
    if match := re.fullmatch(r"\[([^\]]+)\](?::\d+)?", address):
        return match[1]
    if address.count(":") == 1:
        return address.split(":", 1)[0]
    return address  # a host name, an IPv4 address, or a bare IPv6 address


def is_loopback(host: str) -> bool:
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # another host name: never resolved, so never trusted


def target_allowed(address: str, allow_targets: Iterable[str]) -> bool:
    host = host_of(address)
    return is_loopback(host) or host.lower() in {host_of(a).lower() for a in allow_targets}


def refuse_unsafe_target(scenario: Scenario) -> None:
    """One line, file:line, exit 3: the scenario's target host is neither loopback nor allowed."""
    host = scenario.target.host
    if target_allowed(host, scenario.allow_targets):
        return
    source = scenario.source
    line = next((n for n, text in enumerate(source.lines, 1) if re.search(r"\bhost\s*:", text)), 1)
    raise BadInput(f"{source.file}:{line}: target host {host!r} is not loopback (127.0.0.0/8, ::1, localhost); "
                   "list it under allow_targets: to run against it")


def refuse_unsafe_addresses(addresses: Iterable[str], allow_targets: Iterable[str]) -> None:
    """Every address the backend reports must be loopback or allowed, or nothing is sent to it."""
    allowed = tuple(allow_targets)
    if bad := sorted({a for a in addresses if not target_allowed(a, allowed)}):
        raise BadInput(f"the backend reported target address(es) outside loopback and allow_targets: {', '.join(bad)}")
