"""Faults on links, acted through Toxiproxy (``harness.faults.links``): latency, bandwidth,
timeout (a black hole), reset_peer, down (link disabled) and partition (a set of links, or region
to region; on docker a two-way region cut leaves the inter-region network)."""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, PlainValidator, model_validator

from harness.scenario.kinds.base import (
    BaseFaultSpec,
    ChaosMesh,
    DrawScope,
    FaultKind,
    HaltFacts,
    NoParams,
    Toxic,
    Where,
)
from harness.scenario.values import (
    Bounds,
    DelayMs,
    LinkName,
    Model,
    Param,
    PositiveSeconds,
    Problem,
    RateKbps,
    RegionName,
    unique,
)
from harness.targets import Topology

__all__ = ["BANDWIDTH", "DOWN", "LATENCY", "PARTITION", "RESET_PEER", "SLICER", "TIMEOUT"]

_TOXIC = "harness.faults.links:ToxicFault"
_LINK_DOWN = "harness.faults.links:LinkDown"
_EVERY_BACKEND = ("local", "docker", "external")
_HEAL_TOXIC = {"toxic": "harness.faults.links:heal_toxics"}
_HEAL_ENABLE = {"enable": "harness.faults.links:heal_enable"}


class LatencyParams(Model):
    latency_ms: DelayMs
    jitter_ms: DelayMs = 0


class BandwidthParams(Model):
    rate_kbps: RateKbps


class ResetPeerParams(Model):
    timeout_ms: DelayMs = 0


SliceBytes = Annotated[Param, PlainValidator(Bounds(1, 65_536).number_or_span)]
DelayUs = Annotated[Param, PlainValidator(Bounds(0, 1_000_000).number_or_span)]


class SlicerParams(Model):
    average_bytes: SliceBytes = 64
    delay_us: DelayUs = 100


class _LinkFault(BaseFaultSpec):
    link: LinkName
    for_: PositiveSeconds = Field(alias="for")

    @property
    def target(self) -> dict[str, Any]:
        return {"link": self.link}


class LatencyFault(_LinkFault):
    fault: Literal["latency"]
    params: LatencyParams


class BandwidthFault(_LinkFault):
    fault: Literal["bandwidth"]
    params: BandwidthParams


class TimeoutFault(_LinkFault):
    fault: Literal["timeout"]
    params: NoParams = NoParams()


class ResetPeerFault(_LinkFault):
    fault: Literal["reset_peer"]
    params: ResetPeerParams = ResetPeerParams()


class SlicerFault(_LinkFault):
    fault: Literal["slicer"]
    params: SlicerParams = SlicerParams()


class DownFault(_LinkFault):
    fault: Literal["down"]
    params: NoParams = NoParams()


class PartitionFault(BaseFaultSpec):
    fault: Literal["partition"]
    links: Annotated[tuple[LinkName, ...], Field(min_length=1), AfterValidator(unique)] | None = None
    regions: tuple[RegionName, RegionName] | None = None
    direction: Literal["both", "one-way"] = "both"
    params: NoParams = NoParams()
    for_: PositiveSeconds = Field(alias="for")

    @model_validator(mode="after")
    def _one_target(self) -> PartitionFault:
        if (self.links is None) == (self.regions is None):
            raise ValueError("a partition needs either `links: [caller->callee, ...]` or `regions: [A, B]`")
        if self.regions is not None and self.regions[0] == self.regions[1]:
            raise Problem(("regions",), "regions must be two different regions")
        return self

    @property
    def target(self) -> dict[str, Any]:
        where = {"links": list(self.links)} if self.links is not None else {"regions": list(self.regions or ())}
        return {**where, "direction": self.direction}


def _the_link(where: Where, topology: Topology) -> tuple[str, ...]:
    return (where["link"],)


def partition_links(where: Where, topology: Topology) -> tuple[str, ...]:
    """A partition's links (and their reverse when two-way), or for a region partition every link
    from one region to the other (A->B only when one-way)."""
    one_way = where.get("direction") == "one-way"
    if "regions" in where:
        a, b = where["regions"]
        wanted = {(a, b)} if one_way else {(a, b), (b, a)}
        return tuple(link for link in topology.links
                     if tuple(topology.region_of[s] for s in topology.ends(link)) in wanted)
    chosen = list(where["links"])
    if not one_way:
        chosen += [back for link in chosen if (back := "->".join(reversed(topology.ends(link)))) in topology.links]
    return tuple(dict.fromkeys(chosen))


Draw = Callable[[random.Random, DrawScope], dict[str, Any]]


def _on_a_link(params: Callable[[random.Random], dict[str, Any]] = lambda rng: {}) -> Draw:
    """A random link entry: its parameters drawn first, then the link."""
    def draw(rng: random.Random, scope: DrawScope) -> dict[str, Any]:
        drawn = params(rng)
        return {"link": rng.choice(scope.links), "params": drawn}
    return draw


