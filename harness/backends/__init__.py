"""Where the target runs. ``local``: processes on loopback with a real Toxiproxy (the default)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.errors import BadInput

if TYPE_CHECKING:
    from harness.backends.base import Backend
    from harness.runner import RunContext

__all__ = ["BACKENDS", "make_backend"]

BACKENDS = ("local", "docker")


def make_backend(name: str, ctx: RunContext) -> Backend:
    if name == "local":
        from harness.backends.local import LocalBackend

        return LocalBackend(ctx)
    if name == "docker":
        from harness.backends.docker import DockerBackend

        return DockerBackend(ctx)
    raise BadInput(f"--backend {name}: unknown backend; known: {', '.join(BACKENDS)}")
