"""Hardware faults on the docker backend, where each service is a host (a container).

kill and restart need nothing of their own (the backend's process control kills and starts
containers); what differs is pause (the cgroup freezer, not SIGSTOP, so landing is read from the
engine) and region power loss (every host of the region at one instant), and netem (a host's
network cards delaying and dropping packets, set with tc inside the container's network
namespace). Everything goes through the engine, which may be remote (``DOCKER_HOST``): netem's
commands run in a helper container joined to the host's network namespace. Healers work from the
journal entry alone (it names the engine), so a later ``umchaos cleanup`` can thaw a frozen host.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from harness.backends.docker_engine import OWNER_LABEL, RUN_LABEL, connect
from harness.faults.base import FaultBase, FaultEnv, FaultError, Landing
from harness.faults.process import RegionPowerLoss
from harness.targets.base import ProcessControl

__all__ = ["Hosts", "hosts", "ContainerPause", "ContainerRegionPowerLoss", "ContainerPartition", "ContainerNetem", "docker_netem_clear",
           "docker_reconnect", "docker_unpause"]


@runtime_checkable
class Hosts(ProcessControl, Protocol):
    """What the container faults need of a backend beyond process control: each service a host
    (a container with an id and a status), killed together, cabled to the inter-region network;
    on an engine (``engine``: its ``DOCKER_HOST``) that has an image of network tools."""

    engine: str
    tools_image: str

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
        backend = hosts(self.env)
        return {"heal": "docker_unpause", "engine": backend.engine,
                "container": backend.container_id(self.spec.target["service"])}

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


@contextmanager
def _container_of(entry: dict[str, Any], *, timeout: int = 10) -> Iterator[Any]:
    """The entry's container on the entry's engine, from the journal entry alone; None when it is
    gone (a healer then has nothing to heal)."""
    import docker

    client = connect(entry.get("engine"), timeout=timeout)
    try:
        try:
            container = client.containers.get(entry["container"])
        except docker.errors.NotFound:
            container = None
        yield container
    finally:
        client.close()


def docker_unpause(entry: dict[str, Any]) -> None:
    with _container_of(entry) as container:
        if container is not None and container.status == "paused":
            container.unpause()



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
        return {"heal": "docker_reconnect", "engine": backend.engine, "network": backend.inter_region_network_id(),
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

    client = connect(entry.get("engine"), timeout=10)
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



@dataclass(frozen=True)
class Ran:
    """What one command in a network namespace did."""

    returncode: int
    stdout: str
    stderr: str


Shell = Callable[..., Ran]
HELPER_LIFE_S = 120  # a helper left by a killed harness exits by itself (and carries the run's labels)


@contextmanager
def _netns(entry: dict[str, Any]) -> Iterator[Shell | None]:
    """A shell (ip, tc, iptables) in the network namespace of the entry's container, through its
    engine: a helper container from the tools image joined to that namespace with NET_ADMIN, so
    the target's image needs no tools and the engine may be remote. None: the container is not
    running, and its namespace went with it."""
    import docker

    with _container_of(entry, timeout=30) as target:
        if target is None or not target.attrs["State"]["Running"]:
            yield None
            return
        labels = {k: v for k, v in target.labels.items() if k in (RUN_LABEL, OWNER_LABEL)}
        helper = target.client.containers.run(
            entry["tools"], [str(HELPER_LIFE_S)], entrypoint=["sleep"], detach=True,
            network_mode=f"container:{target.id}", cap_add=["NET_ADMIN"], labels=labels)
        try:
            def shell(*args: str) -> Ran:
                code, (out, err) = helper.exec_run(list(args), demux=True)
                return Ran(code, (out or b"").decode(errors="replace"), (err or b"").decode(errors="replace"))

            yield shell
        finally:
            try:
                helper.remove(force=True)
            except docker.errors.APIError:
                pass  # gone already: it exits by itself


def _interfaces(sh: Shell) -> list[str]:
    """The container's network cards (eth0, eth1...; never lo): one per Docker network it is on."""
    out = sh("ip", "-o", "link", "show").stdout
    names = (line.split(":")[1].strip().split("@")[0] for line in out.splitlines() if line.count(":") >= 2)
    return [name for name in names if name != "lo"]


