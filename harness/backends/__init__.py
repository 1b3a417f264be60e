"""Where the target runs. ``local``: processes on loopback with a real Toxiproxy (the default).

``BACKENDS`` is the registry: a backend is one module with a class taking a ``BackendSpec`` and
meeting ``Backend`` (``base``), named here by import path and imported only when a run uses it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from harness.errors import BadInput

if TYPE_CHECKING:
    from harness.backends.base import Backend, BackendSpec

__all__ = ["BACKENDS", "check_backend", "make_backend"]

BACKENDS = {
    "local": "harness.backends.local:LocalBackend",
    "docker": "harness.backends.docker:DockerBackend",
    "external": "harness.backends.external:ExternalBackend",  # chosen by --target-file
}


def check_backend(name: str) -> None:
    """One line before anything starts (exit 3), for every command that takes ``--backend``."""
    if name not in BACKENDS:
        raise BadInput(f"--backend {name}: unknown backend; known: {', '.join(BACKENDS)}")


def make_backend(name: str, spec: BackendSpec) -> Backend:
    check_backend(name)
    module, _, cls = BACKENDS[name].partition(":")
    backend: Backend = getattr(importlib.import_module(module), cls)(spec)
    return backend
