"""What every check returns, and how checks are run: a crash inside a check is ``unknown``."""

from __future__ import annotations

import gc
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from harness.history import History, no_cyclic_gc

__all__ = ["Validity", "Evidence", "CheckResult", "Audit", "CheckFn", "run_check", "verdict_of"]

Validity = bool | Literal["unknown"]
Audit = Mapping[str, Any]  # the JSON collected from the target after the run (see docs/audit.md)


@dataclass(frozen=True)
class Evidence:
    """One fact that decided a check: what, when, which ops and which audit records."""

    text: str
    time: float | None = None
    ops: tuple[int, ...] = ()
    records: tuple[Any, ...] = ()


@dataclass(frozen=True)
class CheckResult:
    name: str
    valid: Validity
    summary: str
    evidence: tuple[Evidence, ...] = ()
    figures: Mapping[str, Any] = field(default_factory=dict)

    @property
    def status(self) -> str:
        if self.valid is True:
            return "pass"
        return "fail" if self.valid is False else "unknown"


CheckFn = Callable[[History, Audit], CheckResult]


def run_check(name: str, fn: CheckFn, history: History, audit: Audit) -> CheckResult:
    """Run one check; a crash becomes ``unknown`` carrying the error, never a crashed run.

    The history and audit are frozen out of the cyclic GC meanwhile, and the GC is off: a check
    builds large acyclic structures (a million ops paired, a journal replayed) and each collection
    their allocations trigger would walk them again. Refcounting frees what a check drops."""
    gc.freeze()
    try:
        with no_cyclic_gc():
            result = fn(history, audit)
    except Exception as exc:  # noqa: BLE001 - a check's crash is a finding, not a harness crash
        tb = traceback.format_exception_only(type(exc), exc)[-1].strip()
        return CheckResult(name, "unknown", f"check crashed: {tb}")
    finally:
        gc.unfreeze()
    return result if result.name == name else CheckResult(name, result.valid, result.summary, result.evidence, result.figures)


def verdict_of(results: list[CheckResult]) -> Validity:
    """false if any check is false; else unknown if any is unknown; else true."""
    if any(r.valid is False for r in results):
        return False
    if any(r.valid == "unknown" for r in results):
        return "unknown"
    return True
