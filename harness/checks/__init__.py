"""The checks: pure functions ``(history, audit) -> CheckResult``, one module each, named as the
check (``harness/checks/safe_halt.py`` holds ``safe_halt``).

``CHECK_NAMES`` is the registry, said once: the scenario schema validates against it without
importing a check, and a run imports only the checks it asks for, when it judges.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from harness.checks.base import Audit, CheckFn, CheckResult
    from harness.history import History

__all__ = ["BY_NAME", "CHECK_NAMES", "DEFAULT_CHECKS", "check_fn", "run_checks"]

CHECK_NAMES: tuple[str, ...] = (
    "safe_halt",
    "no_erroneous_risk_actions",
    "resting_orders_preserved",
    "rollback",
    "segregation",
    "no_acked_write_lost",
    "blast_radius",
    "recovery",
    "auth_fail_closed",
    "steady_state",
    "single_active_matching",
    "status_truthful",
    "release_rolled_back",
)
# auth_fail_closed needs bad_key load to decide; steady_state gates on numbers; single_active_matching needs
# a front of gateways in two regions (which answered each write); status_truthful a status page, which a
# target's client API may not read (then unknown, and so would be every run it judged); release_rolled_back
# a release during the run (a deploy fault), without which it is unknown: each is asked for by name
BY_NAME = ("auth_fail_closed", "steady_state", "single_active_matching", "status_truthful", "release_rolled_back")
DEFAULT_CHECKS = tuple(c for c in CHECK_NAMES if c not in BY_NAME)


def check_fn(name: str) -> CheckFn:
    """The check called ``name``, from its module of the same name."""
    if name not in CHECK_NAMES:
        raise KeyError(f"no check {name!r}; known: {', '.join(CHECK_NAMES)}")
    fn: CheckFn = getattr(importlib.import_module(f"{__name__}.{name}"), name)
    return fn


def run_checks(names: Iterable[str], history: History, audit: Audit) -> list[CheckResult]:
    from harness.checks.base import run_check

    return [run_check(name, check_fn(name), history, audit) for name in names]
