"""Target-level events: a price shock is a market event, not an infrastructure fault."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import requests

from harness.faults.base import FaultEnv, FaultError, Landing, register
from harness.schedule import ScheduledFault

__all__ = ["PriceShock"]


@register("price_shock")
@dataclass
class PriceShock:
    spec: ScheduledFault
    env: FaultEnv

    def describe(self) -> str:
        return f"price shock {self.spec.params['asset']} {self.spec.params['move_pct']}%"

    def expect_um_halt(self) -> bool:
        return False

    def journal_entry(self) -> dict[str, Any]:
        return {"heal": "none"}  # a market move is not undone

    def inject(self) -> Landing:
        body = {"asset": self.spec.params["asset"], "move_pct": str(self.spec.params["move_pct"])}
        try:
            resp = requests.post(self.env.services["pricefeed"] + "/shock", json=body, timeout=2)
        except requests.RequestException as exc:
            raise FaultError(f"{self.spec.id}: pricefeed unreachable for the shock: {exc.__class__.__name__}") from None
        return Landing(resp.status_code == 200, f"pricefeed answered {resp.status_code}: {resp.text[:200]}")

    def heal(self) -> None:
        return None
