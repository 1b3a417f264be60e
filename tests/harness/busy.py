"""What a machine too busy for the steady state's latency bounds makes of a correct run: unknown,
before the faults or for the after-recovery probe's latency alone. That is the right verdict on a
loaded 2-core CI machine; a violation never is. And what a failed verdict says, for a test to show."""

from __future__ import annotations

from typing import Any

from harness.errors import EXIT_UNKNOWN

BUSY_REASONS = ("steady state not met before faults", "undecided: recovery")


def too_busy(code: int, result: dict[str, Any]) -> bool:
    return code == EXIT_UNKNOWN and (result.get("reason") or "").startswith(BUSY_REASONS)


def explain(verdict: str, result: dict[str, Any]) -> str:
    """The verdict line and, for each check not passed, its summary, figures and first evidence:
    a failure on a CI runner, whose run folder is gone, then says why."""
    lines = [verdict, f"reason: {result.get('reason')}"]
    for check in result.get("checks", []):
        if check.get("status") != "pass":
            lines.append(f"{check['name']}={check['status']}: {check['summary']} {check.get('figures')}")
            lines += [f"  {e}" for e in check.get("evidence", [])[:5]]
    return "\n".join(lines)
