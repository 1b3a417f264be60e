"""Which Docker engine the harness drives, and where the ports it publishes are reached.

The engine is the one ``DOCKER_HOST`` names (TLS from ``DOCKER_TLS_VERIFY`` and
``DOCKER_CERT_PATH``, as the docker CLI reads them), else the local socket. A remote engine
publishes ports on its own machine, so they are published on, and reached at, the address of
the engine's host. Every journal entry of a docker run carries its engine: a healer or a later
``umchaos cleanup`` reaches the same engine whatever its own environment says.
"""

from __future__ import annotations

import os
import socket
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from harness.errors import BadInput, Undecided

if TYPE_CHECKING:
    import docker

__all__ = ["RUN_LABEL", "OWNER_LABEL", "current_engine", "connect", "published_host"]

RUN_LABEL = "umchaos.run"
OWNER_LABEL = "umchaos.owner"
LOCAL_SCHEMES = ("unix", "npipe", "fd")


def current_engine() -> str:
    """The engine this process is told to use: ``DOCKER_HOST``, or "" for the local socket."""
    return os.environ.get("DOCKER_HOST", "")


def connect(engine: str | None = None, *, timeout: int = 30) -> docker.DockerClient:
    """A client of ``engine`` (None: the current one), pinged: no engine is one clear line."""
    import docker

    environment = dict(os.environ)
    if engine is not None:
        environment.pop("DOCKER_HOST", None)
        if engine:
            environment["DOCKER_HOST"] = engine
    named = engine if engine is not None else current_engine()
    try:
        made = docker.from_env(environment=environment, timeout=timeout)
        made.ping()
    except Exception as exc:  # docker-py raises several types for "no engine"
        where = f"at DOCKER_HOST={named}" if named else "on the local socket"
        raise Undecided(f"no Docker engine answers {where} ({exc.__class__.__name__}); "
                        "run `umchaos setup --docker`") from None
    return made


def published_host(engine: str) -> str:
    """The address ports are published on and reached at: loopback for a local engine, the
    engine host's address (resolved once) for a remote one."""
    if not engine or engine.split("://", 1)[0] in LOCAL_SCHEMES:
        return "127.0.0.1"
    parts = urlsplit(engine if "://" in engine else f"tcp://{engine}")
    if parts.scheme not in ("tcp", "http", "https", "ssh") or not parts.hostname:
        raise BadInput(f"DOCKER_HOST={engine}: not an engine address (unix://PATH, tcp://HOST:PORT or ssh://HOST)")
    try:
        return str(socket.getaddrinfo(parts.hostname, None, type=socket.SOCK_STREAM)[0][4][0])
    except OSError as exc:
        raise BadInput(f"DOCKER_HOST={engine}: cannot resolve {parts.hostname}: {exc}") from None
