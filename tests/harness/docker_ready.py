"""Why the tests that need a Docker engine and the project's images must skip, or None: one
answer for the docker backend's tests and the Compose project's."""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from harness.backends.docker_install import engine_answers, images_tag

SETUP_WAIT_S = 2400.0  # .ci/run's own timeouts on the setup add up to less
TURN = Path("/tmp/umchaos-docker-tests.lock")
TURN_WAIT_S = 900.0


def _setup_still_failing() -> str | None:
    """Under .ci/run the engine, images and Compose CLI are set up in the background while the
    other tests run (these tests run last): wait for its status file to say how it ended."""
    status = os.environ.get("UMCHAOS_DOCKER_SETUP_STATUS")
    if not status:
        return None
    deadline = time.monotonic() + SETUP_WAIT_S
    while (said := Path(status).read_text().strip()) == "pending":
        if time.monotonic() > deadline:
            return f"the background docker setup did not end within {SETUP_WAIT_S:.0f} s"
        time.sleep(2)
    return said if said.startswith("docker backend unavailable") else None


def docker_skip_reason() -> str | None:
    if (why := _setup_still_failing()) is not None:
        return why
    if not engine_answers():
        return "no Docker engine answers (run `umchaos setup --docker`)"
    import docker

    client = docker.from_env()
    try:
        for ref in (f"umchaos/umref:{images_tag()}", f"umchaos/toxiproxy:{images_tag()}"):
            try:
                client.images.get(ref)
            except docker.errors.ImageNotFound:
                return f"image {ref} not built (run `umchaos setup --docker`)"
    finally:
        client.close()
    return None


@contextmanager
def docker_turn() -> Iterator[None]:
    """One docker test at a time on this machine, across workers and sessions: each brings up a
    whole platform in containers (and the Compose project's names and ports are fixed)."""
    with TURN.open("a") as lock:
        deadline = time.monotonic() + TURN_WAIT_S
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    pytest.skip(f"another test held {TURN} for {TURN_WAIT_S:.0f} s")
                time.sleep(1)
        yield
