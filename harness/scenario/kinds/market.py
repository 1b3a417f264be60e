"""Market events on the target, not infrastructure faults: a price shock (one step) or a price
drift (a total move spread over the steps of its ``for``) moves the harness's own price path
(``harness.faults.target_inputs``). Instant: the harness sets the whole move on the path at once
and has nothing to heal; a drift's ``for`` is how long the market takes to move, not a fault
window (the target must keep working through it: no check excuses it)."""

from __future__ import annotations

import random
from typing import Any, Literal

from pydantic import Field

from harness.scenario.kinds.base import BaseFaultSpec, DrawScope, FaultKind
from harness.scenario.values import Model, MovePct, PositiveSeconds

__all__ = ["PRICE_SHOCK", "PRICE_DRIFT"]

ASSETS = ["BTC", "ETH"]


class MarketMoveParams(Model):
    asset: Literal["BTC", "ETH"]
    move_pct: MovePct  # above -90: a move must leave a price


class PriceShockFault(BaseFaultSpec):
    """A market event on the target, not an infrastructure fault: instant, nothing to heal."""

    fault: Literal["price_shock"]
    params: MarketMoveParams


class PriceDriftFault(BaseFaultSpec):
    """A slow market move: ``move_pct`` in all, evenly over the ticks of ``for``; nothing to heal."""

    fault: Literal["price_drift"]
    params: MarketMoveParams
    for_: PositiveSeconds = Field(alias="for")


def _draw(rng: random.Random, scope: DrawScope) -> dict[str, Any]:
    return {"params": {"asset": rng.choice(ASSETS), "move_pct": rng.choice([-1, 1]) * rng.randint(1, 8)}}


def _draw_drift(rng: random.Random, scope: DrawScope) -> dict[str, Any]:
    """Small and slow: ±0.2..1 % over 5..20 s (its own span: the market's time, not a fault's)."""
    return {"params": {"asset": rng.choice(ASSETS), "move_pct": rng.choice([-1, 1]) * round(rng.uniform(0.2, 1.0), 2)},
            "for": round(rng.uniform(5.0, 20.0), 1)}


PRICE_SHOCK = FaultKind("price_shock", PriceShockFault, _draw,
                        implementations=dict.fromkeys(("local", "docker", "external"), "harness.faults.target_inputs:PriceShock"),
                        healers={"none": "harness.faults.base:heal_nothing"}, instant=True)
PRICE_DRIFT = FaultKind("price_drift", PriceDriftFault, _draw_drift,
                        implementations=dict.fromkeys(("local", "docker", "external"), "harness.faults.target_inputs:PriceDrift"),
                        healers={"none": "harness.faults.base:heal_nothing"}, instant=True)
