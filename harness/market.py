"""The market: the harness owns the price path and publishes it to the target, tick by tick.

A staging platform takes its prices from an external market-data source; here the harness is
that source. It generates a seeded path per asset (shocks and drifts included), posts each tick to every
price intake of the target every 100 ms (a standby region's too: promoted, it must price as the
home one did) and records each tick as one history op: delivered when an intake accepted it, and
which did.
Margin decisions are then judged against what the harness itself published, not against the
target's account of its own prices.

``PricePath`` is the pure part (same seed, shocks and drifts: same path); ``MarketFeed`` is the thread
that publishes it and records the ticks.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import requests

from harness.history import Op
from harness.http import target_session
from harness.recorder import Recorder

__all__ = ["STEP_S", "START_PRICES", "Tick", "PricePath", "MarketFeed"]

STEP_S = 0.1
# The prices umref's demo path starts from too, so a target that priced a few steps on its own
# path before the first tick reached it saw no jump.
START_PRICES = {"BTC": Decimal("50000.00"), "ETH": Decimal("3000.00")}
CENT = Decimal("0.01")
STEP_SIGMA = 0.0001
INTAKE_TIMEOUT_S = 0.25  # a tick is worth sending only until the next one is due


@dataclass(frozen=True)
class Tick:
    """One published tick: its step on the path, its timestamp, its prices, whether the target
    accepted it (a price intake did) and what each intake answered."""

    step: int
    time: float
    prices: dict[str, str]
    delivered: bool
    detail: str


@dataclass(frozen=True)
class _Mark:
    """A market event's op, recorded at the first published tick at or after ``step``."""

    f: str
    step: int
    value: dict[str, Any]


@dataclass
class PricePath:
    """A seeded random walk per asset, one step per tick: each step multiplies the last price by
    (1 + e), e ~ N(0, 0.0001) from the asset's own generator, times the moves set on that step,
    then quantizes to 0.01. A shock is a move on one step, so it multiplies the path from there
    on; a drift is the same move on each of its steps, compounding to its total, so the walk goes
    on from where it left it. Steps are computed in order, so a step's price does not depend on
    which steps were published."""

    seed: int
    moves: dict[tuple[str, int], list[Decimal]] = field(default_factory=dict)  # (asset, step) -> factors
    _steps: dict[str, list[Decimal]] = field(default_factory=dict)
    _rngs: dict[str, random.Random] = field(default_factory=dict)

    def computed(self, asset: str | None = None) -> int:
        """The last step whose price is fixed, of ``asset`` or of any asset (step 0, the start
        price, always is)."""
        assets = START_PRICES if asset is None else (asset,)
        return max(0, *(len(self._steps.get(a, ())) - 1 for a in assets))

    def shock(self, asset: str, move_pct: Decimal, step: int) -> None:
        """Moves ``asset`` by ``move_pct`` % from ``step`` on; only steps not yet computed can move."""
        self.drift(asset, move_pct, step, steps=1)

    def drift(self, asset: str, move_pct: Decimal, step: int, steps: int) -> None:
        """Moves ``asset`` by ``move_pct`` % in all over ``steps`` steps from ``step`` on, by the
        same factor each step (the total is exactly 1 + move_pct/100 but for each step's cent
        rounding); only steps not yet computed can move."""
        if asset not in START_PRICES:
            raise ValueError(f"unknown asset {asset!r}: one of {', '.join(START_PRICES)}")
        if not Decimal(-100) < move_pct:
            raise ValueError(f"a move of {move_pct} % leaves no price")
        if steps < 1:
            raise ValueError(f"a move takes at least one step, not {steps}")
        if step <= self.computed(asset):
            raise ValueError(f"step {step} of {asset} is already priced (up to {self.computed(asset)})")
        total = 1 + move_pct / 100
        factor = total if steps == 1 else total ** (Decimal(1) / steps)
        for k in range(step, step + steps):
            self.moves.setdefault((asset, k), []).append(factor)

    def price(self, asset: str, step: int) -> Decimal:
        steps = self._steps.setdefault(asset, [START_PRICES[asset]])
        rng = self._rngs.setdefault(asset, random.Random(f"umchaos-market-{self.seed}-{asset}"))
        while len(steps) <= step:
            k = len(steps)
            price = steps[-1] * (1 + Decimal(repr(rng.gauss(0.0, STEP_SIGMA))))
            for factor in self.moves.get((asset, k), ()):
                price *= factor
            steps.append(price.quantize(CENT))
        return steps[step]

    def prices(self, step: int) -> dict[str, Decimal]:
        return {asset: self.price(asset, step) for asset in START_PRICES}


