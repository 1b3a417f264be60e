"""Test helpers: a market that posts ticks to pricefeed's intake, and a partial topology."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

import requests

from targets.umref.config import RiskBudget
from targets.umref.launcher import Topology, plan

__all__ = ["Ticker", "only", "tick"]


def tick(topo: Topology, t: float, prices: dict[str, str]) -> requests.Response:
    return requests.post(topo.config.url("pricefeed") + "/intake", json={"time": t, "prices": prices}, timeout=2)


class Ticker:
    """Posts a tick every 100 ms from a thread (as the harness does), ``price(t)`` per asset;
    remembers what it sent, so a test can look up the true price at any time. A tick that times
    out on a busy machine is missed, as the harness's would be; one refused fails the test at exit."""

    def __init__(self, topo: Topology, price: Callable[[float], dict[str, Decimal]]) -> None:
        self.topo = topo
        self.price = price
        self.sent: list[tuple[float, dict[str, Decimal]]] = []
        self.refused: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ticker", daemon=True)

    def _run(self) -> None:
        session = requests.Session()
        session.trust_env = False
        url = self.topo.config.url("pricefeed") + "/intake"
        for _ in range(6000):  # bounded: ten minutes of ticks
            if self._stop.is_set():
                break
            now = time.time()
            prices = self.price(now)
            self.sent.append((now, prices))  # before it lands: margin may use it before the post returns
            try:
                answer = session.post(url, json={"time": now, "prices": {a: str(p) for a, p in prices.items()}}, timeout=2)
                if answer.status_code != 200:
                    self.refused.append(answer.text)
            except requests.RequestException:
                pass  # missed
            self._stop.wait(max(0.0, 0.1 - (time.time() - now)))
        session.close()

    def at(self, t: float) -> dict[str, Decimal]:
        """The truth at ``t``: the last tick sent at or before it."""
        return [p for when, p in self.sent if when <= t][-1]

    def __enter__(self) -> Ticker:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        assert not self.refused, f"pricefeed refused ticks: {self.refused[:3]}"


@contextmanager
def only(tmp_path: Path, names: tuple[str, ...], *, bugs: tuple[str, ...] = (), seed: int = 5,
         risk: RiskBudget | None = None) -> Iterator[Topology]:
    """Some of the services (real processes), for a test that needs no more."""
    topo = Topology(plan(tmp_path / "umref", bugs=bugs, price_seed=seed, risk=risk))
    try:
        topo.data_dir.mkdir(parents=True, exist_ok=True)
        topo.logs_dir.mkdir(parents=True, exist_ok=True)
        topo.forkserver.start()
        for name in names:
            topo.spawn(name)
        topo.wait_healthy(names, deadline=time.monotonic() + 15)
        yield topo
    finally:
        topo.stop()
