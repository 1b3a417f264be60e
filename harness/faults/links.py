"""Faults on links, through the run's Toxiproxy: latency, bandwidth, timeout (black hole),
reset_peer, down (link disabled) and partition (a set of links, or region to region).

Each verifies that it landed by reading the server's own listing back, and leaves a journal
entry precise enough (server URL, proxy, toxic) for another process to heal it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import requests

from harness.faults.base import HEALERS, FaultEnv, FaultError, Landing, register
from harness.http import target_session
from harness.schedule import ScheduledFault, expands_links

__all__ = ["ToxicFault", "LinkDown"]



def _toxic_for(spec: ScheduledFault) -> tuple[str, dict[str, int]]:
    p = spec.params
    if spec.kind == "latency":
        return "latency", {"latency": int(p.get("latency_ms", 0)), "jitter": int(p.get("jitter_ms", 0))}
    if spec.kind == "bandwidth":
        return "bandwidth", {"rate": int(p["rate_kbps"])}
    if spec.kind == "timeout":
        return "timeout", {"timeout": 0}
    if spec.kind == "reset_peer":
        return "reset_peer", {"timeout": int(p.get("timeout_ms", 0))}
    raise FaultError(f"{spec.id}: {spec.kind} is not a toxic")


def _links(spec: ScheduledFault, env: FaultEnv) -> tuple[str, ...]:
    if env.topology is None:
        raise FaultError(f"{spec.id}: the run gave no topology to find the fault's links in")
    return expands_links(spec, env.topology)


def _on_margin_link(spec: ScheduledFault, env: FaultEnv) -> bool:
    return env.margin_link() in _links(spec, env)


def _needs_proxies(env: FaultEnv, spec: ScheduledFault) -> Any:
    if env.proxies is None:
        raise FaultError(f"{spec.id}: no proxy on {', '.join(_links(spec, env))}: the backend did not route it")
    return env.proxies


@register("latency", "bandwidth", "timeout", "reset_peer")
@dataclass
class ToxicFault:
    """One toxic on every link of the fault (usually one link)."""

    spec: ScheduledFault
    env: FaultEnv
    added: dict[str, str] = field(default_factory=dict)  # link -> toxic name

    def describe(self) -> str:
        return f"{self.spec.kind} {dict(self.spec.params)} on {', '.join(_links(self.spec, self.env))}"

    def expect_um_halt(self) -> bool:
        if not _on_margin_link(self.spec, self.env):
            return False
        if self.spec.kind == "latency":
            return int(self.spec.params.get("latency_ms", 0)) > int(self.env.risk["p99_ms"])
        return self.spec.kind in ("timeout", "reset_peer")

    def journal_entry(self) -> dict[str, Any]:
        net = _needs_proxies(self.env, self.spec)
        return {"heal": "toxic", "api": net.api_url,
                "toxics": [[net.proxy_name(link), self.toxic_name(link)] for link in _links(self.spec, self.env)]}

    def toxic_name(self, link: str) -> str:
        return f"{self.env.run_id}__{self.spec.id}"

    def inject(self) -> Landing:
        net = _needs_proxies(self.env, self.spec)
        kind, attributes = _toxic_for(self.spec)
        # A black hole swallows the requests (upstream); the others act on what comes back.
        stream = "upstream" if kind == "timeout" else "downstream"
        for link in _links(self.spec, self.env):
            self.added[link] = net.add_toxic(link, kind, attributes, stream=stream, name=self.toxic_name(link))
        listed = {link: self.added[link] in {t["name"] for t in net.toxics(link)} for link in self.added}
        missing = [link for link, ok in listed.items() if not ok]
        return Landing(not missing, f"toxic {kind} {attributes} listed on {', '.join(listed)}" if not missing
                       else f"toxic missing on {', '.join(missing)}")

    def heal(self) -> None:
        if self.env.proxies is None:
            return
        for link in _links(self.spec, self.env):
            self.env.proxies.remove_toxic(link, self.toxic_name(link))
        self.added.clear()


@register("down", "partition")
@dataclass
class LinkDown:
    """Disabled proxies: new connections refused, open ones closed."""

    spec: ScheduledFault
    env: FaultEnv

    def describe(self) -> str:
        return f"{self.spec.kind} {', '.join(_links(self.spec, self.env))}"

    def expect_um_halt(self) -> bool:
        return _on_margin_link(self.spec, self.env)

    def journal_entry(self) -> dict[str, Any]:
        net = _needs_proxies(self.env, self.spec)
        return {"heal": "enable", "api": net.api_url, "proxies": [net.proxy_name(link) for link in _links(self.spec, self.env)]}

    def inject(self) -> Landing:
        net = _needs_proxies(self.env, self.spec)
        links = _links(self.spec, self.env)
        for link in links:
            net.set_enabled(link, False)
        return Landing(True, f"disabled and verified: {', '.join(links)}")

    def heal(self) -> None:
        if self.env.proxies is None:
            return
        for link in _links(self.spec, self.env):
            self.env.proxies.set_enabled(link, True)


def _heal_toxics(entry: dict[str, Any]) -> None:
    with target_session() as http:
        for proxy, toxic in entry.get("toxics", []):
            try:
                http.delete(f"{entry['api']}/proxies/{proxy}/toxics/{toxic}", timeout=2)
            except requests.ConnectionError:
                return  # the server is gone, and its toxics with it


def _heal_enable(entry: dict[str, Any]) -> None:
    with target_session() as http:
        for proxy in entry.get("proxies", []):
            try:
                http.post(f"{entry['api']}/proxies/{proxy}", json={"enabled": True}, timeout=2)
            except requests.ConnectionError:
                return


HEALERS["toxic"] = _heal_toxics
HEALERS["enable"] = _heal_enable
