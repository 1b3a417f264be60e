"""A seeded price path per asset: the truth the harness recomputes margin calls against.

One step every 100 ms from the start time; each step multiplies by (1 + ε), ε ~ N(0, 0.0001)
from a per-asset seeded generator, quantized to 0.01. A shock multiplies the path from its
step on. ``price_at(asset, t)`` is the price of the last step at or before ``t``: the same seed
and the same shocks give the same path.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from decimal import Decimal

__all__ = ["STEP_S", "START_PRICE", "Shock", "PricePath", "is_outlier"]

STEP_S = 0.1
START_PRICE = {"BTC": Decimal("50000.00"), "ETH": Decimal("3000.00")}
CENT = Decimal("0.01")


@dataclass(frozen=True)
class Shock:
    asset: str
    step: int
    move_pct: Decimal
    time: float


@dataclass
class PricePath:
    seed: int
    start: float
    shocks: list[Shock] = field(default_factory=list)
    _steps: dict[str, list[Decimal]] = field(default_factory=dict)
    _rngs: dict[str, random.Random] = field(default_factory=dict)

    def step_of(self, t: float) -> int:
        return max(0, math.floor((t - self.start) / STEP_S + 1e-9))

    def time_of(self, step: int) -> float:
        return self.start + step * STEP_S

    def _extend(self, asset: str, step: int) -> list[Decimal]:
        steps = self._steps.setdefault(asset, [START_PRICE[asset]])
        rng = self._rngs.setdefault(asset, random.Random(f"umref-price-{self.seed}-{asset}"))
        while len(steps) <= step:
            k = len(steps)
            price = steps[-1] * (1 + Decimal(repr(rng.gauss(0.0, 0.0001))))
            for shock in self.shocks:
                if shock.asset == asset and shock.step == k:
                    price *= 1 + shock.move_pct / 100
            steps.append(price.quantize(CENT))
        return steps

    def price_at(self, asset: str, t: float) -> Decimal:
        step = self.step_of(t)
        return self._extend(asset, step)[step]

    def shock(self, asset: str, move_pct: Decimal, now: float) -> Shock:
        """Applies from the next step on (steps up to now are already published)."""
        self._extend(asset, self.step_of(now))
        shock = Shock(asset, self.step_of(now) + 1, move_pct, self.time_of(self.step_of(now) + 1))
        self.shocks.append(shock)
        return shock

    def path(self, asset: str, until: float) -> list[tuple[float, Decimal]]:
        last = self.step_of(until)
        steps = self._extend(asset, last)
        return [(self.time_of(k), steps[k]) for k in range(last + 1)]


def is_outlier(seed: int, asset: str, step: int) -> bool:
    """Source s3 publishes a bad price (×1.05) on a seeded ~2 % of steps."""
    return random.Random(f"umref-outlier-{seed}-{asset}-{step}").random() < 0.02
