"""Faults on links, through the run's Toxiproxy: latency, bandwidth, timeout (black hole),
reset_peer, down (link disabled) and partition (a set of links, or region to region).

Each verifies that it landed by reading the server's own listing back, and leaves a journal
entry precise enough (server URL, proxy, toxic) for another process to heal it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import requests

from harness.faults.base import FaultBase, FaultEnv, FaultError, Landing
from harness.http import target_session
from harness.scenario import KINDS
from harness.scenario.kinds.base import Toxic
from harness.schedule import ScheduledFault, expands_links

__all__ = ["ToxicFault", "LinkDown", "heal_enable", "heal_toxics"]


def _toxic_for(spec: ScheduledFault) -> Toxic:
    if (toxic := KINDS[spec.kind].toxic) is None:
        raise FaultError(f"{spec.id}: {spec.kind} is not a toxic")
    return toxic


def _links(spec: ScheduledFault, env: FaultEnv) -> tuple[str, ...]:
    if env.topology is None:
        raise FaultError(f"{spec.id}: the run gave no topology to find the fault's links in")
    return expands_links(spec, env.topology)


def _needs_proxies(env: FaultEnv, spec: ScheduledFault) -> Any:
    if env.proxies is None:
        raise FaultError(f"{spec.id}: no proxy on {', '.join(_links(spec, env))}: the backend did not route it")
    return env.proxies


@dataclass
class ToxicFault(FaultBase):
    """One toxic on every link of the fault (usually one link)."""

    added: dict[str, str] = field(default_factory=dict)  # link -> toxic name

    def describe(self) -> str:
        return f"{self.spec.kind} {dict(self.spec.params)} on {', '.join(_links(self.spec, self.env))}"

    def journal_entry(self) -> dict[str, Any]:
        net = _needs_proxies(self.env, self.spec)
        return {"heal": "toxic", "api": net.api_url,
                "toxics": [[net.proxy_name(link), self.toxic_name(link)] for link in _links(self.spec, self.env)]}

    def toxic_name(self, link: str) -> str:
        return f"{self.env.run_id}__{self.spec.id}"

    def inject(self) -> Landing:
        net = _needs_proxies(self.env, self.spec)
        toxic = _toxic_for(self.spec)
        kind, attributes = toxic.type, toxic.attributes(self.spec.params)
        for link in _links(self.spec, self.env):
            self.added[link] = net.add_toxic(link, kind, attributes, stream=toxic.stream, name=self.toxic_name(link))
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


@dataclass
class LinkDown(FaultBase):
    """Disabled proxies: new connections refused, open ones closed."""

    def describe(self) -> str:
        return f"{self.spec.kind} {', '.join(_links(self.spec, self.env))}"

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


def heal_toxics(entry: dict[str, Any]) -> None:
    with target_session() as http:
        for proxy, toxic in entry.get("toxics", []):
            try:
                http.delete(f"{entry['api']}/proxies/{proxy}/toxics/{toxic}", timeout=2)
            except requests.ConnectionError:
                return  # the server is gone, and its toxics with it


def heal_enable(entry: dict[str, Any]) -> None:
    with target_session() as http:
        for proxy in entry.get("proxies", []):
            try:
                http.post(f"{entry['api']}/proxies/{proxy}", json={"enabled": True}, timeout=2)
            except requests.ConnectionError:
                return

