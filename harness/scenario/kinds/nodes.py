"""Faults on a service's process or host: kill (power loss of a host), pause (a frozen host),
region_power_loss (every host of a region at once), clock_skew (a node's clock) and netem (a
host's network card delaying and dropping packets: needs hosts of their own, the docker
backend). Implemented in ``harness.faults.process``, ``target`` and, on docker, ``containers``."""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field, model_validator

from harness.scenario.kinds.base import (
    BaseFaultSpec,
    ChaosMesh,
    DrawScope,
    FaultKind,
    HaltFacts,
    NoParams,
    Where,
)
from harness.scenario.values import (
    DelayMs,
    LossPct,
    Model,
    OffsetMs,
    Param,
    PositiveSeconds,
    RegionName,
    ServiceName,
    Span,
)
from harness.targets import Topology

__all__ = ["CLOCK_SKEW", "KILL", "NETEM", "PAUSE", "REGION_POWER_LOSS"]

_NO_HEAL = {"none": "harness.faults.base:heal_nothing"}


class ClockSkewParams(Model):
    offset_ms: OffsetMs


def _upper(value: Param) -> float:
    return float(value.max if isinstance(value, Span) else value)


class NetemParams(Model):
    """A host's network card misbehaving (``tc netem``): every packet it sends is delayed, and a
    share of them lost. Needs hosts with their own network stack: the docker backend."""

    delay_ms: DelayMs = 0
    jitter_ms: DelayMs = 0
    loss_pct: LossPct = 0

    @model_validator(mode="after")
    def _does_something(self) -> NetemParams:
        if _upper(self.delay_ms) <= 0 and _upper(self.loss_pct) <= 0:
            raise ValueError("netem needs delay_ms or loss_pct above 0")
        return self


class _ServiceFault(BaseFaultSpec):
    service: ServiceName

    @property
    def target(self) -> dict[str, Any]:
        return {"service": self.service}


class KillFault(_ServiceFault):
    fault: Literal["kill"]
    params: NoParams = NoParams()
    for_: PositiveSeconds | None = Field(None, alias="for")  # given: restarted when it ends


class PauseFault(_ServiceFault):
    fault: Literal["pause"]
    params: NoParams = NoParams()
    for_: PositiveSeconds = Field(alias="for")


class ClockSkewFault(_ServiceFault):
    fault: Literal["clock_skew"]
    params: ClockSkewParams
    for_: PositiveSeconds = Field(alias="for")


class NetemFault(_ServiceFault):
    fault: Literal["netem"]
    params: NetemParams
    for_: PositiveSeconds = Field(alias="for")


class RegionPowerLossFault(BaseFaultSpec):
    fault: Literal["region_power_loss"]
    region: RegionName
    params: NoParams = NoParams()
    for_: PositiveSeconds | None = Field(None, alias="for")  # given: power back when it ends

    @property
    def target(self) -> dict[str, Any]:
        return {"region": self.region}


def _the_service(where: Where, topology: Topology) -> tuple[str, ...]:
    return (where["service"],)


def _the_region(where: Where, topology: Topology) -> tuple[str, ...]:
    return topology.in_region(where["region"])


def _loses_margin(where: Where, params: Mapping[str, Any], facts: HaltFacts) -> bool:
    return facts.loses_margin(_the_service(where, facts.topology))


def _a_service(rng: random.Random, scope: DrawScope) -> dict[str, Any]:
    return {"service": rng.choice(scope.services)}


def _draw_skew(rng: random.Random, scope: DrawScope) -> dict[str, Any]:
    return {"service": rng.choice(scope.services), "params": {"offset_ms": rng.choice([-1, 1]) * rng.randint(200, 5000)}}


def _draw_netem(rng: random.Random, scope: DrawScope) -> dict[str, Any]:
    return {"service": rng.choice(scope.services),
            "params": {"delay_ms": rng.choice([0, rng.randint(20, 500)]), "loss_pct": rng.randint(1, 30)}}


def _no_region_to_lose(scope: DrawScope) -> str | None:
    return None if scope.power_loss_regions else ("no region has all its services in `services:`, "
                                                  "so a region power loss would touch others")


_EVERY_BACKEND = ("local", "docker", "external")
_PAUSE = "harness.faults.process:Pause"
_POWER_LOSS = "harness.faults.process:RegionPowerLoss"

KILL = FaultKind("kill", KillFault, _a_service,
                 implementations=dict.fromkeys(_EVERY_BACKEND, "harness.faults.process:Kill"), healers=_NO_HEAL,
                 services=_the_service, takes_down=True, process_need="restart", expects_um_halt=_loses_margin,
                 chaos_mesh=ChaosMesh("PodChaos", lambda p: {"action": "pod-kill"},
                                      "its pods are killed; their Deployment, not the harness, starts new ones",
                                      lasting=False))
PAUSE = FaultKind("pause", PauseFault, _a_service,
                  implementations={"local": _PAUSE, "docker": "harness.faults.containers:ContainerPause",
                                   "external": _PAUSE},
                  healers={"sigcont": "harness.faults.process:heal_sigcont",
                           "docker_unpause": "harness.faults.containers:docker_unpause"},
                  services=_the_service, process_need="signal", expects_um_halt=_loses_margin,
                  chaos_mesh=ChaosMesh("PodChaos", lambda p: {"action": "pod-failure"},
                                       "Chaos Mesh cannot freeze a process: its pods fail for the time instead"))
REGION_POWER_LOSS = FaultKind(
    "region_power_loss", RegionPowerLossFault, lambda rng, scope: {"region": rng.choice(scope.power_loss_regions)},
    implementations={"local": _POWER_LOSS, "docker": "harness.faults.containers:ContainerRegionPowerLoss",
                     "external": _POWER_LOSS},
    healers=_NO_HEAL, services=_the_region, takes_down=True, process_need="restart",
    undrawable=_no_region_to_lose,  # matching itself is gone: no halt
    rto_from="inject",  # the standby region must take over while this one is down
    chaos_mesh=ChaosMesh("PodChaos", lambda p: {"action": "pod-failure"}, "every pod of the region fails at once"))
CLOCK_SKEW = FaultKind("clock_skew", ClockSkewFault, _draw_skew,
                       implementations=dict.fromkeys(_EVERY_BACKEND, "harness.faults.target_inputs:ClockSkew"),
                       healers={"clock": "harness.faults.target_inputs:heal_clock"}, services=_the_service,
                       process_need="own_target",
                       chaos_mesh=ChaosMesh("TimeChaos", lambda p: {"timeOffset": f"{int(p['offset_ms'])}ms"}))
NETEM = FaultKind("netem", NetemFault, _draw_netem,
                  implementations={"docker": "harness.faults.containers:ContainerNetem"},
                  healers={"docker_netem_clear": "harness.faults.containers:docker_netem_clear"},
                  services=_the_service, expects_um_halt=_loses_margin,
                  chaos_mesh=ChaosMesh("NetworkChaos", lambda p: {"action": "netem", "netem": {
                      "delay": {"latency": f"{int(p.get('delay_ms', 0))}ms", "jitter": f"{int(p.get('jitter_ms', 0))}ms"},
                      "loss": {"loss": f"{float(p.get('loss_pct', 0)):g}"}}}))
