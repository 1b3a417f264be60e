"""Releases on the docker backend: a service rolled to another build the way containers are
rolled. A new container from the build's image (``build_image``: the target's image with the build
in its environment) joins the service's networks under its aliases, beside the old one; once it
answers health as that build on its own published port, the old one is stopped (SIGTERM: it
drains what it has in flight) and its name resolves to the new one alone. The target's own deploy
controller decides when to release and when to roll back (``ReleaseControl``); this is only how.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING, Any

import requests

from harness.backends.docker_install import build_image
from harness.http import target_session
from harness.net import base_url
from harness.targets.base import ReleaseControl, Releases, TargetError

if TYPE_CHECKING:
    from harness.backends.docker import DockerBackend

__all__ = ["ContainerReleases"]

log = logging.getLogger("umchaos.docker")
DRAIN_S = 5  # the old container's SIGTERM grace: what it has in flight finishes
READY_S = 20.0


class ContainerReleases:
    """The backend's ``Rollout`` for the target's deploy controller, and the ``Releases`` the
    ``deploy`` fault calls."""

    def __init__(self, backend: DockerBackend) -> None:
        self.backend = backend
        self.controller: Releases | None = None
        self.count = 0
        self.retired: list[tuple[str, Any]] = []  # (service, container) swapped out: their logs are evidence

    def deploy(self, service: str, build: str, watch_s: float) -> str:
        if self.controller is None:
            launcher = self.backend.spec.system
            if not isinstance(launcher, ReleaseControl):
                raise TargetError(f"{launcher.name} has no deploy controller for the docker backend")
            self.controller = launcher.releases(self, self.backend.spec.bugs)
        return self.controller.deploy(service, build, watch_s)

    def url(self, service: str) -> str:
        return base_url(self.backend.host, self.backend.host_ports[service])

    def swap(self, service: str, version: str) -> None:
        backend = self.backend
        image = build_image(backend.image, service, version)
        try:
            backend._docker().images.get(image)
        except Exception:  # noqa: BLE001 - docker's not-found, or an engine that cannot say
            raise TargetError(f"image {image} missing; run `umchaos setup --docker`") from None
        assert backend.recipe is not None and backend.seen is not None
        self.count += 1
        new, port = backend.start_service(partial(backend._create_service, service, backend.recipe, image,
                                                  suffix=f"-r{self.count}"))
        if not self._answers_as(base_url(backend.host, port), service, version):
            new.remove(force=True)
            raise TargetError(f"{service} {version} never answered health within {READY_S:g} s; the old build serves on")
        old = backend.containers[service]
        backend.containers[service], backend.host_ports[service] = new, port
        backend.services[service] = self.url(service)  # the run's map of direct addresses follows it
        backend.readiness = backend._launcher().attach(replace(backend.seen, ports=dict(backend.host_ports)),
                                                       backend._exited)
        self.retired.append((service, old))
        threading.Thread(target=_drain, args=(old,), name=f"drain-{service}", daemon=True).start()
        log.info("%s now %s from %s (port %d)", service, version, image, port)

    @staticmethod
    def _answers_as(url: str, service: str, version: str) -> bool:
        deadline = time.monotonic() + READY_S
        with target_session() as http:
            while time.monotonic() < deadline:
                try:
                    body = http.get(url + "/health", timeout=0.5).json()
                    if body.get("service") == service and body.get("version") == version:
                        return True
                except (requests.RequestException, ValueError, AttributeError):
                    pass
                time.sleep(0.05)
        return False


def _drain(container: Any) -> None:
    try:
        container.stop(timeout=DRAIN_S)
    except Exception as exc:  # noqa: BLE001 - gone already; the run's cleanup removes it either way
        log.warning("stopping %s: %s", getattr(container, "name", "?"), exc)
