"""The ``late_liquidation`` defect counts its delay from when the risk engine could first act: a
halt covering the moment an account became due must not use the delay up (CI saw a 4 s halt at a
price shock leave the defect only 1.6 s late after the resume, inside the check's bound)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from targets.umref.launcher import plan
from targets.umref.services.liquidation import LATE_S, Liquidation


@dataclass
class StillClock:
    at: float = 1000.0

    def now(self) -> float:
        return self.at


def engine(bugs: tuple[str, ...]) -> tuple[Liquidation, StillClock]:
    cfg = plan(Path("/nonexistent"), bugs=bugs).service_config("liquidation")  # nothing is started
    clock = StillClock()
    return Liquidation(cfg, clock), clock  # type: ignore[arg-type]  # a clock that only tells the time


def test_the_defect_waits_from_the_resume_when_the_account_became_due_inside_a_halt() -> None:
    liquidation, clock = engine(("late_liquidation",))
    liquidation.due_since["lev0"] = 1000.0  # due at the shock; UM halted then and resumed 4 s later
    clock.at = 1004.0 + LATE_S - 0.1
    assert liquidation.waits("lev0", resumed_at=1004.0)
    clock.at = 1004.0 + LATE_S
    assert not liquidation.waits("lev0", resumed_at=1004.0)


def test_the_defect_waits_from_the_due_moment_when_no_halt_came_after_it() -> None:
    liquidation, clock = engine(("late_liquidation",))
    liquidation.due_since["lev0"] = 1000.0
    clock.at = 1000.0 + LATE_S - 0.1
    assert liquidation.waits("lev0", resumed_at=990.0)
    clock.at = 1000.0 + LATE_S
    assert not liquidation.waits("lev0", resumed_at=990.0) and not liquidation.waits("lev0", resumed_at=None)


def test_the_correct_engine_never_waits() -> None:
    liquidation, clock = engine(())
    liquidation.due_since["lev0"] = clock.at
    assert not liquidation.waits("lev0", resumed_at=clock.at)
