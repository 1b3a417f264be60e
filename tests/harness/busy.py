"""What a machine too busy for the steady state's latency bounds makes of a correct run: unknown,
before the faults or for the after-recovery probe's latency alone. That is the right verdict on a
loaded 2-core CI machine; a violation never is."""

from __future__ import annotations

from typing import Any

from harness.errors import EXIT_UNKNOWN

BUSY_REASONS = ("steady state not met before faults", "undecided: recovery")


def too_busy(code: int, result: dict[str, Any]) -> bool:
    return code == EXIT_UNKNOWN and (result.get("reason") or "").startswith(BUSY_REASONS)
