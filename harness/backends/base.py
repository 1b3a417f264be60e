"""What a backend gives the runner: a running target, its addresses, and process control."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from harness.targets.base import Front, ProcessControl, TargetSystem

if TYPE_CHECKING:
    from harness.targets import Warm

__all__ = ["BackendSpec", "Resources", "RunningTarget", "Backend", "write_accounts"]


class Resources(Protocol):
    """Where a backend lists what it starts, before starting it (the run's fault journal): what a
    killed run left is found and stopped from there."""

    def add_resource(self, name: str, entry: dict[str, Any]) -> None: ...


@dataclass(frozen=True)
class BackendSpec:
    """What a backend knows of a run, and no more: who the run is, where it may write, what to
    start, and which links its faults will act on."""

    run_id: str
    run_dir: Path  # the report folder: service logs, toxiproxy.log
    private_dir: Path  # the run's own folder under the state folder: keys and configs, never in a report
    system: TargetSystem
    host: str  # where a started target listens
    allow_targets: tuple[str, ...]  # addresses beyond loopback the scenario allows
    seed: int
    bugs: tuple[str, ...]
    risk: Mapping[str, int | str]  # the risk budget in force
    proxied_links: tuple[str, ...]  # the links some fault of the schedule acts on
    resources: Resources
    warm: Warm | None = None  # a warm start of the default target, begun early by the CLI
    releases: tuple[tuple[str, str], ...] = ()  # (service, build) the schedule's deploys release


@dataclass(frozen=True)
class RunningTarget:
    """What a backend's ``up`` gives the runner: where the target it started (or attached to)
    answers, its accounts, its proxies and the risk budget in force."""

    front: Front  # the gateways clients fail over on, home first
    services: dict[str, str]  # service -> direct base URL (audit, target-level events); a release may move one
    regions: dict[str, str]  # service -> region
    accounts: tuple[Mapping[str, str], ...]  # {"account", "api_key", "role"}
    accounts_file: Path  # the same, as JSON for the load generator
    proxies: Any  # the run's ProxyNet, or None
    links: dict[str, str]  # link -> proxy listen address
    risk: Mapping[str, int | str]  # the risk budget in force


class Backend(ProcessControl, Protocol):
    """Starts and stops the target; its process control is what process/node faults act on."""

    name: str

    def up(self) -> RunningTarget: ...
    def wait_ready(self, *, deadline_s: float) -> None: ...
    def down(self) -> None: ...


def write_accounts(path: Path, front: Front, accounts: tuple[Mapping[str, str], ...]) -> Path:
    """The gateways (``front``: service and url, home first; ``gateway``: the home one's url) and
    the accounts with their keys, for the load generator: private (API keys), never in the report
    folder."""
    import json

    path.write_text(json.dumps({"gateway": front[0][1], "front": [{"service": s, "url": url} for s, url in front],
                                "accounts": [dict(a) for a in accounts]}))
    return path
