"""Hardware faults on the docker backend, where each service is a host (a container).

kill and restart need nothing of their own (the backend's process control kills and starts
containers); what differs is pause (the cgroup freezer, not SIGSTOP, so landing is read from the
engine) and region power loss (every host of the region at one instant), and netem (a host's network cards
delaying and dropping packets, set with tc inside the container's network namespace). Healers work from the
journal entry alone, through the engine, so a later ``umchaos cleanup`` can thaw a frozen host.
"""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from harness.faults.base import FaultBase, FaultEnv, FaultError, Landing
from harness.faults.process import RegionPowerLoss
from harness.targets.base import ProcessControl

__all__ = ["Hosts", "hosts", "ContainerPause", "ContainerRegionPowerLoss", "ContainerPartition", "ContainerNetem", "docker_netem_clear",
           "docker_reconnect", "docker_unpause"]


@runtime_checkable
class Hosts(ProcessControl, Protocol):
    """What the container faults need of a backend beyond process control: each service a host
    (a container with an id and a status), killed together, cabled to the inter-region network."""

    def container_id(self, service: str) -> str: ...
    def status(self, service: str) -> str: ...
    def kill_many(self, services: list[str]) -> None: ...
    def inter_region_network_id(self) -> str: ...
    def disconnect(self, service: str) -> None: ...
    def reconnect(self, service: str) -> None: ...
    def connected(self, service: str) -> bool: ...


def hosts(env: FaultEnv) -> Hosts:
    if not isinstance(env.processes, Hosts):
        raise FaultError(f"{type(env.processes).__name__} runs no service as a container host")
    return env.processes


@dataclass
class ContainerPause(FaultBase):
    def describe(self) -> str:
        return f"pause host {self.spec.target['service']}"

    def journal_entry(self) -> dict[str, Any]:
        return {"heal": "docker_unpause", "container": hosts(self.env).container_id(self.spec.target["service"])}

    def inject(self) -> Landing:
        service = self.spec.target["service"]
        self.env.processes.pause(service)
        status = hosts(self.env).status(service)
        return Landing(status == "paused", f"{service} container {status}")

    def heal(self) -> None:
        self.env.processes.resume(self.spec.target["service"])


@dataclass
class ContainerRegionPowerLoss(RegionPowerLoss):
    def inject(self) -> Landing:
        hosts(self.env).kill_many(self.services)
        alive = [s for s in self.services if self.env.processes.alive(s)]
        return Landing(not alive, f"still up: {alive}" if alive else f"powered off: {', '.join(self.services)}")


def _on_container(container_id: str, act: Callable[[Any], None]) -> None:
    """A healer's work on one container, from its journal entry alone: a container gone is healed."""
    import docker

    client = docker.from_env(timeout=10)
    try:
        act(client.containers.get(container_id))
    except docker.errors.NotFound:
        pass
    finally:
        client.close()


def docker_unpause(entry: dict[str, Any]) -> None:
    def thaw(container: Any) -> None:
        if container.status == "paused":
            container.unpause()

    _on_container(entry["container"], thaw)



@dataclass
class ContainerPartition(FaultBase):
    """A two-way cut between regions is a cable pulled: the second region's hosts leave the
    inter-region network. Links, and one-way cuts (a network cannot cut one direction), go
    through Toxiproxy as on the local backend."""

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

    def journal_entry(self) -> dict[str, Any]:
        if not self._by_network():
            return dict(self._links().journal_entry())
        backend = hosts(self.env)
        return {"heal": "docker_reconnect", "network": backend.inter_region_network_id(),
                "containers": {s: backend.container_id(s) for s in self.services}}

    def inject(self) -> Landing:
        if not self._by_network():
            return self._links().inject()  # type: ignore[no-any-return]
        backend = hosts(self.env)
        for service in self.services:
            backend.disconnect(service)
        still = [s for s in self.services if backend.connected(s)]
        return Landing(not still, f"still connected: {still}" if still else f"disconnected: {', '.join(self.services)}")

    def heal(self) -> None:
        if not self._by_network():
            self._links().heal()
            return
        for service in self.services:
            hosts(self.env).reconnect(service)


def docker_reconnect(entry: dict[str, Any]) -> None:
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



def _in_netns(pid: int, *args: str) -> subprocess.CompletedProcess[str]:
    """Run a host command (ip, tc, iptables) inside a container's network namespace: nsenter, so
    the image needs no tools and no capabilities of its own."""
    return subprocess.run(["nsenter", "-t", str(pid), "-n", *args], capture_output=True, text=True, timeout=10)


def _interfaces(pid: int) -> list[str]:
    """The container's network cards (eth0, eth1...; never lo): one per Docker network it is on."""
    out = _in_netns(pid, "ip", "-o", "link", "show").stdout
    names = (line.split(":")[1].strip().split("@")[0] for line in out.splitlines() if line.count(":") >= 2)
    return [name for name in names if name != "lo"]


