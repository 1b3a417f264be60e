"""The docker backend: each of the target's services a container, each region its own network.

Networks: one per region (``A``, ``B``) for traffic inside a region, and one inter-region network
that carries every cross-region call, so that cutting a region off is a network disconnect of its
hosts. Toxiproxy runs as a container on all three, for the links a schedule may fault. Every
object carries the labels ``umchaos.run`` (run id) and ``umchaos.owner`` (pid of the harness), so
two runs never touch each other's objects and ``umchaos cleanup`` finds those of dead runs. The
engine may be remote (``DOCKER_HOST``, see ``docker_engine``): host ports are published on the
engine host's address only (127.0.0.1 for a local engine), and nothing is bind-mounted from this
machine; each service's config is copied into its container. Each service's data folder is a
named volume: a killed container (power loss) comes back with its ledger. The target says what
each container runs (its ``ContainerLauncher``); the backend decides the networks, the names and
which links are proxied.
"""

from __future__ import annotations

import io
import logging
import os
import shutil
import tarfile
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import requests

from harness.backends.base import BackendSpec, RunningTarget, write_accounts
from harness.backends.docker_engine import (
    OWNER_LABEL,
    RUN_LABEL,
    connect,
    current_engine,
    published_host,
)
from harness.errors import BadInput, Undecided
from harness.faults.network import ProxyNet
from harness.http import target_session
from harness.net import base_url, free_ports
from harness.safety import target_allowed
from harness.targets import ContainerLauncher
from harness.targets.base import ContainerRecipe, Deployment, Readiness, TargetError

if TYPE_CHECKING:
    import docker

    from harness.backends.docker_release import ContainerReleases

__all__ = ["DockerBackend", "remove_run", "remove_dead_runs", "INTER_REGION"]

log = logging.getLogger("umchaos.docker")
SERVICE_PORT = 8000
TOXIPROXY_API_PORT = 8474
FIRST_PROXY_PORT = 20000
INTER_REGION = "x"
PORT_TAKEN = ("port is already allocated", "address already in use")  # the engine's words for a host port in use
START_ATTEMPTS = 3


def _alias(service: str, net: str) -> str:
    """The DNS name of a host on one network: the same service has one name per network."""
    return f"{service}.{net.lower()}"