def _draw_latency(rng: random.Random) -> dict[str, Any]:
    return {"latency_ms": (ms := rng.randint(50, 1500)), "jitter_ms": rng.randint(0, ms // 4)}


def _draw_partition(rng: random.Random, scope: DrawScope) -> dict[str, Any]:
    topology = scope.topology
    if not scope.chosen_links and rng.random() < 0.3 and len(topology.regions) > 1:
        return {"regions": list(topology.regions[:2]), "direction": rng.choice(["both", "one-way"])}
    links = scope.links
    return {"links": rng.sample(list(links), k=min(len(links), rng.randint(1, 2))),
            "direction": rng.choice(["both", "one-way"])}


def _halts_on_margin_link(where: Where, params: Mapping[str, Any], facts: HaltFacts) -> bool:
    return facts.on_margin_link(_links_of(where, facts.topology))


def _links_of(where: Where, topology: Topology) -> tuple[str, ...]:
    return _the_link(where, topology) if "link" in where else partition_links(where, topology)


def _latency_halts(where: Where, params: Mapping[str, Any], facts: HaltFacts) -> bool:
    """Slower than the risk budget's p99 on the margin link."""
    return facts.on_margin_link(_the_link(where, facts.topology)) and int(params.get("latency_ms", 0)) > int(facts.p99_ms)


def _toxic(name: str, model: type[BaseFaultSpec], draw: Draw, toxic: Toxic, **extra: Any) -> FaultKind:
    return FaultKind(name, model, draw, implementations=dict.fromkeys(_EVERY_BACKEND, _TOXIC), healers=_HEAL_TOXIC,
                     links=_the_link, toxic=toxic, **extra)


# What comes back is slowed, throttled, sliced or cut; a black hole swallows the requests (upstream).
LATENCY = _toxic("latency", LatencyFault, _on_a_link(_draw_latency),
                 Toxic("latency", "downstream", lambda p: {"latency": int(p.get("latency_ms", 0)),
                                                           "jitter": int(p.get("jitter_ms", 0))}),
                 expects_um_halt=_latency_halts,
                 chaos_mesh=ChaosMesh("NetworkChaos", lambda p: {"action": "delay", "delay": {
                     "latency": f"{int(p.get('latency_ms', 0))}ms", "jitter": f"{int(p.get('jitter_ms', 0))}ms"}}))
BANDWIDTH = _toxic("bandwidth", BandwidthFault, _on_a_link(lambda rng: {"rate_kbps": rng.randint(8, 256)}),
                   Toxic("bandwidth", "downstream", lambda p: {"rate": int(p["rate_kbps"])}),
                   chaos_mesh=ChaosMesh("NetworkChaos", lambda p: {"action": "bandwidth", "bandwidth": {
                       "rate": f"{int(p['rate_kbps'])}kbps", "limit": 20971520, "buffer": 10000}}))
TIMEOUT = _toxic("timeout", TimeoutFault, _on_a_link(), Toxic("timeout", "upstream", lambda p: {"timeout": 0}),
                 expects_um_halt=_halts_on_margin_link,
                 chaos_mesh=ChaosMesh("NetworkChaos", lambda p: {"action": "loss", "loss": {"loss": "100"}},
                                      "every packet to the callee dropped: requests hang, as into a black hole"))
RESET_PEER = _toxic("reset_peer", ResetPeerFault, _on_a_link(lambda rng: {"timeout_ms": rng.randint(0, 500)}),
                    Toxic("reset_peer", "downstream", lambda p: {"timeout": int(p.get("timeout_ms", 0))}),
                    expects_um_halt=_halts_on_margin_link)
# Answers cut into small pieces with a pause between them: every byte arrives, late and in bits
# (a congested or misbehaving middlebox); what must cope is the caller's reading of partial answers.
SLICER = _toxic("slicer", SlicerFault,
                _on_a_link(lambda rng: {"average_bytes": rng.randint(1, 512), "delay_us": rng.randint(0, 2000)}),
                Toxic("slicer", "downstream", lambda p: {"average_size": int(p.get("average_bytes", 64)),
                                                         "size_variation": int(p.get("average_bytes", 64)) // 2,
                                                         "delay": int(p.get("delay_us", 100))}))
_CUT = ChaosMesh("NetworkChaos", lambda p: {"action": "partition"},
                 "packets dropped, not refused: a caller times out where a closed port would refuse it")
DOWN = FaultKind("down", DownFault, _on_a_link(), implementations=dict.fromkeys(_EVERY_BACKEND, _LINK_DOWN),
                 healers=_HEAL_ENABLE, links=_the_link, expects_um_halt=_halts_on_margin_link, chaos_mesh=_CUT)
PARTITION = FaultKind(
    "partition", PartitionFault, _draw_partition,
    implementations={"local": _LINK_DOWN, "docker": "harness.faults.containers:ContainerPartition",
                     "external": _LINK_DOWN},
    healers={**_HEAL_ENABLE, "docker_reconnect": "harness.faults.containers:docker_reconnect"},
    links=partition_links, expects_um_halt=_halts_on_margin_link, chaos_mesh=_CUT)
