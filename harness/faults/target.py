"""Faults acted through the target's own controls: a price shock (a market event, not an
infrastructure fault) and a skewed node clock (on the local backend every service shares the
host's kernel clock, so a node's skew is set through its clock control)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import requests

from harness.faults.base import HEALERS, FaultEnv, FaultError, Landing, register
from harness.http import target_session
from harness.schedule import ScheduledFault

__all__ = ["PriceShock", "ClockSkew"]


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
            with target_session() as http:
                resp = http.post(self.env.services["pricefeed"] + "/shock", json=body, timeout=2)
        except requests.RequestException as exc:
            raise FaultError(f"{self.spec.id}: pricefeed unreachable for the shock: {exc.__class__.__name__}") from None
        return Landing(resp.status_code == 200, f"pricefeed answered {resp.status_code}: {resp.text[:200]}")

    def heal(self) -> None:
        return None


def _set_clock(url: str, offset_ms: float) -> requests.Response:
    with target_session() as http:
        return http.post(url + "/admin/clock", json={"offset_ms": offset_ms}, timeout=2)


@register("clock_skew")
@dataclass
class ClockSkew:
    spec: ScheduledFault
    env: FaultEnv

    @property
    def url(self) -> str:
        return self.env.services[self.spec.target["service"]]

    def describe(self) -> str:
        return f"clock skew {self.spec.target['service']} {self.spec.params['offset_ms']:+} ms"

    def expect_um_halt(self) -> bool:
        return False

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
        _heal_clock(self.journal_entry())


def _heal_clock(entry: dict[str, Any]) -> None:
    try:
        _set_clock(entry["url"], 0)
    except requests.ConnectionError:
        return  # the service is gone, and its skew with it
    except requests.RequestException as exc:
        raise FaultError(f"could not reset the clock at {entry['url']}: {exc.__class__.__name__}") from None


HEALERS["clock"] = _heal_clock