class DockerBackend:
    name = "docker"

    def __init__(self, spec: BackendSpec, *, toxiproxy_image: str | None = None) -> None:
        from harness.backends.docker_install import images_tag

        self.engine = current_engine()
        self.host = self.preflight(spec.allow_targets)  # where this engine's published ports are reached
        self.spec = spec
        self.tag = images_tag()
        self.toxiproxy_image = toxiproxy_image or f"umchaos/toxiproxy:{self.tag}"
        # The network faults' tools (ip, tc, iptables) run from this image: built on the base image,
        # which carries them, and needed by every docker run anyway.
        self.tools_image = self.toxiproxy_image
        self.client: docker.DockerClient | None = None
        self.prefix = f"umc-{spec.run_id}"
        self.labels = {RUN_LABEL: spec.run_id, OWNER_LABEL: str(os.getpid())}
        self.containers: dict[str, Any] = {}
        self.networks: dict[str, Any] = {}
        self.proxies: ProxyNet | None = None
        self.host_ports: dict[str, int] = {}
        self.cfg_dir = Path(tempfile.mkdtemp(prefix=f"umchaos-{spec.run_id}-"))
        self.readiness: Readiness | None = None
        self.recipe: ContainerRecipe | None = None  # what up() started, for a release's new containers
        self.image = ""
        self.seen: Deployment | None = None  # the deployment as the harness reaches it
        self.releases: ContainerReleases | None = None
        self.services: dict[str, str] = {}  # service -> direct URL, the RunningTarget's: a release moves one

    @staticmethod
    def preflight(allow_targets: tuple[str, ...]) -> str:
        """Before anything starts: the engine's host, which must be loopback or in allow_targets
        (everything the run sends goes there)."""
        engine = current_engine()
        host = published_host(engine)
        if not target_allowed(host, allow_targets):
            raise BadInput(f"DOCKER_HOST={engine}: the engine's host {host} is outside loopback; "
                           "list it under allow_targets: to run there")
        return host

    # ---- start / stop -------------------------------------------------------------------
    def _docker(self) -> docker.DockerClient:
        if self.client is None:
            self.client = connect(self.engine)
        return self.client

    def _net_name(self, net: str) -> str:
        return f"{self.prefix}-{net}"

    def _launcher(self) -> ContainerLauncher:
        system = self.spec.system
        if not isinstance(system, ContainerLauncher):
            raise BadInput(f"target {system.name} cannot be started on the docker backend")
        return system

    def up(self) -> RunningTarget:
        from harness.backends.docker_install import build_image

        spec = self.spec
        launcher, topology = self._launcher(), spec.system.topology
        client = self._docker()
        deployment = Deployment(data_dir=self.cfg_dir, logs_dir=spec.run_dir / "logs", host="0.0.0.0",
                                ports={name: SERVICE_PORT for name in topology.services}, bugs=spec.bugs,
                                risk=spec.risk, seed=spec.seed)
        image = f"{launcher.container_recipe(deployment).image}:{self.tag}"
        builds = [build_image(image, service, build) for service, build in spec.releases]
        for ref in (image, self.toxiproxy_image, *builds):  # before anything starts, a release's image too
            try:
                client.images.get(ref)
            except Exception:
                raise Undecided(f"image {ref} missing; run `umchaos setup --docker`") from None
        spec.resources.add_resource("docker", {"remove": f"{__name__}:remove_run", "engine": self.engine})  # by label
        for net in (*topology.regions, INTER_REGION):
            self.networks[net] = client.networks.create(self._net_name(net), driver="bridge", labels=self.labels)
        needed = spec.proxied_links
        proxied = self._start_toxiproxy(needed) if needed else {}
        dial = {link: proxied.get(link, f"http://{self._peer_host(*topology.ends(link))}:{SERVICE_PORT}")
                for link in topology.links}
        try:
            recipe = launcher.container_recipe(replace(deployment, dial=dial))
        except TargetError as exc:
            raise BadInput(str(exc)) from None
        started = time.monotonic()
        self._start_services(topology.services, recipe, image)
        self.recipe, self.image = recipe, image
        self.seen = replace(deployment, host=self.host, ports=dict(self.host_ports), dial=proxied)
        readiness = self.readiness = launcher.attach(self.seen, self._exited)
        try:
            readiness.wait_healthy(topology.services, deadline=time.monotonic() + 30)
            readiness.wait_calm(deadline=time.monotonic() + 30)
            readiness.bootstrap()
        except TargetError as exc:
            raise Undecided(f"target never became ready on docker: {exc}") from None
        log.info("%s up on docker in %.2f s with %d proxied link(s)", spec.system.name,
                 time.monotonic() - started, len(proxied))
        addresses = readiness.addresses()
        front = addresses.front(topology)
        self.services = dict(addresses.services)
        return RunningTarget(front=front, services=self.services, regions=dict(topology.region_of),
                      accounts=addresses.accounts,
                      accounts_file=write_accounts(self.cfg_dir / "accounts.json", front, addresses.accounts),
                      proxies=self.proxies, links={link: f"toxiproxy:{link}" for link in proxied},
                      risk=spec.risk)

    def _exited(self, service: str) -> str | None:
        if self.alive(service):
            return None
        return f"container of {service} exited during start: {self.log_tail(service)}"

    def _start_toxiproxy(self, needed: tuple[str, ...]) -> dict[str, str]:
        """Toxiproxy on every network; callers reach it by its alias on their own region's network."""
        client = self._docker()
        topology = self.spec.system.topology
        container = client.containers.create(
            self.toxiproxy_image, name=f"{self.prefix}-toxiproxy", labels=self.labels, detach=True,
            network=self._net_name(INTER_REGION), ports={f"{TOXIPROXY_API_PORT}/tcp": (self.host, None)},
        )
        for net in topology.regions:
            self.networks[net].connect(container, aliases=[_alias("toxiproxy", net)])
        container.start()
        self.containers["toxiproxy"] = container
        api = base_url(self.host, self._published(container, TOXIPROXY_API_PORT))
        deadline = time.monotonic() + 15
        with target_session() as http:
            while True:
                try:
                    http.get(api + "/version", timeout=0.5).raise_for_status()
                    break
                except requests.RequestException:
                    if time.monotonic() > deadline:
                        raise Undecided("toxiproxy container did not answer within 15 s") from None
                    time.sleep(0.05)
        self.proxies = ProxyNet(api, run_id=self.spec.run_id)
        links: dict[str, str] = {}
        for i, link in enumerate(needed):
            caller, callee = topology.ends(link)
            port = FIRST_PROXY_PORT + topology.links.index(link) if link in topology.links else FIRST_PROXY_PORT + 1000 + i
            self.proxies.create_proxy(link, f"{self._peer_host(caller, callee, via_proxy=True)}:{SERVICE_PORT}",
                                      listen=f"0.0.0.0:{port}")
            links[link] = f"http://{_alias('toxiproxy', topology.region_of[caller])}:{port}"
        return links

    def _peer_host(self, caller: str, callee: str, *, via_proxy: bool = False) -> str:
        region_of = self.spec.system.topology.region_of
        if via_proxy or region_of[caller] != region_of[callee]:
            return _alias(callee, INTER_REGION)
        return _alias(callee, region_of[callee])

    def _start_services(self, names: tuple[str, ...], recipe: ContainerRecipe, image: str) -> None:
        """Every service's container created at once, each on a host port of its own, then started
        in the target's order (umref's ledgers' roles depend on it)."""
        with ThreadPoolExecutor(max_workers=len(names)) as pool:
            made = list(pool.map(lambda name, port: (self._create_service(name, recipe, image, port), port),
                                 names, free_ports(len(names))))
        for name, (container, port) in zip(names, made, strict=True):
            self.containers[name], self.host_ports[name] = container, port
        for name in names:  # every port recorded first: one drawn again must avoid the later ones too
            self.containers[name], self.host_ports[name] = self.start_service(
                partial(self._create_service, name, recipe, image), made=(self.containers[name], self.host_ports[name]))

    def start_service(self, make: Callable[[int], Any], *, made: tuple[Any, int] | None = None) -> tuple[Any, int]:
        """A service's container started, and the host port it publishes on: ``made`` (created
        ahead on its port), else one ``make`` creates on a free port. When the engine finds the port
        taken (by another program since the draw, or not yet released from a removed container),
        the container is made again on another."""
        import docker.errors

        container, port = made or (None, 0)
        for attempt in range(1, START_ATTEMPTS + 1):
            if container is None:
                port = self.free_host_port()
                container = make(port)
            try:
                container.start()
                return container, port
            except docker.errors.APIError as exc:
                if attempt == START_ATTEMPTS or not any(taken in str(exc) for taken in PORT_TAKEN):
                    raise
                log.warning("host port %d taken at the start of %s; drawing another", port, container.name)
                container.remove(force=True)
                container = None
        raise AssertionError("unreachable")

    def free_host_port(self) -> int:
        """A free port that none of the run's containers publishes on."""
        return free_ports(1, avoid=set(self.host_ports.values()))[0]

    def _create_service(self, name: str, recipe: ContainerRecipe, image: str, host_port: int, *,
                        suffix: str = "") -> Any:
        """The service's container, created (not started) on its networks under its aliases,
        publishing on ``host_port``; ``suffix``: a release's second container of one service."""
        client = self._docker()
        region = self.spec.system.topology.region_of[name]
        volume = client.volumes.create(f"{self.prefix}-{name}-data", labels=self.labels)
        # A fixed host port, chosen by the harness: a restarted container keeps its address (the
        # load generator and the audit keep using it), which a port left to the engine would not.
        container = client.containers.create(
            image, list(recipe.commands[name]),
            name=f"{self.prefix}-{name}{suffix}", hostname=name, labels={**self.labels, "umchaos.service": name},
            detach=True, network=self._net_name(region),
            volumes={volume.name: {"bind": recipe.data_dir, "mode": "rw"}},
            ports={f"{SERVICE_PORT}/tcp": (self.host, host_port)}, cap_add=["NET_ADMIN"],
        )
        container.put_archive("/", _file_tar(recipe.config_path, recipe.configs[name]))
        # docker-py's create() cannot give aliases on the first network: reconnect with them.
        self.networks[region].disconnect(container)
        self.networks[region].connect(container, aliases=[_alias(name, region)])
        self.networks[INTER_REGION].connect(container, aliases=[_alias(name, INTER_REGION)])
        return container

    @staticmethod
    def _published(container: Any, port: int) -> int:
        for _ in range(50):
            container.reload()
            bound = (container.attrs["NetworkSettings"]["Ports"] or {}).get(f"{port}/tcp")
            if bound:
                return int(bound[0]["HostPort"])
            time.sleep(0.05)
        raise Undecided(f"{container.name}: port {port} was not published")

    def wait_ready(self, *, deadline_s: float) -> None:
        try:
            self._readiness().wait_calm(deadline=time.monotonic() + deadline_s)
        except TargetError as exc:
            raise Undecided(f"target not ready within {deadline_s:.0f} s: {exc}") from None

    def down(self) -> None:
        logs = self.spec.run_dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        retired = [(f"{name}-r{i}", c) for i, (name, c) in enumerate(self.releases.retired if self.releases else [], 1)]
        for name, container in [*self.containers.items(), *retired]:  # the services' logs are evidence
            try:
                (logs / f"{name}.log").write_bytes(container.logs())
            except Exception:  # noqa: BLE001 - a container already gone has no logs to keep
                pass
        remove_run(self.spec.run_id, {"engine": self.engine}, client=self.client)
        shutil.rmtree(self.cfg_dir, ignore_errors=True)
        if self.client is not None:
            self.client.close()

    # ---- process control: containers are hosts ------------------------------------------
    def _readiness(self) -> Readiness:
        if self.readiness is None:
            raise Undecided("target is not running")
        return self.readiness

    def container(self, service: str) -> Any:
        try:
            return self.containers[service]
        except KeyError:
            raise Undecided(f"no container for {service}") from None

    def log_tail(self, service: str) -> str:
        try:
            lines = self.container(service).logs(tail=1).decode(errors="replace").strip().splitlines()
        except Exception:  # noqa: BLE001
            return "(no logs)"
        return lines[-1] if lines else "(no output)"

    def kill(self, service: str) -> None:
        """SIGKILL the container: the host loses power (its volume survives)."""
        import docker

        try:
            self.container(service).kill()
        except docker.errors.APIError as exc:
            if self.alive(service):  # only "is not running" is fine: it is already off
                raise Undecided(f"could not kill {service}: {exc}") from None

    def kill_many(self, services: list[str]) -> None:
        """Kill several containers at once (a region's power loss is one instant, not a sequence)."""
        with ThreadPoolExecutor(max_workers=max(1, len(services))) as pool:
            list(pool.map(self.kill, services))

    def pause(self, service: str) -> None:
        self.container(service).pause()

    def resume(self, service: str) -> None:
        container = self.container(service)
        container.reload()
        if container.status == "paused":
            container.unpause()

    def restart(self, service: str) -> None:
        container = self.container(service)
        try:
            if self.alive(service):
                container.kill()
            container.start()
            self._readiness().wait_healthy([service], deadline=time.monotonic() + 15)
        except TargetError as exc:
            raise Undecided(f"could not restart {service}: {exc}") from None

    def deploy(self, service: str, build: str, watch_s: float) -> str:
        """A release: the target's deploy controller, rolling containers (``docker_release``)."""
        from harness.backends.docker_release import ContainerReleases

        if self.releases is None:
            self.releases = ContainerReleases(self)
        return self.releases.deploy(service, build, watch_s)

    def container_id(self, service: str) -> str:
        return str(self.container(service).id)

    def inter_region_network_id(self) -> str:
        return str(self.networks[INTER_REGION].id)

    def disconnect(self, service: str) -> None:
        """Pull the host's inter-region cable: it keeps its own region's network."""
        self.networks[INTER_REGION].disconnect(self.container(service))

    def reconnect(self, service: str) -> None:
        if not self.connected(service):
            self.networks[INTER_REGION].connect(self.container(service), aliases=[_alias(service, INTER_REGION)])

    def connected(self, service: str) -> bool:
        container = self.container(service)
        container.reload()
        return self._net_name(INTER_REGION) in (container.attrs["NetworkSettings"]["Networks"] or {})

    def status(self, service: str) -> str:
        container = self.container(service)
        container.reload()
        return str(container.status)

    def alive(self, service: str) -> bool:
        return self.status(service) in ("running", "paused")

    def pid(self, service: str) -> int | None:
        container = self.container(service)
        container.reload()
        pid = int(container.attrs["State"]["Pid"])
        return pid or None


