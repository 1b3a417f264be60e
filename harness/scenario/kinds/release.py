"""A release during the run: ``deploy`` rolls a service of the target to another of its builds,
through the target's own rollout, and leaves the target's deploy controller to watch it (and
roll it back if it hurts UM). An event, not a window: nothing for the harness to heal once it has
served (a rollback is the target's to do, and the checks judge whether it did); a rollout that
fails leaves the old build serving. Implemented in ``harness.faults.release``; a target offers it
by listing its builds (``TargetInfo.builds``) and a running instance that ``Releases``."""

from __future__ import annotations

import random
from typing import Any, Literal

from pydantic import Field, ValidationInfo, model_validator

from harness.scenario.kinds.base import BaseFaultSpec, DrawScope, FaultKind, Where
from harness.scenario.values import Model, Problem, ServiceName, Text, one_of, target_of
from harness.targets import Topology

__all__ = ["DEPLOY"]

DEFAULT_WATCH_S = 10.0


class DeployParams(Model):
    build: Text  # one of the target's builds of the service
    watch_s: float = Field(DEFAULT_WATCH_S, ge=0, le=3600)  # the controller's watch window; 0: pushed unwatched


class DeployFault(BaseFaultSpec):
    fault: Literal["deploy"]
    service: ServiceName
    params: DeployParams

    @property
    def target(self) -> dict[str, Any]:
        return {"service": self.service}

    @model_validator(mode="after")
    def _a_known_build(self, info: ValidationInfo) -> DeployFault:
        target = target_of(info)
        builds: tuple[str, ...] = tuple(target.builds.get(self.service, ()))
        if not builds:
            raise Problem(("service",), f"target {target.name} has no builds of {self.service} to release")
        try:
            one_of(builds, "build", f" of {self.service}")(self.params.build)
        except ValueError as exc:
            raise Problem(("params", "build"), str(exc)) from None
        return self


def _the_service(where: Where, topology: Topology) -> tuple[str, ...]:
    return (where["service"],)


def _no_builds(scope: DrawScope) -> str | None:
    return None if scope.builds else "the target lists no builds of the chosen services to release"


def _draw(rng: random.Random, scope: DrawScope) -> dict[str, Any]:
    """A release of any build of a service that has some, watched or pushed by hand."""
    service = rng.choice(sorted(scope.builds))
    return {"service": service, "params": {"build": rng.choice(scope.builds[service]),
                                           "watch_s": rng.choice([0.0, 5.0, DEFAULT_WATCH_S])}}


DEPLOY = FaultKind("deploy", DeployFault, _draw,
                   implementations=dict.fromkeys(("local", "docker"), "harness.faults.release:Deploy"),
                   healers={"none": "harness.faults.base:heal_nothing"},
                   services=_the_service, instant=True, band_colour="#8250df",
                   undrawable=_no_builds, probes_versions=True)
