"""Configuration of a umref topology: plain frozen values, serialised to one JSON file per service.

Every address a service calls is configuration (``peers``), so that the harness can route any
link through a proxy without the service knowing.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

__all__ = [
    "BUG_SWITCHES",
    "KILLED_BY",
    "SERVICES",
    "REGION_OF",
    "UM_ONLY",
    "LINKS",
    "STACK",
    "generic",
    "LIQUIDATION_GRACE_MS",
    "RiskBudget",
    "Account",
    "ServiceConfig",
    "TopologyConfig",
]

# Each bug switch (a realistic defect, off by default) and the checks expected to catch it: the
# self-test counts a switch as killed only when one of these fails, and flags a kill by any other.
KILLED_BY: dict[str, tuple[str, ...]] = {
    "no_halt": ("safe_halt",),
    "halt_cancels_orders": ("resting_orders_preserved",),
    "stale_margin_call": ("no_erroneous_risk_actions",),
    "margin_call_during_halt": ("no_erroneous_risk_actions",),
    "non_atomic_transfer": ("rollback", "segregation"),
    "commingle_fees": ("segregation",),
    "async_replication": ("no_acked_write_lost",),
    "no_fencing": ("no_acked_write_lost",),
    "fail_open_auth": ("auth_fail_closed",),
    "halt_spot_too": ("safe_halt", "blast_radius"),
    "halt_leak": ("safe_halt",),
    "price_mislabel": ("no_erroneous_risk_actions",),
    "resume_shrinks_orders": ("resting_orders_preserved",),
    "ledger_misreport": ("segregation",),
    "late_liquidation": ("no_erroneous_risk_actions",),
    "dual_active_matching": ("single_active_matching",),
    "cold_standby_books": ("resting_orders_preserved",),
    "no_witness": ("single_active_matching", "no_acked_write_lost"),
    "old_state_table": ("no_erroneous_risk_actions",),
    "stale_status": ("status_truthful",),
    "no_auto_rollback": ("release_rolled_back",),
    "rollback_loses_orders": ("resting_orders_preserved",),
}
BUG_SWITCHES: tuple[str, ...] = tuple(KILLED_BY)

# Region A runs the stack; region B a warm standby of it (idle until the coordinator promotes it
# under a new epoch); region C only the witness, without which nobody is promoted.
STACK: tuple[str, ...] = ("pricefeed", "auth", "margin", "matching", "liquidation", "gateway")
BUILD_ENV = "UMCHAOS_BUILD"  # set by a build's container image (umchaos setup --docker) to its version
STANDBY = "-b"  # a standby service's name: its region-A counterpart's, plus this
# From entering FORCE_LIQUIDATION to the liquidation's start, at the earliest: umref's own, not a
# budget the harness judges by (its tests lengthen it, to act inside it on a busy machine).
LIQUIDATION_GRACE_MS = 1000

# Start order matters: a service starts after the services it calls.
SERVICES: tuple[str, ...] = (
    "witness",
    "pricefeed",
    "pricefeed-b",
    "auth",
    "auth-b",
    "ledger-b",
    "ledger-a",
    "coordinator",
    "margin",
    "margin-b",
    "matching",
    "matching-b",
    "liquidation",
    "liquidation-b",
    "gateway",
    "gateway-b",
)

REGION_OF: dict[str, str] = {
    "witness": "C",
    "ledger-a": "A",
    "ledger-b": "B",
    "coordinator": "B",
    **{name: "A" for name in STACK},
    **{name + STANDBY: "B" for name in STACK},
}

# Services only UM needs: spot trades through gateway, auth, matching and the ledger, never these.
UM_ONLY: tuple[str, ...] = ("margin", "liquidation", "margin-b", "liquidation-b")

# The stack's links, as region A's services call each other; region B's standby has the same
# links between its own services. Both stacks reach both ledgers and the coordinator.
_STACK_LINKS: tuple[str, ...] = (
    "gateway->auth",
    "gateway->matching",
    "gateway->ledger-a",
    "gateway->ledger-b",
    "gateway->pricefeed",
    "gateway->coordinator",
    "matching->margin",
    "matching->ledger-a",
    "matching->ledger-b",
    "margin->pricefeed",
    "liquidation->margin",
    "liquidation->matching",
)


def _in_b(link: str) -> str:
    caller, callee = link.split("->")
    return f"{caller}{STANDBY}->{callee if callee.startswith('ledger-') or callee == 'coordinator' else callee + STANDBY}"


# Every caller->callee link; each can be routed through a proxy by the harness.
LINKS: tuple[str, ...] = (
    *_STACK_LINKS,
    *(_in_b(link) for link in _STACK_LINKS),
    "ledger-a->ledger-b",
    "ledger-b->ledger-a",
    "ledger-a->coordinator",
    "ledger-b->coordinator",
    "coordinator->ledger-a",
    "coordinator->ledger-b",
    "coordinator->matching-b",
    "ledger-a->witness",
    "ledger-b->witness",
    "coordinator->witness",
)


def generic(service: str) -> str:
    """The name a service is known by to its callers' code: a standby is called like its region-A
    counterpart (``margin-b`` is its caller's ``margin``); the two ledgers keep their names."""
    return service.removesuffix(STANDBY) if service.removesuffix(STANDBY) in STACK else service


@dataclass(frozen=True)
class RiskBudget:
    """The risk guard's budget: when margin latency breaches it, UM halts."""

    window_ms: int = 1000  # sliding window of margin-call latencies
    p99_ms: int = 200  # halt when p99 over the window exceeds this
    max_call_ms: int = 1000  # halt when any single call exceeds this (or margin is unreachable)
    halt_within_ms: int = 250  # promise: halted within this long after the breach
    heartbeat_ms: int = 100  # matching probes margin this often, so an idle book still detects
    resume_p99_ms: int = 100  # hysteresis: resume only when p99 is below this ...
    healthy_for_ms: int = 3000  # ... continuously for this long
    staleness_ms: int = 1000  # a price older than this is not used for margin decisions
    max_deviation_pct: str = "1.0"  # a source deviating more than this from the median is dropped
    act_within_ms: int = 2000  # a due margin call or liquidation is acted on within this long


@dataclass(frozen=True)
class Account:
    """A customer account the launcher creates, with its API key and opening deposits."""

    account: str
    api_key: str
    deposits: dict[str, dict[str, str]]  # wallet -> asset -> amount (decimal string)
    role: str = "trader"  # trader | maker | leveraged


@dataclass(frozen=True)
class ServiceConfig:
    """What one service process needs: its name, port, the base URLs of its peers, switches."""

    name: str
    host: str
    port: int
    peers: dict[str, str]  # callee name -> base URL (may be a proxy)
    bugs: tuple[str, ...]
    risk: RiskBudget
    price_seed: int
    data_dir: str
    accounts: tuple[Account, ...]
    region: str
    clock_offset_ms: int = 0
    build: str = ""  # the version it runs (targets.umref.builds); empty: the one in production
    liquidation_grace_ms: int = LIQUIDATION_GRACE_MS

    def has_bug(self, bug: str) -> bool:
        return bug in self.bugs

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=1))

    @staticmethod
    def read(path: Path) -> ServiceConfig:
        raw: dict[str, Any] = json.loads(path.read_text())
        raw["risk"] = RiskBudget(**raw["risk"])
        raw["accounts"] = tuple(Account(**a) for a in raw["accounts"])
        raw["bugs"] = tuple(raw["bugs"])
        raw["build"] = raw.get("build") or os.environ.get(BUILD_ENV, "")  # a build's image says it
        return ServiceConfig(**raw)


