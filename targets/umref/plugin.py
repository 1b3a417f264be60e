"""umref as a target plugin: its topology, bug switches and risk budget, for the harness.

Registered in the ``umchaos.targets`` entry points (pyproject.toml) like any third-party target;
it depends on nothing in the harness but the protocol it implements.
"""

from __future__ import annotations

from dataclasses import asdict

from harness.targets.base import BugSwitch, TargetInfo, Topology
from targets.umref.config import KILLED_BY, LINKS, REGION_OF, SERVICES, UM_ONLY, RiskBudget

__all__ = ["TARGET"]

TARGET = TargetInfo(
    name="umref",
    description="the reference UM exchange: gateway, matching, margin, ledger in two regions, with bug switches",
    topology=Topology(services=SERVICES, region_of=dict(REGION_OF), links=LINKS, um_only=UM_ONLY),
    bug_switches=tuple(BugSwitch(name, checks) for name, checks in KILLED_BY.items()),
    risk_defaults=asdict(RiskBudget()),
)
