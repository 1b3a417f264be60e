"""Where the target runs. ``local``: processes on loopback with a real Toxiproxy (the default)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.errors import BadInput

if TYPE_CHECKING:
    from harness.backends.base import Backend
    from harness.runner import RunContext

__all__ = ["BACKENDS", "check_backend", "make_backend"]

BACKENDS = ("local", "docker", "external")  # external: chosen by --target-file


def check_backend(name: str) -> None:
    """One line before anything starts (exit 3), for every command that takes ``--backend``."""
    if name not in BACKENDS:
        raise BadInput(f"--backend {name}: unknown backend; known: {', '.join(BACKENDS)}")


def make_backend(name: str, ctx: RunContext) -> Backend:
    check_backend(name)
    if name == "local":
        from harness.backends.local import LocalBackend

        return LocalBackend(ctx)
    if name == "external":
        from harness.backends.external import ExternalBackend

        return ExternalBackend(ctx)
    from harness.backends.docker import DockerBackend

    return DockerBackend(ctx)