@dataclass(frozen=True)
class TopologyConfig:
    """The whole exchange: which ports, which bugs, which budgets, which seed."""

    data_dir: str
    bugs: tuple[str, ...] = ()
    risk: RiskBudget = field(default_factory=RiskBudget)
    price_seed: int = 1
    host: str = "127.0.0.1"
    accounts: tuple[Account, ...] = ()
    ports: dict[str, int] = field(default_factory=dict)  # service -> port (filled by launcher)
    links: dict[str, str] = field(default_factory=dict)  # "a->b" -> base URL override (proxy)
    clock_offsets_ms: dict[str, int] = field(default_factory=dict)
    liquidation_grace_ms: int = LIQUIDATION_GRACE_MS

    def __post_init__(self) -> None:
        unknown = sorted(set(self.bugs) - set(BUG_SWITCHES))
        if unknown:
            raise ValueError(f"unknown bug switch(es): {', '.join(unknown)}; known: {', '.join(BUG_SWITCHES)}")
        bad_links = sorted(set(self.links) - set(LINKS))
        if bad_links:
            raise ValueError(f"unknown link(s): {', '.join(bad_links)}")

    def url(self, service: str) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host  # an IPv6 address, as ::1
        return f"http://{host}:{self.ports[service]}"

    def peer_url(self, caller: str, callee: str) -> str:
        """Where ``caller`` reaches ``callee``: a proxy if the harness routed the link, else direct."""
        return self.links.get(f"{caller}->{callee}", self.url(callee))

    def service_config(self, name: str) -> ServiceConfig:
        callees = [link.split("->")[1] for link in LINKS if link.split("->")[0] == name]
        return ServiceConfig(
            name=name,
            host=self.host,
            port=self.ports[name],
            peers={generic(callee): self.peer_url(name, callee) for callee in callees},
            bugs=self.bugs,
            risk=self.risk,
            price_seed=self.price_seed,
            data_dir=self.data_dir,
            accounts=self.accounts,
            region=REGION_OF[name],
            clock_offset_ms=self.clock_offsets_ms.get(name, 0),
            liquidation_grace_ms=self.liquidation_grace_ms,
        )

    def with_(self, **changes: Any) -> TopologyConfig:
        return replace(self, **changes)
