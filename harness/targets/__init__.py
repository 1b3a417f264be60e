"""The registry of target systems: found through the ``umchaos.targets`` entry points.

A platform team ships its target as a package that registers an object implementing
``TargetSystem`` (``harness.targets.base``); umref registers itself the same way, so the harness
needs no edit and no import to test a new target.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points

from harness.errors import BadInput
from harness.targets.base import (
    BugSwitch,
    ContainerLauncher,
    LocalLauncher,
    TargetInfo,
    TargetSystem,
    Topology,
)

__all__ = [
    "DEFAULT_TARGET",
    "GROUP",
    "LocalLauncher",
    "BugSwitch",
    "ContainerLauncher",
    "TargetInfo",
    "TargetSystem",
    "Topology",
    "UnknownTarget",
    "Warm",
    "installed_targets",
    "killed_by",
    "load_target",
    "warm_up",
]

GROUP = "umchaos.targets"
DEFAULT_TARGET = "umref"


class UnknownTarget(BadInput):
    """A target name no installed package registers, or a registration that does not load."""


@functools.cache
def _entry_points() -> dict[str, EntryPoint]:
    """Read once per process: scanning every installed distribution is not free."""
    found: dict[str, EntryPoint] = {}
    for point in entry_points(group=GROUP):
        found.setdefault(point.name, point)  # the first on sys.path wins, as for imports
    return found


def installed_targets() -> tuple[str, ...]:
    """The names of the registered targets, sorted; nothing is imported."""
    return tuple(sorted(_entry_points()))


@functools.cache
def load_target(name: str) -> TargetSystem:
    """The target registered as ``name``; ``UnknownTarget`` (one line) when there is none."""
    point = _entry_points().get(name)
    if point is None:
        known = ", ".join(installed_targets()) or "none"
        raise UnknownTarget(f"unknown target {name!r}; installed targets: {known}")
    try:
        target = point.load()
    except Exception as exc:  # noqa: BLE001 - a third party's plugin: say which, in one line
        raise UnknownTarget(f"target {name!r} ({point.value}) does not load: "
                            f"{exc.__class__.__name__}: {exc}") from None
    if not isinstance(target, TargetSystem):
        raise UnknownTarget(f"target {name!r} ({point.value}) is not a TargetSystem "
                            "(name, description, topology, bug_switches, risk_defaults, client_api)")
    if target.name != name:
        raise UnknownTarget(f"target {name!r} ({point.value}) calls itself {target.name!r}")
    return target


def killed_by(target: TargetSystem) -> dict[str, tuple[str, ...]]:
    """Each bug switch of the target and the checks expected to catch it."""
    return {bug.name: bug.killed_by for bug in target.bug_switches}


@dataclass(frozen=True)
class Warm:
    """A target's warm-up, begun before any scenario is read (so for the default target); a run
    of that target on the local backend takes it, anything else closes it."""

    target: str
    handle: object

    def close(self) -> None:
        close = getattr(self.handle, "close", None)
        if callable(close):
            close()


def warm_up(name: str = DEFAULT_TARGET) -> Warm | None:
    """Start the named target's warm-up, if it has one; None when it cannot be had."""
    try:
        target = load_target(name)
    except UnknownTarget:
        return None  # the scenario names the target: its own error comes when it is read
    if not isinstance(target, LocalLauncher):
        return None
    handle = target.warm_up()
    return Warm(name, handle) if handle is not None else None
