"""umref's builds: every service runs a version, and margin has releases to roll to.

A release during a run (the harness's ``deploy`` fault) names one of these builds; the deploy
controller (``targets.umref.deployer``) rolls the service to it and back. The bad build is a
realistic regression, not a switch: 1.5.0 makes every margin check and evaluation slow (a new
code path doing per-call work), so the risk guard halts UM while it serves; 1.5.1 is its hot-fix.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from targets.umref.config import generic

__all__ = ["BUILDS", "Build", "build_of", "versions"]


@dataclass(frozen=True)
class Build:
    version: str
    note: str
    check_delay_ms: int = 0  # added to each margin check and evaluation: a latency regression


BASE_VERSION = "1.0.0"  # every service without releases of its own
BUILDS: Mapping[str, tuple[Build, ...]] = {  # service -> its builds, the one in production first
    "margin": (
        Build("1.4.2", "the release in production"),
        Build("1.5.0", "a latency regression: every check and evaluation 900 ms slower", check_delay_ms=900),
        Build("1.5.1", "the hot-fix of 1.5.0's regression"),
    ),
}


def _builds(service: str) -> tuple[Build, ...]:
    """``service``'s builds, the one in production first (a standby runs its primary's)."""
    return BUILDS.get(generic(service), (Build(BASE_VERSION, ""),))


def versions(service: str) -> tuple[str, ...]:
    """The builds ``service`` can run, the one in production first."""
    return tuple(b.version for b in _builds(service))


def build_of(service: str, version: str = "") -> Build:
    """The build ``version`` of ``service``; empty: the one in production."""
    builds = _builds(service)
    wanted = version or builds[0].version
    for build in builds:
        if build.version == wanted:
            return build
    raise KeyError(f"{service} has no build {version!r}; known: {', '.join(b.version for b in builds)}")
