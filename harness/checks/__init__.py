"""The checks: pure functions ``(history, audit) -> CheckResult``, registered by name."""

from __future__ import annotations

from collections.abc import Iterable

from harness.checks.auth_fail_closed import auth_fail_closed
from harness.checks.base import Audit, CheckFn, CheckResult, run_check
from harness.checks.blast_radius import blast_radius
from harness.checks.no_acked_write_lost import no_acked_write_lost
from harness.checks.no_erroneous_margin_calls import no_erroneous_margin_calls
from harness.checks.recovery import recovery
from harness.checks.resting_orders_preserved import resting_orders_preserved
from harness.checks.rollback import rollback
from harness.checks.safe_halt import safe_halt
from harness.checks.segregation import segregation
from harness.checks.steady_state import steady_state
from harness.history import History

__all__ = ["CHECKS", "run_checks"]

CHECKS: dict[str, CheckFn] = {
    "safe_halt": safe_halt,
    "resting_orders_preserved": resting_orders_preserved,
    "no_erroneous_margin_calls": no_erroneous_margin_calls,
    "rollback": rollback,
    "segregation": segregation,
    "no_acked_write_lost": no_acked_write_lost,
    "blast_radius": blast_radius,
    "recovery": recovery,
    "auth_fail_closed": auth_fail_closed,
    "steady_state": steady_state,
}


def run_checks(names: Iterable[str], history: History, audit: Audit) -> list[CheckResult]:
    return [run_check(name, CHECKS[name], history, audit) for name in names]