class MarketFeed:
    """Publishes ``path`` to ``intakes`` (price intake service -> its intake URL) in a daemon
    thread, one tick per 100 ms on a fixed timetable (a late tick is skipped, never sent in a
    burst), to every intake at once (a slow one delays no other), and records every tick in
    ``recorder`` as ``f="tick"``, process ``market``, at the tick's time. A shock is recorded as
    ``f="price_shock"`` at the time of the first tick carrying it; a drift as ``f="price_drift"``
    twice, ``phase`` ``start`` at the first tick carrying its first step and ``end`` at the first
    tick at or after its last. Bounded: stops on ``stop()`` or after ``max_s`` seconds."""

    def __init__(self, path: PricePath, intakes: Mapping[str, str], recorder: Recorder, *, max_s: float,
                 step_s: float = STEP_S, timeout_s: float = INTAKE_TIMEOUT_S) -> None:
        if not intakes:
            raise ValueError("a market needs a price intake")
        self.path = path
        self.intakes = dict(intakes)
        self._posts = ThreadPoolExecutor(max_workers=len(intakes), thread_name_prefix="market-intake")
        self.recorder = recorder
        self.max_s = max_s
        self.step_s = step_s
        self.timeout_s = timeout_s
        self.ticks = 0
        self.delivered = 0
        self._pending: list[_Mark] = []  # market events not yet on a published tick
        self._last: Tick | None = None
        self._last_delivered: Tick | None = None
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="market-feed", daemon=True)

    def start(self) -> MarketFeed:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2 * self.timeout_s + 1)
        with self._cond:
            self._cond.notify_all()

    def shock(self, asset: str, move_pct: Decimal) -> int:
        """Moves ``asset`` from the next tick on; returns that tick's step."""
        with self._cond:
            step = self.path.computed() + 1
            self.path.shock(asset, move_pct, step)
            self._pending.append(_Mark("price_shock", step, {"asset": asset, "move_pct": float(move_pct)}))
            return step

    def drift(self, asset: str, move_pct: Decimal, duration_s: float) -> tuple[int, int]:
        """Moves ``asset`` by ``move_pct`` % in all over the ticks of ``duration_s`` from the next
        tick on; returns its first and last steps."""
        steps = max(1, round(duration_s / self.step_s))
        with self._cond:
            first = self.path.computed() + 1
            self.path.drift(asset, move_pct, first, steps)
            last = first + steps - 1
            value = {"asset": asset, "move_pct": float(move_pct), "for_s": duration_s, "first_step": first,
                     "last_step": last}
            self._pending += [_Mark("price_drift", first, {**value, "phase": "start"}),
                              _Mark("price_drift", last, {**value, "phase": "end"})]
            return first, last

    def wait_delivered(self, step: int, timeout_s: float) -> tuple[Tick | None, str]:
        """The last delivered tick at or after ``step`` once there is one (None if none within
        ``timeout_s`` or the feed stopped), and what the last tick met."""

        def reached() -> bool:
            last = self._last_delivered
            return (last is not None and last.step >= step) or self._stop.is_set()

        with self._cond:
            self._cond.wait_for(reached, timeout=timeout_s)
            last, delivered = self._last, self._last_delivered
        if delivered is not None and delivered.step >= step:
            return delivered, delivered.detail
        why = "no tick published since" if last is None or last.step < step else last.detail
        return None, why + (" (market feed stopped)" if self._stop.is_set() else "")

    def _run(self) -> None:
        sessions = {name: target_session() for name in self.intakes}
        start = time.monotonic()
        step = 0
        try:
            while not self._stop.is_set() and step * self.step_s <= self.max_s:
                self._publish(sessions, step)
                now = time.monotonic()
                step = max(step + 1, int((now - start) / self.step_s))  # the latest due tick, no burst
                if self._stop.wait(max(0.0, start + step * self.step_s - time.monotonic())):
                    break
        finally:
            self._posts.shutdown()
            for session in sessions.values():
                session.close()
            self._stop.set()
            with self._cond:
                self._cond.notify_all()

    def _publish(self, sessions: Mapping[str, requests.Session], step: int) -> None:
        with self._cond:
            prices = {asset: str(p) for asset, p in self.path.prices(step).items()}
            marks = [m for m in self._pending if m.step <= step]
            self._pending = [m for m in self._pending if m.step > step]
        at, mono = time.time(), time.monotonic() - self.recorder.start_mono
        body = {"time": at, "prices": prices}
        answers = list(self._posts.map(lambda name: self._post(sessions[name], name, body), self.intakes))
        accepted_by = [name for name, (accepted, _) in zip(self.intakes, answers, strict=True) if accepted]
        delivered, detail = bool(accepted_by), "; ".join(detail for _, detail in answers)
        tick = Tick(step, at, prices, delivered, detail)
        ops = [Op(index=-1, type="info", f="tick", process="market", time=at, mono=mono,
                  value={"prices": prices, "delivered": delivered, "accepted_by": accepted_by})]
        ops += [Op(index=-1, type="info", f=mark.f, process="market", time=at, mono=mono,
                   value={**mark.value, "time": at, "step": step, "delivered": delivered})
                for mark in marks]
        self.recorder.extend(ops)
        with self._cond:
            self.ticks += 1
            self.delivered += delivered
            self._last = tick
            if delivered:
                self._last_delivered = tick
            self._cond.notify_all()

    def _post(self, session: requests.Session, name: str, body: dict[str, Any]) -> tuple[bool, str]:
        """Whether the price intake ``name`` accepted the tick, and what it answered."""
        try:
            resp = session.post(self.intakes[name], json=body, timeout=self.timeout_s)
        except requests.RequestException as exc:
            return False, f"price intake {name} unreachable: {exc.__class__.__name__}"
        try:
            accepted = resp.status_code == 200 and resp.json().get("accepted") is True
        except (ValueError, AttributeError):
            accepted = False
        return accepted, f"price intake {name} answered {resp.status_code}" + ("" if accepted else f": {resp.text[:200]}")
