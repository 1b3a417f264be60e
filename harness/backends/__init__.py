"""Where the target runs. ``local``: processes on loopback with a real Toxiproxy (the default).

``BACKENDS`` is the registry: a backend is one module with a class taking a ``BackendSpec`` and
meeting ``Backend`` (``base``), named here by import path and imported only when a run uses it.
``PAPER_BACKENDS`` write what a run would apply elsewhere (``--dry-run``) and run nothing.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from harness.errors import BadInput

if TYPE_CHECKING:
    from harness.backends.base import Backend, BackendSpec

__all__ = ["BACKENDS", "PAPER_BACKENDS", "check_backend", "preflight", "make_backend"]

BACKENDS = {
    "local": "harness.backends.local:LocalBackend",
    "docker": "harness.backends.docker:DockerBackend",
    "external": "harness.backends.external:ExternalBackend",  # chosen by --target-file
}

PAPER_BACKENDS = {"k8s": "harness.backends.k8s"}  # Chaos Mesh resources and a Locust Job, on paper


def check_backend(name: str, *, paper: bool = False) -> None:
    """One line before anything starts (exit 3), for every command that takes ``--backend``;
    ``paper``: a dry run, which the paper backends take too."""
    if name in PAPER_BACKENDS and not paper:
        raise BadInput(f"--backend {name}: writes what a run would apply with --dry-run; running it is not built")
    if name not in BACKENDS and name not in PAPER_BACKENDS:
        raise BadInput(f"--backend {name}: unknown backend; known: {', '.join((*BACKENDS, *PAPER_BACKENDS))}")


def _backend_class(name: str) -> type:
    module, _, cls = BACKENDS[name].partition(":")
    found: type = getattr(importlib.import_module(module), cls)
    return found


def preflight(name: str, allow_targets: tuple[str, ...]) -> None:
    """What a backend refuses before anything starts (its class's ``preflight``, where it has one:
    docker's, an engine outside loopback and allow_targets). A paper backend runs nothing."""
    if name in BACKENDS and (check := getattr(_backend_class(name), "preflight", None)) is not None:
        check(allow_targets)


def make_backend(name: str, spec: BackendSpec) -> Backend:
    check_backend(name)
    backend: Backend = _backend_class(name)(spec)
    return backend
