"""pricefeed's own seeded demo path, served until the first market tick arrives at its intake.

The harness owns the true price path (and its shocks) and publishes it tick by tick; this path
only gives a freshly started exchange prices (``python -m targets.umref up``, the launcher's
bootstrap). One step every 100 ms from the start time; each step multiplies by (1 + ε),
ε ~ N(0, 0.0001) from a per-asset seeded generator, quantized to 0.01.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from decimal import Decimal

__all__ = ["STEP_S", "START_PRICE", "PricePath", "is_outlier", "step_of_time"]

STEP_S = 0.1
START_PRICE = {"BTC": Decimal("50000.00"), "ETH": Decimal("3000.00")}
CENT = Decimal("0.01")


@dataclass
class PricePath:
    seed: int
    start: float
    _steps: dict[str, list[Decimal]] = field(default_factory=dict)
    _rngs: dict[str, random.Random] = field(default_factory=dict)

    def step_of(self, t: float) -> int:
        return max(0, math.floor((t - self.start) / STEP_S + 1e-9))

    def _extend(self, asset: str, step: int) -> list[Decimal]:
        steps = self._steps.setdefault(asset, [START_PRICE[asset]])
        rng = self._rngs.setdefault(asset, random.Random(f"umref-price-{self.seed}-{asset}"))
        while len(steps) <= step:
            steps.append((steps[-1] * (1 + Decimal(repr(rng.gauss(0.0, 0.0001))))).quantize(CENT))
        return steps

    def price_at(self, asset: str, t: float) -> Decimal:
        step = self.step_of(t)
        return self._extend(asset, step)[step]


def step_of_time(t: float) -> int:
    """A tick's step on the absolute 100 ms grid: what seeds s3's outliers on intake ticks, so
    that the same tick time gives the same outlier whoever counts the ticks."""
    return math.floor(t / STEP_S + 0.5)


def is_outlier(seed: int, asset: str, step: int) -> bool:
    """Source s3 publishes a bad price (×1.05) on a seeded ~2 % of steps."""
    return random.Random(f"umref-outlier-{seed}-{asset}-{step}").random() < 0.02