def _file_tar(path: str, text: str) -> bytes:
    """A tar of one read-only file at ``path`` (its folders are made on extraction)."""
    data = text.encode()
    info = tarfile.TarInfo(path.lstrip("/"))
    info.size, info.mode, info.mtime = len(data), 0o444, int(time.time())
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def remove_run(run_id: str, resource: dict[str, Any] | None = None, *, client: Any = None) -> list[str]:
    """Remove every container, network and volume labelled with this run, on the engine the run
    used (its journal ``resource`` names it); returns what went."""
    own = client is None
    client = client or connect((resource or {}).get("engine"))
    gone: list[str] = []
    flt = {"label": f"{RUN_LABEL}={run_id}"}
    try:
        for container in client.containers.list(all=True, filters=flt):
            container.remove(force=True)
            gone.append(f"container {container.name}")
        for network in client.networks.list(filters=flt):
            if (refused := _remove_network(network)) is None:
                gone.append(f"network {network.name}")
            else:  # the engine's own stale state: said, never a crashed cleanup
                log.error("network %s could not be removed: %s", network.name, refused)
        for volume in client.volumes.list(filters=flt):
            volume.remove(force=True)
            gone.append(f"volume {volume.name}")
    finally:
        if own:
            client.close()
    return gone


def _remove_network(network: Any, tries: int = 20) -> str | None:
    """Remove a network whose containers were just removed; None when it is gone, else the
    engine's last refusal. The engine may drop their endpoints a moment later, so an endpoint
    still listed is disconnected and the removal tried again, a bounded number of times."""
    import docker.errors

    refusal = ""
    for _ in range(tries):
        try:
            network.remove()
            return None
        except docker.errors.NotFound:
            return None
        except docker.errors.APIError as exc:
            refusal = str(exc.explanation or exc)
            if "active endpoints" not in refusal:
                return refusal
        network.reload()
        for container in network.attrs.get("Containers") or {}:
            try:
                network.disconnect(container, force=True)
            except docker.errors.APIError:
                pass  # gone meanwhile, or being removed: the next try tells
        time.sleep(0.1)
    return refusal


def remove_dead_runs() -> list[str]:
    """Objects of runs whose harness process is gone (found by label, not by journal)."""
    from harness.backends.docker_install import engine_answers

    if not engine_answers():
        return []
    client = connect()
    done: list[str] = []
    try:
        runs: dict[str, str] = {}
        for kind in (client.containers.list(all=True, filters={"label": RUN_LABEL}),
                     client.networks.list(filters={"label": RUN_LABEL}),
                     client.volumes.list(filters={"label": RUN_LABEL})):
            for obj in kind:
                labels = obj.attrs.get("Labels") or obj.attrs.get("Config", {}).get("Labels") or {}
                runs[labels[RUN_LABEL]] = labels.get(OWNER_LABEL, "0")
        for run_id, owner in sorted(runs.items()):
            if not _pid_alive(int(owner)):
                done += [f"removed {run_id}: {what}" for what in remove_run(run_id, client=client)]
    finally:
        client.close()
    return done


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
