"""Hardware faults on the docker backend, where each service is a host (a container).

kill and restart need nothing of their own (the backend's process control kills and starts
containers); what differs is pause (the cgroup freezer, not SIGSTOP, so landing is read from the
engine) and region power loss (every host of the region at one instant). Healers work from the
journal entry alone, through the engine, so a later ``umchaos cleanup`` can thaw a frozen host.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harness.faults.base import HEALERS, FaultEnv, Landing, register
from harness.faults.process import RegionPowerLoss
from harness.schedule import ScheduledFault

__all__ = ["ContainerPause", "ContainerRegionPowerLoss", "ContainerPartition"]


@register("pause", backend="docker")
@dataclass
class ContainerPause:
    spec: ScheduledFault
    env: FaultEnv

    def describe(self) -> str:
        return f"pause host {self.spec.target['service']}"

    def expect_um_halt(self) -> bool:
        return self.spec.target["service"] == "margin"

    def journal_entry(self) -> dict[str, Any]:
        container = self.env.processes.container(self.spec.target["service"])  # type: ignore[attr-defined]
        return {"heal": "docker_unpause", "container": container.id}

    def inject(self) -> Landing:
        service = self.spec.target["service"]
        self.env.processes.pause(service)
        status = self.env.processes.status(service)  # type: ignore[attr-defined]
        return Landing(status == "paused", f"{service} container {status}")

    def heal(self) -> None:
        self.env.processes.resume(self.spec.target["service"])


@register("region_power_loss", backend="docker")
@dataclass
class ContainerRegionPowerLoss(RegionPowerLoss):
    def inject(self) -> Landing:
        self.env.processes.kill_many(self.services)  # type: ignore[attr-defined]
        alive = [s for s in self.services if self.env.processes.alive(s)]
        return Landing(not alive, f"still up: {alive}" if alive else f"powered off: {', '.join(self.services)}")


def _docker_unpause(entry: dict[str, Any]) -> None:
    import docker

    client = docker.from_env(timeout=10)
    try:
        container = client.containers.get(entry["container"])
        if container.status == "paused":
            container.unpause()
    except docker.errors.NotFound:
        pass
    finally:
        client.close()


HEALERS["docker_unpause"] = _docker_unpause


@register("partition", backend="docker")
@dataclass
class ContainerPartition:
    """A two-way cut between regions is a cable pulled: the second region's hosts leave the
    inter-region network. Links, and one-way cuts (a network cannot cut one direction), go
    through Toxiproxy as on the local backend."""

    spec: ScheduledFault
    env: FaultEnv

    def _by_network(self) -> bool:
        return "regions" in self.spec.target and self.spec.target.get("direction", "both") == "both"

    def _links(self) -> Any:
        from harness.faults.links import LinkDown

        return LinkDown(self.spec, self.env)

    @property
    def services(self) -> list[str]:
        cut = self.spec.target["regions"][1]
        return sorted(s for s, r in self.env.regions.items() if r == cut)

    def describe(self) -> str:
        if not self._by_network():
            return str(self._links().describe())
        a, b = self.spec.target["regions"]
        return f"partition regions {a}|{b}: {', '.join(self.services)} off the inter-region network"

    def expect_um_halt(self) -> bool:
        return bool(self._links().expect_um_halt())

    def journal_entry(self) -> dict[str, Any]:
        if not self._by_network():
            return dict(self._links().journal_entry())
        backend = self.env.processes
        return {"heal": "docker_reconnect", "network": backend.networks["x"].id,  # type: ignore[attr-defined]
                "containers": {s: backend.container(s).id for s in self.services}}  # type: ignore[attr-defined]

    def inject(self) -> Landing:
        if not self._by_network():
            return self._links().inject()  # type: ignore[no-any-return]
        backend = self.env.processes
        for service in self.services:
            backend.disconnect(service)  # type: ignore[attr-defined]
        still = [s for s in self.services if backend.connected(s)]  # type: ignore[attr-defined]
        return Landing(not still, f"still connected: {still}" if still else f"disconnected: {', '.join(self.services)}")

    def heal(self) -> None:
        if not self._by_network():
            self._links().heal()
            return
        for service in self.services:
            self.env.processes.reconnect(service)  # type: ignore[attr-defined]


def _docker_reconnect(entry: dict[str, Any]) -> None:
    import docker

    client = docker.from_env(timeout=10)
    try:
        network = client.networks.get(entry["network"])
        for service, container in entry["containers"].items():
            try:
                network.connect(container, aliases=[f"{service}.x"])
            except docker.errors.APIError:
                pass  # already connected, or the container is gone
    except docker.errors.NotFound:
        pass
    finally:
        client.close()


HEALERS["docker_reconnect"] = _docker_reconnect
