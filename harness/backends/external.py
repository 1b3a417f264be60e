"""The external backend: a platform already running (``--target-file``), never started or stopped.

The harness puts a Toxiproxy proxy at every address the file says a caller dials, forwarding to
the callee, for the whole run (an unfaulted link must still work); process faults act on the
services the file gives control of: signals to a pid file's process group, or the Docker engine
on a container. Teardown heals every fault and removes the proxies; the platform keeps running.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import signal
import time
from pathlib import Path
from typing import Any

import requests

from harness.backends.base import BackendSpec, RunningTarget, write_accounts
from harness.backends.go_tools import toxiproxy_server_path
from harness.errors import BadInput, Undecided
from harness.faults.network import ProxyNet, ToxiproxyServer
from harness.http import target_session
from harness.safety import host_of
from harness.targets.base import Addresses
from harness.targets.external import ExternalTarget

__all__ = ["ExternalBackend", "ensure_proxies"]

log = logging.getLogger("umchaos.external")
PERSISTENT = "umchaos"  # the name prefix of proxies on a platform's own Toxiproxy server


def _listens_at(found: object, listen: str) -> bool:
    """Toxiproxy reports the address it bound: a listen host given by name (a container's alias
    on the platform's network) comes back as an IP address, so then only the port can agree."""
    if not isinstance(found, str) or found == listen:
        return found == listen
    host = host_of(listen)
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return found.rpartition(":")[2] == listen.rpartition(":")[2]
    return False


def ensure_proxies(proxies: ProxyNet, platform: ExternalTarget) -> list[str]:
    """A pass-through proxy at every dial address, forwarding to the callee (or the link's own
    upstream); those already there must be the same (else one line saying which). Returns the
    links whose proxy was made."""
    present = proxies.proxies()
    made = []
    for link, listen in platform.dial.items():
        upstream = platform.upstream.get(link) or platform.urls[platform.topology.ends(link)[1]].removeprefix("http://")
        found = present.get(proxies.proxy_name(link))
        if found is not None:
            if not _listens_at(found.get("listen"), listen) or found.get("upstream") != upstream:
                raise BadInput(f"{platform.file}: proxy {proxies.proxy_name(link)} on {proxies.api_url} listens at "
                               f"{found.get('listen')} for {found.get('upstream')}, not {listen} for {upstream}")
            continue
        try:
            proxies.create_proxy(link, upstream, listen=listen)
        except Exception as exc:  # noqa: BLE001 - the address is taken: say which, in one line
            raise Undecided(f"cannot listen at {listen} for {link} (is the address free?): {exc}") from None
        made.append(link)
    return made


class ExternalBackend:
    name = "external"

    def __init__(self, spec: BackendSpec) -> None:
        system = spec.system
        if not isinstance(system, ExternalTarget):
            raise BadInput("the external backend runs only with --target-file")
        self.spec = spec
        self.platform = system
        self.server: ToxiproxyServer | None = None
        self.proxies: ProxyNet | None = None
        self.client: Any = None  # docker's, made at the first act on a container
        self.private_dir = spec.private_dir

    def up(self) -> RunningTarget:
        spec, platform = self.spec, self.platform
        if platform.toxiproxy is not None:
            self.proxies = ProxyNet(platform.toxiproxy, run_id=PERSISTENT)
            ensure_proxies(self.proxies, platform)
        elif platform.dial:
            self.server = ToxiproxyServer(toxiproxy_server_path(), run_id=spec.run_id, log_path=spec.run_dir / "toxiproxy.log")
            self.server.start()
            spec.resources.add_resource("toxiproxy", {"pgid": self.server.pid})
            self.proxies = ProxyNet(self.server.url, run_id=spec.run_id)
            ensure_proxies(self.proxies, platform)
        self._wait_healthy(deadline=time.monotonic() + 30)
        self.private_dir.mkdir(parents=True, exist_ok=True)
        addresses = Addresses(gateway=platform.urls[platform.topology.role("gateway")],
                              services=dict(platform.urls), accounts=platform.accounts)
        front = addresses.front(platform.topology)
        log.info("attached to %s with %d proxied link(s)", platform.name, len(platform.dial))
        return RunningTarget(front=front, services=dict(addresses.services),
                      regions=dict(platform.topology.region_of), accounts=addresses.accounts,
                      accounts_file=write_accounts(self.private_dir / "accounts.json", front, addresses.accounts),
                      proxies=self.proxies, links={link: f"http://{d}" for link, d in platform.dial.items()},
                      risk=spec.risk)

    def _wait_healthy(self, *, deadline: float, services: list[str] | None = None) -> None:
        waiting = list(services or self.platform.urls)
        with target_session() as http:
            while waiting:
                for name in list(waiting):
                    try:
                        if http.get(self.platform.urls[name] + self.platform.health[name], timeout=1).status_code == 200:
                            waiting.remove(name)
                    except requests.RequestException:
                        pass
                if waiting and time.monotonic() > deadline:
                    raise Undecided(f"not healthy: {', '.join(waiting)} ({self.platform.file})")
                if waiting:
                    time.sleep(0.05)

    def wait_ready(self, *, deadline_s: float) -> None:
        """Every service healthy, and UM trading: the matching role's /state says not halted (the
        platform may have halted while its links waited for the harness's proxies)."""
        deadline = time.monotonic() + deadline_s
        self._wait_healthy(deadline=deadline)
        url = self.platform.urls[self.platform.topology.role("matching")] + "/state"
        last = "no answer"
        with target_session() as http:
            while time.monotonic() < deadline:
                try:
                    state = http.get(url, timeout=1).json()
                    if state["halted"] is False and state.get("broken") is None:  # the contract requires halted
                        return
                    last = f"halted={state['halted']} broken={state.get('broken')}"
                except (requests.RequestException, ValueError, AttributeError, KeyError, TypeError) as exc:
                    last = exc.__class__.__name__
                time.sleep(0.05)
        raise Undecided(f"UM not ready within {deadline_s:.0f} s: {last}")

    def down(self) -> None:
        """The platform keeps running: only what the harness added goes."""
        import shutil

        try:
            if self.server is not None and self.proxies is not None:
                self.proxies.destroy_all()  # its own server's; a platform's own proxies stay
        finally:
            if self.server is not None:
                self.server.stop()
            if self.client is not None:
                self.client.close()
            shutil.rmtree(self.private_dir, ignore_errors=True)

    # ---- process control, as the file allows ------------------------------------------------
    def _control(self, service: str) -> Any:
        control = self.platform.controls.get(service)
        if control is None:
            raise Undecided(f"{service}: {self.platform.file} gives no control of its process")
        return control

    def _pid(self, service: str) -> int:
        control = self._control(service)
        if control.docker is not None:
            raise Undecided(f"{service} runs in container {control.docker}, not under a pid")
        path = Path(control.process)
        path = path if path.is_absolute() else self.platform.file.parent / path
        try:
            return int(path.read_text().strip())
        except (OSError, ValueError) as exc:
            raise Undecided(f"{service}: no pid in {path}: {exc}") from None

    def _container(self, service: str) -> Any:
        """The service's container, through one client for the run (the abort monitor asks often)."""
        import docker

        name = self._control(service).docker
        if self.client is None:
            self.client = docker.from_env(timeout=30)
        return self.client.containers.get(name)

    def _docker(self, service: str, action: str) -> None:
        import docker

        try:
            getattr(self._container(service), action)()
        except docker.errors.DockerException as exc:
            raise Undecided(f"{service}: docker {action} {self._control(service).docker}: {exc}") from None

    def _signal(self, service: str, sig: signal.Signals) -> None:
        try:
            os.killpg(self._pid(service), sig)
        except ProcessLookupError:
            pass

    def kill(self, service: str) -> None:
        if self._control(service).docker is not None:
            self._docker(service, "kill")
        else:
            raise Undecided(f"{service}: a process the harness did not start cannot be started again; "
                            "kill needs control: {docker: CONTAINER}")

    def pause(self, service: str) -> None:
        if self._control(service).docker is not None:
            self._docker(service, "pause")
        else:
            self._signal(service, signal.SIGSTOP)

    def resume(self, service: str) -> None:
        if self._control(service).docker is not None:
            self._docker(service, "unpause")
        else:
            self._signal(service, signal.SIGCONT)

    def restart(self, service: str) -> None:
        self._docker(service, "start")
        self._wait_healthy(deadline=time.monotonic() + 15, services=[service])

    def alive(self, service: str) -> bool:
        if self._control(service).docker is not None:
            import docker

            try:
                return self._container(service).status in ("running", "paused")
            except docker.errors.DockerException:
                return False
        try:
            os.kill(self._pid(service), 0)
        except ProcessLookupError:
            return False
        return True

    def pid(self, service: str) -> int | None:
        try:
            return self._pid(service)
        except Undecided:
            return None
