"""Every extension point of the harness, a line each (as Locust's ``event.py`` lists its hooks):
where a new fault kind, check, target, client API, backend or report goes, and the one registry
that lists it. ``tests/harness/test_extension_points.py`` resolves each and holds the README's
"Extending" section to this list.

Nothing here is imported by the harness; it is the map, kept true by its test.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ExtensionPoint", "EXTENSION_POINTS"]


@dataclass(frozen=True)
class ExtensionPoint:
    name: str
    registry: str  # ``module:attr`` of the one place that lists every instance
    adds: str  # what adding one takes


EXTENSION_POINTS = (
    ExtensionPoint("fault kind", "harness.scenario.faults:KINDS",
                   "a FaultKind registration in harness/scenario/kinds/ (pure data), its implementation per "
                   "backend in harness/faults/ (named by the registration), a line in KINDS, a line in "
                   "tests/harness/scenarios_extra/every-fault-kind*.yaml"),
    ExtensionPoint("check", "harness.checks:CHECK_NAMES",
                   "a module harness/checks/<name>.py holding the pure function <name>(history, audit), its "
                   "name in CHECK_NAMES, its tests"),
    ExtensionPoint("target", "harness.targets:GROUP",
                   "a package registering a TargetSystem in the umchaos.targets entry points (umref: "
                   "targets/umref/plugin.py); or, for a platform already running, a topology file"),
    ExtensionPoint("client API", "harness.targets.base:STANDARD_CLIENT",
                   "a ClientApi (harness/targets/base.py) named by the target's client_api or a topology "
                   "file's client:, building each request and reading each answer"),
    ExtensionPoint("backend", "harness.backends:BACKENDS",
                   "a module harness/backends/<name>.py with a class taking a BackendSpec and meeting Backend, "
                   "named in BACKENDS; the fault kinds it runs list it in their implementations"),
    ExtensionPoint("report", "harness.report:write_reports",
                   "a writer in write_reports' table (a run folder file), and its line in the README's "
                   "\"A run folder\""),
)