# Loss without netem: the same random egress drop, by iptables' statistic match (tagged, so the
# healer removes exactly this rule and nothing of the image's own).
LOSS_TAG = "umchaos-netem-loss"


def _loss_rule(action: str, dev: str, loss_pct: float) -> list[str]:
    return ["iptables", "-w", action, "OUTPUT", "-o", dev, "-m", "statistic", "--mode", "random",
            "--probability", f"{loss_pct / 100:.4f}", "-m", "comment", "--comment", LOSS_TAG, "-j", "DROP"]


def _netem_clear(sh: Shell) -> None:
    for dev in _interfaces(sh):
        sh("tc", "qdisc", "del", "dev", dev, "root")  # "no such qdisc" is fine: already clear
    for rule in sh("iptables", "-w", "-S", "OUTPUT").stdout.splitlines():
        if LOSS_TAG in rule and rule.startswith("-A "):
            sh("iptables", "-w", "-D", *shlex.split(rule)[1:])


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

    def journal_entry(self) -> dict[str, Any]:
        backend = hosts(self.env)
        return {"heal": "docker_netem_clear", "engine": backend.engine, "tools": backend.tools_image,
                "container": backend.container_id(self.spec.target["service"])}

    def inject(self) -> Landing:
        with _netns(self.journal_entry()) as sh:
            if sh is None:
                raise FaultError(f"fault {self.spec.id}: host {self.spec.target['service']} is not running")
            return self._inject(sh)

    def _inject(self, sh: Shell) -> Landing:
        p = self.spec.params
        delay, jitter, loss = p.get("delay_ms", 0), p.get("jitter_ms", 0), p.get("loss_pct", 0)
        rule = ["netem", "delay", f"{delay}ms", f"{jitter}ms", "loss", f"{loss}%"]
        devices = _interfaces(sh)
        by_iptables = False
        for dev in devices:
            done = sh("tc", "qdisc", "replace", "dev", dev, "root", *rule)
            if done.returncode == 0:
                continue
            if "qdisc kind is unknown" not in done.stderr:
                raise FaultError(f"fault {self.spec.id}: tc on {dev}: {done.stderr.strip()}")
            if delay:
                raise FaultError(f"fault {self.spec.id}: this kernel has no netem qdisc (CONFIG_NET_SCH_NETEM), so a "
                                 f"host cannot be delayed here; use `fault: latency` on the links into "
                                 f"{self.spec.target['service']}, or loss_pct alone")
            added = sh(*_loss_rule("-A", dev, loss))
            if added.returncode != 0:
                raise FaultError(f"fault {self.spec.id}: iptables on {dev}: {added.stderr.strip()}")
            by_iptables = True
        how = (f"loss {loss}% by iptables (no netem in this kernel)" if by_iptables else "tc " + " ".join(rule))
        return self._read_back(sh, devices, by_iptables, how)

    def _read_back(self, sh: Shell, devices: list[str], by_iptables: bool, how: str) -> Landing:
        """Landed only if every card shows the rule when asked again."""
        if by_iptables:
            rules = sh("iptables", "-w", "-S", "OUTPUT").stdout
            missing = [dev for dev in devices if f"-o {dev} " not in rules or LOSS_TAG not in rules]
        else:
            missing = [dev for dev in devices if "netem" not in sh("tc", "qdisc", "show", "dev", dev).stdout]
        if not devices or missing:
            return Landing(False, f"rule missing on {missing or 'every card (none found)'}")
        return Landing(True, f"{how} on {', '.join(devices)}")

    def heal(self) -> None:
        docker_netem_clear(self.journal_entry())


def docker_netem_clear(entry: dict[str, Any]) -> None:
    with _netns(entry) as sh:
        if sh is not None:  # a stopped host's network namespace is gone, and its rules with it
            _netem_clear(sh)
