"""What a fault kind is, as pure data: one frozen ``FaultKind`` per kind says everything the
harness needs of it (its scenario model, how a random timeline draws it, what it touches and
takes down, whether it is instant, its chart colour, what the checks may expect of it, and
which module implements it on each backend). Nothing here acts on a target, so the schema,
checks and reports read it freely; the effectful implementations are named by import path and
loaded only by ``harness.faults.base``.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from harness.scenario.values import Model, Seconds
from harness.targets import Topology
from harness.targets.base import ProcessNeed

__all__ = ["BaseFaultSpec", "ChaosMesh", "DrawScope", "FaultKind", "HaltFacts", "NoParams", "Toxic", "Where", "always_drawable", "never", "nothing"]

Where = Mapping[str, Any]  # a fault's target as plain data: link / links / regions + direction / service / region


class NoParams(Model):
    pass


class BaseFaultSpec(Model):
    """What every timeline entry has; each kind adds its target, its parameters and maybe ``for``."""

    fault: str
    at: Seconds

    @property
    def duration_s(self) -> float | None:
        """How long it lasts; None: an instant event, or (kill, power loss) until the run ends. An
        instant event with a ``for`` (a drift) spans it on the market, as no fault window."""
        duration: float | None = getattr(self, "for_", None)
        return duration

    @property
    def target(self) -> dict[str, Any]:
        """Where it acts, as plain JSON-able data: link / links / regions + direction / service / region."""
        return {}


@dataclass(frozen=True)
class DrawScope:
    """What a ``random:`` section lets a draw pick from: its links and services (empty: any of the
    topology's), the regions a power loss may hit, and the target's builds a release may name."""

    topology: Topology
    chosen_links: tuple[str, ...]
    chosen_services: tuple[str, ...]
    power_loss_regions: tuple[str, ...]
    builds: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # service -> its builds

    @property
    def links(self) -> tuple[str, ...]:
        return self.chosen_links or self.topology.links

    @property
    def services(self) -> tuple[str, ...]:
        return self.chosen_services or self.topology.services


@dataclass(frozen=True)
class Toxic:
    """A link kind acted out by one Toxiproxy toxic on each of its links: the toxic's type, the
    stream it acts on, and its attributes from the fault's drawn parameters."""

    type: str
    stream: Literal["upstream", "downstream"]
    attributes: Callable[[Mapping[str, Any]], dict[str, int]]


@dataclass(frozen=True)
class ChaosMesh:
    """How Chaos Mesh acts a kind out on Kubernetes (``--backend k8s``): the resource kind and its
    action fields from the fault's drawn parameters. Which pods it selects comes from where the
    fault acts (``harness.backends.k8s``); ``note`` says where it differs from the other backends;
    ``lasting``: it holds for the fault's ``for`` (a kill is done at once: no duration)."""

    kind: Literal["NetworkChaos", "PodChaos", "TimeChaos"]
    fields: Callable[[Mapping[str, Any]], dict[str, Any]]
    note: str = ""
    lasting: bool = True


@dataclass(frozen=True)
class HaltFacts:
    """What decides whether a fault must halt UM: the target's topology and the risk budget's p99."""

    topology: Topology
    p99_ms: float

    def margin_link(self) -> str | None:
        """The target's UM path whose slowness or loss must halt UM; None when it names none (then
        no fault expects a halt)."""
        return self.topology.role("margin_link") if "margin_link" in self.topology.roles else None

    def on_margin_link(self, links: Collection[str]) -> bool:
        return (link := self.margin_link()) is not None and link in links

    def loses_margin(self, services: Collection[str]) -> bool:
        """Losing ``services`` must halt UM: the margin side of the margin link goes, the matching
        engine calling it stays."""
        if (link := self.margin_link()) is None:
            return False
        engine, margin = self.topology.ends(link)
        return margin in services and engine not in services


def nothing(where: Where, topology: Topology) -> tuple[str, ...]:
    return ()


def always_drawable(scope: DrawScope) -> str | None:
    return None


def never(where: Where, params: Mapping[str, Any], facts: HaltFacts) -> bool:
    return False


@dataclass(frozen=True)
class FaultKind:
    """One fault kind, registered once (in its family's module, listed in ``scenario.faults``).

    ``model``: its timeline entry (where it acts, its ``params`` model, whether it takes ``for``).
    ``draw``: where and with what parameters a random timeline places one (no time yet; its
    ``for`` only for a kind whose span is its own, a drift's, else the random section's).
    ``links`` / ``services``: what it touches in a topology, given its target.
    ``takes_down``: the services it touches are meant to die (their death is then no surprise).
    ``process_need``: what it needs of their processes; a platform the harness did not start
    refuses the kinds it cannot serve (``FaultLimits``).
    ``instant``: an event, not a window: the harness acts it out at once (a drift's ``for`` is
    set on the price path at inject: how long the market takes, not a fault's), nothing to heal,
    no band in a chart, not a fault window the checks judge.
    ``band_colour``: its window in the report's timeline.
    ``expects_um_halt``: whether the checks may expect UM to halt while it lasts, from its target
    and drawn parameters (pure data, recorded on the fault's inject op).
    ``rto_from``: where the recovery check starts its RTO clock: at the ``heal`` (UM is back once
    the fault is gone), or at the ``inject`` (a whole region lost: a standby must take over while
    it is still down, measured from the loss's landing).
    ``undrawable``: why a random section cannot draw it (None: it can).
    ``implementations``: backend -> ``module:Class`` acting it out there; the backends it runs on.
    ``healers``: journal ``heal`` name -> ``module:function`` undoing it from the entry alone.
    ``toxic``: for a kind done by a Toxiproxy toxic, which one and how (None otherwise).
    ``chaos_mesh``: its Chaos Mesh resource on Kubernetes (None: not expressible there).
    ``probes_versions``: the services it touches are asked their version while the load runs (a
    release: which build answered when is the checks' evidence).
    """

    name: str
    model: type[BaseFaultSpec]
    draw: Callable[[random.Random, DrawScope], dict[str, Any]]
    implementations: Mapping[str, str]
    healers: Mapping[str, str]
    links: Callable[[Where, Topology], tuple[str, ...]] = nothing
    services: Callable[[Where, Topology], tuple[str, ...]] = nothing
    takes_down: bool = False
    process_need: ProcessNeed = "nothing"
    instant: bool = False
    band_colour: str = "#fd8c73"
    toxic: Toxic | None = None
    expects_um_halt: Callable[[Where, Mapping[str, Any], HaltFacts], bool] = never
    rto_from: Literal["heal", "inject"] = "heal"
    undrawable: Callable[[DrawScope], str | None] = always_drawable
    chaos_mesh: ChaosMesh | None = None
    probes_versions: bool = False
