"""The local backend: the target's services as processes on loopback, one real Toxiproxy per run.

The target starts its own processes (its ``LocalLauncher``); the harness decides where: the ports,
and which links go through a proxy. Every link the schedule may fault gets its own proxy (named
with the run id); the other links stay direct so that the unfaulted paths are not slowed. The
Toxiproxy server and the services are journal resources, so a later cleanup can stop them if this
run is killed.
"""

from __future__ import annotations

import logging
import shutil
import time

from harness.backends.base import BackendSpec, RunningTarget, write_accounts
from harness.backends.go_tools import toxiproxy_server_path
from harness.errors import BadInput, Undecided
from harness.faults.network import ProxyNet, ToxiproxyServer
from harness.net import base_url, free_ports, hostport
from harness.safety import refuse_unsafe_addresses
from harness.targets import LocalLauncher
from harness.targets.base import Deployment, Instance, Releases, TargetError

__all__ = ["LocalBackend"]

log = logging.getLogger("umchaos.local")
START_ATTEMPTS = 3


class LocalBackend:
    name = "local"

    def __init__(self, spec: BackendSpec) -> None:
        self.spec = spec
        self.server: ToxiproxyServer | None = None
        self.proxies: ProxyNet | None = None
        self.instance: Instance | None = None
        self.private_dir = spec.private_dir

    def _launcher(self) -> LocalLauncher:
        system = self.spec.system
        if not isinstance(system, LocalLauncher):
            raise BadInput(f"target {system.name} cannot be started on the local backend")
        return system

    def up(self) -> RunningTarget:
        spec = self.spec
        launcher = self._launcher()
        topology, host, needed = spec.system.topology, spec.host, spec.proxied_links
        # Checked again here, before anything is started or sent (prepare checked the YAML already).
        refuse_unsafe_addresses([host], spec.allow_targets)
        if needed:
            self.server = ToxiproxyServer(toxiproxy_server_path(), run_id=spec.run_id, log_path=spec.run_dir / "toxiproxy.log")
            self.server.start()
            spec.resources.add_resource("toxiproxy", {"pgid": self.server.pid})
            self.proxies = ProxyNet(self.server.url, run_id=spec.run_id)
        # API keys live in the services' configs: keep them out of the report folder (CI artifacts).
        data_dir = self.private_dir / "target"
        spec.resources.add_resource(spec.system.name, {"pids_file": str(data_dir / "pids.json")})
        warm = spec.warm
        handle = warm.handle if warm is not None and warm.target == spec.system.name else None
        for attempt in range(1, START_ATTEMPTS + 1):
            ports = dict(zip(topology.services, free_ports(len(topology.services), host), strict=True))
            refuse_unsafe_addresses([base_url(host, port) for port in ports.values()], spec.allow_targets)
            dial: dict[str, str] = {}
            for link in needed:
                assert self.proxies is not None
                callee = topology.ends(link)[1]
                dial[link] = f"http://{self.proxies.create_proxy(link, hostport(host, ports[callee])).listen}"
            # the services' logs are evidence: written straight into the report folder
            deployment = Deployment(data_dir=data_dir, logs_dir=spec.run_dir.resolve() / "logs", host=host, ports=ports,
                                    dial=dial, bugs=spec.bugs, risk=spec.risk, seed=spec.seed)
            instance = self.instance = launcher.local_instance(deployment, handle)
            handle = None  # a retry needs a new one: the first start took it
            try:
                took = instance.start()
                break
            except TargetError as exc:
                # Another program may take a chosen port between choosing and binding it (two runs at
                # once): start again on new ports. Anything else is the target's failure to start.
                if "address already in use" not in str(exc) or attempt == START_ATTEMPTS:
                    raise Undecided(f"target never became ready: {exc}") from None
                log.warning("a port was taken while the target started (%s); starting again on new ports", exc)
                if self.proxies is not None:
                    self.proxies.destroy_all()
        log.info("%s up in %.2f s with %d proxied link(s)", spec.system.name, took, len(dial))
        addresses = instance.addresses()
        front = addresses.front(topology)
        return RunningTarget(front=front, services=dict(addresses.services), regions=dict(topology.region_of),
                      accounts=addresses.accounts,
                      accounts_file=write_accounts(self.private_dir / "accounts.json", front, addresses.accounts),
                      proxies=self.proxies, links=dial, risk=spec.risk)

    def wait_ready(self, *, deadline_s: float) -> None:
        """The gateway answers and UM is not halted (margin has prices, the guard is calm)."""
        try:
            self._instance().wait_calm(deadline=time.monotonic() + deadline_s)
        except TargetError as exc:
            raise Undecided(f"target not ready within {deadline_s:.0f} s: {exc}") from None

    def down(self) -> None:
        try:
            if self.instance is not None:
                self.instance.stop(kill=True)  # its data is deleted next: nothing to shut down gracefully
            shutil.rmtree(self.private_dir, ignore_errors=True)
        finally:
            try:
                if self.proxies is not None:
                    self.proxies.destroy_all()
            finally:
                if self.server is not None:
                    self.server.stop()

    # ---- process control for process/node faults -----------------------------------------
    def _instance(self) -> Instance:
        if self.instance is None:
            raise Undecided("target is not running")
        return self.instance

    def kill(self, service: str) -> None:
        self._instance().kill(service)

    def pause(self, service: str) -> None:
        self._instance().pause(service)

    def resume(self, service: str) -> None:
        self._instance().resume(service)

    def restart(self, service: str) -> None:
        try:
            self._instance().restart(service)
        except TargetError as exc:
            raise Undecided(f"could not restart {service}: {exc}") from None

    def alive(self, service: str) -> bool:
        return self._instance().alive(service)

    def pid(self, service: str) -> int | None:
        return self._instance().pid(service)

    def deploy(self, service: str, build: str, watch_s: float) -> str:
        """A release through the target's own rollout and deploy controller."""
        instance = self._instance()
        if not isinstance(instance, Releases):
            raise TargetError(f"{self.spec.system.name} cannot be released to during a run")
        return instance.deploy(service, build, watch_s)
