"""What a fault touches in the chosen target's topology: its links and services, whether it stays
on the UM path, and whether two faults act on one thing at once. Shared by the schema, the
schedule and replay, so a written timeline and a stored schedule obey one rule."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from harness.scenario.faults import KINDS
from harness.targets import Topology


def links_touched(kind: str, target: Mapping[str, Any], topology: Topology) -> tuple[str, ...]:
    """The topology's links a fault acts on (its kind's ``links``)."""
    return KINDS[kind].links(target, topology)


def services_touched(kind: str, target: Mapping[str, Any], topology: Topology) -> tuple[str, ...]:
    """The topology's services a fault acts on (its kind's ``services``)."""
    return KINDS[kind].services(target, topology)


def um_only(kind: str, target: Mapping[str, Any], topology: Topology) -> bool:
    """Does the fault touch only the UM path (a UM-only service, or a link with one at either
    end)? Spot is judged against its SLO only during such faults: during a fault on something
    spot needs too (auth, the gateway, the ledger) spot must fail closed, not keep its numbers."""
    links, services = links_touched(kind, target, topology), services_touched(kind, target, topology)
    if not links and not services:
        return False  # a market event (price_shock, price_drift): not a fault of the infrastructure
    return all(s in topology.um_only for s in services) and all(
        any(end in topology.um_only for end in topology.ends(link)) for link in links)


def first_overlap(faults: Sequence[tuple[str, Mapping[str, Any], float, float | None]],
                  topology: Topology) -> tuple[int, int, str] | None:
    """Two faults (kind, target, at, duration; None lasts to the end) on one link or service at
    once, as (earlier index, later index, what they share): healing one would undo part of the
    other. An instant event (a release) acts at its moment only. One rule for written timelines
    and for a stored schedule read back by replay."""
    windows = [(at, at if KINDS[kind].instant else math.inf if duration is None else at + duration,
                {*links_touched(kind, target, topology), *services_touched(kind, target, topology)})
               for kind, target, at, duration in faults]
    for j, (start, end, touched) in enumerate(windows):
        for i, (other_start, other_end, other_touched) in enumerate(windows[:j]):
            if start < other_end and other_start < end and (shared := touched & other_touched):
                return i, j, ", ".join(sorted(shared))
    return None
