"""A market event on the target, not an infrastructure fault: a price shock moves the harness's
own price path (``harness.faults.target_inputs``). Instant: nothing to heal, no window to judge."""

from __future__ import annotations

import random
from typing import Any, Literal

from harness.scenario.kinds.base import BaseFaultSpec, DrawScope, FaultKind
from harness.scenario.values import Model, MovePct

__all__ = ["PRICE_SHOCK"]


class PriceShockParams(Model):
    asset: Literal["BTC", "ETH"]
    move_pct: MovePct


class PriceShockFault(BaseFaultSpec):
    """A market event on the target, not an infrastructure fault: instant, nothing to heal."""

    fault: Literal["price_shock"]
    params: PriceShockParams


def _draw(rng: random.Random, scope: DrawScope) -> dict[str, Any]:
    return {"params": {"asset": rng.choice(["BTC", "ETH"]), "move_pct": rng.choice([-1, 1]) * rng.randint(1, 8)}}


PRICE_SHOCK = FaultKind("price_shock", PriceShockFault, _draw,
                        implementations=dict.fromkeys(("local", "docker", "external"), "harness.faults.target_inputs:PriceShock"),
                        healers={"none": "harness.faults.base:heal_nothing"}, instant=True)
