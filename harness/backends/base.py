"""What a backend gives the runner: a running target, its addresses, and process control."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from harness.targets.base import Addresses, ProcessControl

__all__ = ["Target", "Backend", "write_accounts"]


@dataclass(frozen=True)
class Target:
    gateway: str
    services: dict[str, str]  # service -> direct base URL (for audit and target-level events)
    regions: dict[str, str]  # service -> region
    accounts: tuple[Mapping[str, str], ...]  # {"account", "api_key", "role"}
    accounts_file: Path  # the same, as JSON for the load generator
    proxies: Any  # the run's ProxyNet, or None
    links: dict[str, str]  # link -> proxy listen address
    risk: Mapping[str, int | str]  # the risk budget in force


class Backend(ProcessControl, Protocol):
    """Starts and stops the target; its process control is what process/node faults act on."""

    name: str

    def up(self) -> Target: ...
    def wait_ready(self, *, deadline_s: float) -> None: ...
    def down(self) -> None: ...


def write_accounts(path: Path, addresses: Addresses) -> Path:
    """The gateway and the accounts with their keys, for the load generator: private (API keys),
    never in the report folder."""
    import json

    path.write_text(json.dumps({"gateway": addresses.gateway, "accounts": [dict(a) for a in addresses.accounts]}))
    return path
