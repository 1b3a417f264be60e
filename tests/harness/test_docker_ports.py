"""The docker backend's host ports on a real engine: a port the engine finds taken when a service's
container starts (another program's since the draw, or one not yet released from a removed
container) is drawn again, and the run goes on. Seen here: a release scenario's second run ended
undecided at its start, "Bind for 127.0.0.1:… failed: port is already allocated"."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.backends.base import BackendSpec
from harness.backends.docker import DockerBackend
from harness.net import free_port
from harness.targets import load_target
from tests.harness.docker_ready import docker_skip_reason, docker_turn
from tests.harness.test_docker_backend import _labelled

pytestmark = pytest.mark.integration


class Listed:
    def add_resource(self, name: str, entry: dict[str, Any]) -> None:
        """Nothing to journal: the test removes the run's objects by label itself."""


@pytest.fixture
def backend(tmp_path: Path) -> Iterator[DockerBackend]:
    if reason := docker_skip_reason():
        pytest.skip(reason)
    spec = BackendSpec(run_id=f"ports{os.getpid()}", run_dir=tmp_path, private_dir=tmp_path, system=load_target("umref"),
                       host="127.0.0.1", allow_targets=(), seed=1, bugs=(), risk={}, proxied_links=(), resources=Listed())
    with docker_turn():
        backend = DockerBackend(spec)
        try:
            yield backend
        finally:
            backend.down()  # removes the run's objects by label, and its config folder
    assert _labelled(spec.run_id) == [], "docker objects left behind"


def test_a_host_port_the_engine_finds_taken_is_drawn_again(backend: DockerBackend) -> None:
    client, names = backend._docker(), itertools.count()

    def make(port: int) -> Any:  # a container publishing on ``port``, as a service's does
        return client.containers.create(backend.toxiproxy_image, name=f"{backend.prefix}-c{next(names)}",
                                        labels=backend.labels, ports={"8474/tcp": ("127.0.0.1", port)})

    taken = free_port()
    holder = make(taken)
    holder.start()  # the engine now holds ``taken``
    late = make(taken)  # drawn before the holder took it
    container, port = backend.start_service(make, made=(late, taken))
    container.reload()
    assert port != taken and container.status == "running"
    assert container.attrs["NetworkSettings"]["Ports"]["8474/tcp"][0]["HostPort"] == str(port)
    assert late.id not in {c.id for c in client.containers.list(all=True, filters={"label": f"umchaos.run={backend.spec.run_id}"})}


def test_another_engine_error_is_not_retried(backend: DockerBackend) -> None:
    client = backend._docker()
    broken = client.containers.create(backend.toxiproxy_image, name=f"{backend.prefix}-broken", labels=backend.labels,
                                      entrypoint=["/no/such/program"])
    made: list[int] = []
    with pytest.raises(Exception, match="no/such/program"):
        backend.start_service(lambda port: made.append(port), made=(broken, free_port()))
    assert made == []  # nothing made again: only a taken port is
