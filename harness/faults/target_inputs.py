"""Faults acted through the target's inputs and controls: a price shock or drift (a market event
moved on the harness's own price path, not an infrastructure fault) and a skewed node clock (on the local backend every service shares the
host's kernel clock, so a node's skew is set through its clock control)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import requests

from harness.faults.base import FaultBase, FaultError, Landing
from harness.http import target_session

__all__ = ["PriceShock", "PriceDrift", "ClockSkew", "heal_clock"]

SHOCK_LANDS_WITHIN_S = 1.0  # ten ticks: one at least reaches a live price intake


@dataclass
class _MarketMove(FaultBase):
    """A move of the harness's own price path: done once it is set on the path, nothing to undo."""

    def journal_entry(self) -> dict[str, Any]:
        return {"heal": "none"}  # a market move is not undone

    def heal(self) -> None:
        return None

    def move(self, move: Callable[[Any, str, Decimal], int], what: str) -> Landing:
        """Sets the move on the market (``move`` returns the first step carrying it); landed once a
        tick carrying it reached the target's price intake (the path moved all the same if none did)."""
        if self.env.market is None:
            raise FaultError(f"{self.spec.id}: no market feed in this run to move")
        asset, pct = self.spec.params["asset"], Decimal(str(self.spec.params["move_pct"]))
        try:
            step = move(self.env.market, asset, pct)
        except ValueError as exc:
            raise FaultError(f"{self.spec.id}: {exc}") from None
        tick, detail = self.env.market.wait_delivered(step, timeout_s=SHOCK_LANDS_WITHIN_S)
        if tick is None:
            return Landing(False, f"{asset} {pct:+}%{what} from tick {step}: no tick carrying it delivered within "
                                  f"{SHOCK_LANDS_WITHIN_S:g} s ({detail})")
        return Landing(True, f"{asset} {pct:+}%{what} from tick {step}: delivered with tick {tick.step} "
                             f"({asset} {tick.prices[asset]})")


@dataclass
class PriceShock(_MarketMove):
    def describe(self) -> str:
        return f"price shock {self.spec.params['asset']} {self.spec.params['move_pct']}%"

    def inject(self) -> Landing:
        """Moves the harness's own price path from its next tick on."""
        return self.move(lambda market, asset, pct: market.shock(asset, pct), "")


@dataclass
class PriceDrift(_MarketMove):
    @property
    def duration_s(self) -> float:
        return float(self.spec.duration_s or 0.0)

    def describe(self) -> str:
        return f"price drift {self.spec.params['asset']} {self.spec.params['move_pct']}% over {self.duration_s:g} s"

    def inject(self) -> Landing:
        """Sets the whole drift on the price path at once, over the ticks of its ``for`` from the
        next tick on: nothing is left to do when it ends, nor to heal."""
        return self.move(lambda market, asset, pct: market.drift(asset, pct, self.duration_s)[0],
                         f" over {self.duration_s:g} s")


def _set_clock(url: str, offset_ms: float) -> requests.Response:
    with target_session() as http:
        return http.post(url + "/admin/clock", json={"offset_ms": offset_ms}, timeout=2)


@dataclass
class ClockSkew(FaultBase):
    @property
    def url(self) -> str:
        return self.env.services[self.spec.target["service"]]

    def describe(self) -> str:
        return f"clock skew {self.spec.target['service']} {self.spec.params['offset_ms']:+} ms"

    def journal_entry(self) -> dict[str, Any]:
        return {"heal": "clock", "url": self.url}

    def inject(self) -> Landing:
        offset = float(self.spec.params["offset_ms"])
        try:
            answer = _set_clock(self.url, offset)
            with target_session() as http:
                seen = http.get(self.url + "/admin/clock", timeout=2).json()
        except (requests.RequestException, ValueError) as exc:
            raise FaultError(f"{self.spec.id}: clock control of {self.spec.target['service']} unreachable: "
                             f"{exc.__class__.__name__}") from None
        landed = answer.status_code == 200 and abs(float(seen.get("offset_ms", 0)) - offset) < 0.01
        return Landing(landed, f"{self.spec.target['service']} clock offset now {seen.get('offset_ms')} ms")

    def heal(self) -> None:
        heal_clock(self.journal_entry())


def heal_clock(entry: dict[str, Any]) -> None:
    try:
        _set_clock(entry["url"], 0)
    except requests.ConnectionError:
        return  # the service is gone, and its skew with it
    except requests.RequestException as exc:
        raise FaultError(f"could not reset the clock at {entry['url']}: {exc.__class__.__name__}") from None

