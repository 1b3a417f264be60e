"""The one-line verdict on stdout."""

from __future__ import annotations

from pathlib import Path

from harness.result import RunResult

__all__ = ["summary_line"]


def summary_line(result: RunResult, report: Path | None = None) -> str:
    checks = " ".join(f"{c.name}={c.status}" for c in result.checks)
    reason = f"  ({result.reason})" if result.reason and result.status != "pass" else ""
    where = f"  report: {report}" if report else ""
    measured = "".join(f"  {label} {result.figures[key]:.3f} s" for key, label in MEASURED if key in result.figures)
    return (f"{result.status.upper()} {result.scenario} seed={result.seed} backend={result.backend} "
            f"bugs={','.join(result.bugs) or '-'}  {checks}{measured}{reason}{where}")


MEASURED = (("time_to_halt_s", "halted after"), ("rto_s", "RTO"),  # measured, never the budget
            ("rto_from_loss_s", "RTO from the region's loss"))
