"""A release during the run (``deploy``): the service is rolled to the named build by the
target's own rollout; the target's deploy controller watches it from then on. Landed when the
target says the new build serves; the version probe (``harness.load.versions``) records what
actually answered, for the checks. Nothing to heal: a failed rollout leaves the old build serving
(the target's promise, which the probe holds it to), and a rollback is the target's to make."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harness.faults.base import FaultBase, FaultError, Landing
from harness.targets.base import Releases, TargetError

__all__ = ["Deploy"]


@dataclass
class Deploy(FaultBase):
    def describe(self) -> str:
        return f"deploy {self.spec.target['service']} {self.spec.params['build']}"

    def journal_entry(self) -> dict[str, Any]:
        return {"heal": "none"}  # the target's processes are the run's resources: stopped with it

    def inject(self) -> Landing:
        service, params = self.spec.target["service"], self.spec.params
        if not isinstance(self.env.processes, Releases):
            raise FaultError(f"{self.spec.id}: this backend cannot release {service}")
        try:
            detail = self.env.processes.deploy(service, str(params["build"]), float(params.get("watch_s", 0)))
        except TargetError as exc:
            raise FaultError(f"{self.spec.id}: release of {service} {params['build']} failed, the old build serves on: "
                             f"{exc}") from None
        return Landing(True, detail)

    def heal(self) -> None:
        return None