# Loss without netem: the same random egress drop, by iptables' statistic match (tagged, so the
# healer removes exactly this rule and nothing of the image's own).
LOSS_TAG = "umchaos-netem-loss"


def _loss_rule(action: str, dev: str, loss_pct: float) -> list[str]:
    return ["iptables", "-w", action, "OUTPUT", "-o", dev, "-m", "statistic", "--mode", "random",
            "--probability", f"{loss_pct / 100:.4f}", "-m", "comment", "--comment", LOSS_TAG, "-j", "DROP"]


def _netem_clear(pid: int) -> None:
    for dev in _interfaces(pid):
        _in_netns(pid, "tc", "qdisc", "del", "dev", dev, "root")  # "no such qdisc" is fine: already clear
    rules = _in_netns(pid, "iptables", "-w", "-S", "OUTPUT").stdout.splitlines()
    for rule in rules:
        if LOSS_TAG in rule and rule.startswith("-A "):
            _in_netns(pid, "iptables", "-w", "-D", *shlex.split(rule)[1:])


@dataclass
class ContainerNetem(FaultBase):
    """A host's network card delaying and dropping what it sends (``tc netem`` on every card of
    the container): unlike a Toxiproxy toxic it hits every connection, TCP retransmits included.
    A kernel built without netem (some VMs) still gets the loss, by iptables; a delay there is
    refused with the reason rather than faked."""

    def describe(self) -> str:
        p = self.spec.params
        return (f"netem on host {self.spec.target['service']}: delay {p.get('delay_ms', 0)} ms "
                f"± {p.get('jitter_ms', 0)} ms, loss {p.get('loss_pct', 0)} %")

    def _pid(self) -> int:
        pid = self.env.processes.pid(self.spec.target["service"])
        if pid is None:
            raise FaultError(f"fault {self.spec.id}: host {self.spec.target['service']} is not running")
        return pid

    def journal_entry(self) -> dict[str, Any]:
        return {"heal": "docker_netem_clear", "container": hosts(self.env).container_id(self.spec.target["service"])}

    def inject(self) -> Landing:
        pid, p = self._pid(), self.spec.params
        delay, jitter, loss = p.get("delay_ms", 0), p.get("jitter_ms", 0), p.get("loss_pct", 0)
        rule = ["netem", "delay", f"{delay}ms", f"{jitter}ms", "loss", f"{loss}%"]
        devices = _interfaces(pid)
        by_iptables = False
        for dev in devices:
            done = _in_netns(pid, "tc", "qdisc", "replace", "dev", dev, "root", *rule)
            if done.returncode == 0:
                continue
            if "qdisc kind is unknown" not in done.stderr:
                raise FaultError(f"fault {self.spec.id}: tc on {dev}: {done.stderr.strip()}")
            if delay:
                raise FaultError(f"fault {self.spec.id}: this kernel has no netem qdisc (CONFIG_NET_SCH_NETEM), so a "
                                 f"host cannot be delayed here; use `fault: latency` on the links into "
                                 f"{self.spec.target['service']}, or loss_pct alone")
            added = _in_netns(pid, *_loss_rule("-A", dev, loss))
            if added.returncode != 0:
                raise FaultError(f"fault {self.spec.id}: iptables on {dev}: {added.stderr.strip()}")
            by_iptables = True
        how = (f"loss {loss}% by iptables (no netem in this kernel)" if by_iptables else "tc " + " ".join(rule))
        return self._read_back(pid, devices, by_iptables, how)

    def _read_back(self, pid: int, devices: list[str], by_iptables: bool, how: str) -> Landing:
        """Landed only if every card shows the rule when asked again."""
        if by_iptables:
            rules = _in_netns(pid, "iptables", "-w", "-S", "OUTPUT").stdout
            missing = [dev for dev in devices if f"-o {dev} " not in rules or LOSS_TAG not in rules]
        else:
            missing = [dev for dev in devices if "netem" not in _in_netns(pid, "tc", "qdisc", "show", "dev", dev).stdout]
        if not devices or missing:
            return Landing(False, f"rule missing on {missing or 'every card (none found)'}")
        return Landing(True, f"{how} on {', '.join(devices)}")

    def heal(self) -> None:
        pid = self.env.processes.pid(self.spec.target["service"])
        if pid is not None:
            _netem_clear(pid)


def docker_netem_clear(entry: dict[str, Any]) -> None:
    def clear(container: Any) -> None:
        if pid := container.attrs["State"]["Pid"]:  # 0: stopped, its network namespace gone with it
            _netem_clear(int(pid))

    _on_container(entry["container"], clear)

