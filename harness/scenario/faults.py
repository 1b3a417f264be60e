"""The fault kinds, listed once: each is one ``FaultKind`` registration in its family's module
(``kinds/``); the scenario schema, the random draw, abort, the checks and the reports read the
kind's attributes from here. Adding a kind: its registration (in a family's module), its
implementation per backend (``harness/faults/``, named by the registration), one line below, and
its line in the real test's scenario (``tests/harness/test_fault_kinds.py``).

Names of links, services and regions are checked against the chosen target's topology (values).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Union

from pydantic import Field

from harness.scenario.kinds import links, market, nodes, release
from harness.scenario.kinds.base import BaseFaultSpec, DrawScope, FaultKind, HaltFacts, NoParams

__all__ = ["FAULT_KINDS", "FAULT_MODELS", "KINDS", "BaseFaultSpec", "DrawScope", "FaultKind", "FaultSpec",
           "HaltFacts", "NoParams", "band_colour", "is_instant", "rto_from"]

KINDS: Mapping[str, FaultKind] = {kind.name: kind for kind in (
    links.LATENCY,
    links.BANDWIDTH,
    links.TIMEOUT,
    links.RESET_PEER,
    links.DOWN,
    links.PARTITION,
    nodes.KILL,
    nodes.PAUSE,
    nodes.REGION_POWER_LOSS,
    nodes.CLOCK_SKEW,
    market.PRICE_SHOCK,
    nodes.NETEM,
    links.SLICER,
    market.PRICE_DRIFT,
    release.DEPLOY,
)}
FAULT_KINDS: tuple[str, ...] = tuple(KINDS)
FAULT_MODELS: Mapping[str, type[BaseFaultSpec]] = {name: kind.model for name, kind in KINDS.items()}

if TYPE_CHECKING:
    FaultSpec = BaseFaultSpec
else:  # the union the ``fault:`` key picks from
    FaultSpec = Annotated[Union[tuple(FAULT_MODELS.values())], Field(discriminator="fault")]  # noqa: UP007


def band_colour(kind: object) -> str:
    """A fault's window in the report's timeline; an unknown kind read back gets the default."""
    return KINDS[kind].band_colour if isinstance(kind, str) and kind in KINDS else FaultKind.band_colour


def is_instant(kind: object) -> bool:
    """An event, not a window (a price shock or drift): for a kind read back from a run's history,
    where an unknown one is a window like any fault."""
    return isinstance(kind, str) and kind in KINDS and KINDS[kind].instant


def rto_from(kind: object) -> str:
    """Where a fault's RTO is measured from (``FaultKind.rto_from``); an unknown kind read back from
    a run's history: from its heal, like any fault."""
    return KINDS[kind].rto_from if isinstance(kind, str) and kind in KINDS else FaultKind.rto_from
