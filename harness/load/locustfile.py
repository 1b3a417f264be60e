"""Locust users for UM traffic. Run only as a subprocess (gevent patches the process).

Configuration comes from the JSON file named by ``UMCHAOS_LOAD_CONFIG``: accounts, history file,
run id, monotonic start, mix weights, user-class weights, request timeout. Every request is
written to the history as an invoke op before it is sent and a completion op after (ok / fail /
info, with the gateway it went to), in the harness's client model: the target's ``ClientApi``
(named in the config) builds each request and reads each answer. Each user fails over on the
target's front of gateways as a real client does (``harness.load.front``). ``UmTrader`` mixes
every request kind by ``mix``; the other classes each behave like one kind of customer and are
weighted by the scenario's ``load.classes`` (the runner names them on Locust's command line).
"""

from __future__ import annotations

import itertools
import json
import os
import random
import sys
import time
from decimal import Decimal
from typing import Any

from gevent.event import Event
from locust import FastHttpUser, between, events, task
from locust.exception import StopUser

from harness.load.front import Failover
from harness.load.ops import OpWriter
from harness.targets.base import RiskStreamApi
from harness.targets.client import STANDARD_CLIENT, load_client_api
from harness.workload import MIX_KINDS

CONFIG_WAIT_S = 600.0


def _wait_for_config(path: str) -> dict[str, Any]:
    """Locust is started before the target is up (its import overlaps the target's start); the
    runner writes this file once the target's accounts file (with its gateway) exists. Bounded: a runner that died never writes it."""
    deadline, parent = time.monotonic() + CONFIG_WAIT_S, os.getppid()
    while not os.path.exists(path):
        if time.monotonic() > deadline or os.getppid() != parent:
            raise SystemExit(f"no load config at {path} within {CONFIG_WAIT_S:.0f} s")
        time.sleep(0.01)
    return dict(json.loads(open(path).read()))


CONFIG = _wait_for_config(os.environ["UMCHAOS_LOAD_CONFIG"])
TARGET = json.loads(open(CONFIG["accounts_file"]).read())  # the gateways and the accounts
FRONT = tuple((g["service"], g["url"]) for g in TARGET["front"])
ACCOUNTS = [a for a in TARGET["accounts"] if a["role"] == "trader"]
LEVERAGED = [a for a in TARGET["accounts"] if a["role"] == "leveraged"]  # near their risk levels: the risk taker's
CLIENT = load_client_api(CONFIG.get("client_api", STANDARD_CLIENT))
UM_SYMBOLS = ("BTCUSDT", "ETHUSDT", "BTCUSDC", "ETHUSDC")
REFERENCE = {"BTC": Decimal(50000), "ETH": Decimal(3000)}
_worker = os.environ.get("UMCHAOS_WORKER", "")
_history = open(CONFIG["history_file"] + _worker, "a", buffering=1 << 16)
WRITER = OpWriter(_history, CONFIG["start_mono"])
_user_ids = itertools.count()
_marks: dict[str, Any] = {"at": 0.0, "symbols": {}}


@events.quitting.add_listener
def _flush(**_: Any) -> None:
    _history.flush()


@events.quit.add_listener
def _exit_now(exit_code: int, **_: Any) -> None:
    """Locust's last step before ``sys.exit``: flush (users stopped since ``quitting`` wrote more)
    and leave without the interpreter's teardown of gevent, flask & co., a tenth of a second the
    run would wait for."""
    _history.flush()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(exit_code)


_released = Event()  # set once the runner creates the release file


@events.init.add_listener
def _wait_for_release(**_: Any) -> None:
    """Users are set up before the steady-state probe and send once it has passed: one greenlet
    watches for the release file, each user waits on its event. Should it never come, Locust's
    own --run-time ends the wait."""
    import gevent

    def watch() -> None:
        while not os.path.exists(CONFIG["release_file"]):
            gevent.sleep(0.005)
        _released.set()

    gevent.spawn(watch)


@events.init.add_listener
def _flush_often(**_: Any) -> None:
    """Flush ten times a second, so the live display and the runner's start signal see ops promptly."""
    import gevent

    def loop() -> None:
        while True:
            gevent.sleep(0.1)
            _history.flush()

    gevent.spawn(loop)


def _weights() -> dict[str, float]:
    mix = CONFIG["mix"]
    return {kind: float(mix.get(kind, 0)) for kind in MIX_KINDS}


class Customer(FastHttpUser):
    """One customer account and the requests it can make; subclasses choose which and how often."""

    abstract = True
    host = FRONT[0][1]  # Locust's own label: every request names its gateway's URL in full
    wait_time = between(*CONFIG.get("think_s") or (0.05, 0.2))  # bench/ sets (0, 0): closed loop
    network_timeout = float(CONFIG.get("timeout_s", 5.0))
    connection_timeout = float(CONFIG.get("timeout_s", 5.0))

    def on_start(self) -> None:
        _released.wait()  # the runner's release
        self.uid = next(_user_ids)
        self.process = f"u{_worker or '0'}-{self.uid}"
        self.account = ACCOUNTS[self.uid % len(ACCOUNTS)]
        self.rng = random.Random(f"{CONFIG['run_id']}-{self.process}")
        self.resting: list[str] = []
        self.n = 0
        self.front = Failover(FRONT)

    # ---- one request, two ops ----------------------------------------------------------------
    def send(self, f: str, fields: dict[str, Any], *, key: str | None = None, valid: bool = True) -> Any:
        self.n += 1
        client_id = f"{CONFIG['run_id']}-{self.process}-{self.n}"
        payload = {"client_id": client_id, **fields}
        started = WRITER.invoke(f, self.process, {**payload, "account": self.account["account"], "api_key_valid": valid})
        request = CLIENT.request(f, payload, key or self.account["api_key"])
        status, answer, exc = None, None, None
        at, gateway, url = self.front.pick()
        try:
            with self.client.request(request.method, url + request.path, json=request.json, headers=dict(request.headers),
                                     name=f, catch_response=True) as resp:
                if not resp.status_code:
                    exc = resp.error or ConnectionError("no answer")
                try:
                    raw = resp.json() if resp.text else None
                except ValueError:
                    raw = None
                status, answer = CLIENT.answer(f, resp.status_code or None, raw)
                if status and (status < 500):
                    resp.success()
        except Exception as error:  # noqa: BLE001 - every failure is an op, never a crashed user
            exc = error
        code = WRITER.complete(f, self.process, started, client_id=client_id, account=self.account["account"],
                               status=status, body=answer, via=gateway, exc=exc)
        self.front.answered(at, status, code)
        return answer if status == 200 else None

    def mark(self, symbol: str) -> Decimal:
        if time.monotonic() - _marks["at"] > 2.0:
            _marks["at"] = time.monotonic()
            request = CLIENT.marks_request()
            try:  # from this user's gateway: its next order finds out if that one is gone
                resp = self.client.request(request.method, self.front.pick()[2] + request.path,
                                           headers=dict(request.headers), name="market")
                if resp.status_code == 200:
                    _marks["symbols"] = CLIENT.marks(resp.json())
            except Exception:  # noqa: BLE001 - fall back to the last or reference prices
                pass
        mark = _marks["symbols"].get(symbol)
        return Decimal(mark) if mark else REFERENCE[symbol[:3]]

    def price_near(self, symbol: str, spread: float) -> str:
        move = Decimal(repr(self.rng.uniform(-spread, spread)))
        return str((self.mark(symbol) * (1 + move)).quantize(Decimal("0.01")))

    # ---- the mix -------------------------------------------------------------------------------
    def um_order(self) -> None:
        symbol = self.rng.choice(UM_SYMBOLS)
        side = self.rng.choice(("BUY", "SELL"))
        qty = f"{self.rng.randint(1, 10) / 1000:.3f}"
        answer = self.send("um_order", {"symbol": symbol, "side": side, "type": "LIMIT", "qty": qty,
                                        "price": self.price_near(symbol, 0.002)})
        if answer and answer.get("status") in ("NEW", "PARTIALLY_FILLED"):
            self.resting.append(answer["order_id"])

    def cancel(self) -> None:
        if not self.resting:
            return self.um_order()
        order_id = self.resting.pop(self.rng.randrange(len(self.resting)))
        self.send("cancel", {"order_id": order_id})

    def transfer(self) -> None:
        to_um = self.rng.random() < 0.5
        self.send("transfer", {"asset": "USDT", "amount": str(self.rng.randint(1, 20)),
                               "from": "spot" if to_um else "um", "to": "um" if to_um else "spot"})

    def spot_order(self) -> None:
        side = self.rng.choice(("BUY", "SELL"))
        self.send("spot_order", {"symbol": "BTC/USDT", "side": side, "type": "LIMIT", "qty": "0.00100",
                                 "price": self.price_near("BTCUSDT", 0.002)})

    def leverage(self) -> None:
        self.send("leverage", {"symbol": self.rng.choice(UM_SYMBOLS), "leverage": self.rng.randint(5, 20)})

    def bad_key(self) -> None:
        forged = f"ak-{self.account['account']}-{self.rng.getrandbits(64):016x}"
        self.send("um_order", {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "qty": "0.001",
                               "price": self.price_near("BTCUSDT", 0.002)}, key=forged, valid=False)


# ---- the user classes ---------------------------------------------------------------------------
def _class_weight(name: str) -> int:
    """Locust wants integer weights: scale the scenario's by 100 (0.5 and 1.5 keep their ratio)."""
    return max(1, round(100 * float((CONFIG.get("classes") or {}).get(name, 1))))


class UmTrader(Customer):
    """The mixed customer: every request kind, weighted by the scenario's ``load.mix``."""

    def on_start(self) -> None:
        super().on_start()
        kinds, weights = zip(*[(k, w) for k, w in _weights().items() if w > 0], strict=True)
        self.kinds, self.weights = kinds, weights

    @task
    def act(self) -> None:
        getattr(self, self.rng.choices(self.kinds, self.weights)[0])()


class MarketMaker(Customer):
    """Quotes both sides close to the mark and cancels its oldest quotes, as makers requote."""

    weight = _class_weight("market_maker")
    wait_time = between(0.02, 0.1)
    MAX_RESTING = 6

    def quote(self, symbol: str, side: str) -> None:
        mark = self.mark(symbol)
        offset = Decimal(repr(self.rng.uniform(0.0005, 0.003)))
        price = mark * (1 - offset) if side == "BUY" else mark * (1 + offset)
        answer = self.send("um_order", {"symbol": symbol, "side": side, "type": "LIMIT",
                                        "qty": f"{self.rng.randint(1, 5) / 1000:.3f}",
                                        "price": str(price.quantize(Decimal("0.01")))})
        if answer and answer.get("status") in ("NEW", "PARTIALLY_FILLED"):
            self.resting.append(answer["order_id"])

    @task(3)
    def requote(self) -> None:
        symbol = self.rng.choice(UM_SYMBOLS)
        self.quote(symbol, "BUY")
        self.quote(symbol, "SELL")
        while len(self.resting) > self.MAX_RESTING:
            self.send("cancel", {"order_id": self.resting.pop(0)})

    @task(1)
    def pull(self) -> None:
        if self.resting:
            self.send("cancel", {"order_id": self.resting.pop(self.rng.randrange(len(self.resting)))})


class Taker(Customer):
    """Crosses the spread: buys above the mark, sells below it, so quotes fill."""

    weight = _class_weight("taker")
    wait_time = between(0.1, 0.4)

    @task
    def take(self) -> None:
        symbol = self.rng.choice(UM_SYMBOLS)
        side = self.rng.choice(("BUY", "SELL"))
        through = Decimal("1.004") if side == "BUY" else Decimal("0.996")
        self.send("um_order", {"symbol": symbol, "side": side, "type": "LIMIT",
                               "qty": f"{self.rng.randint(1, 5) / 1000:.3f}",
                               "price": str((self.mark(symbol) * through).quantize(Decimal("0.01")))})


class MarginTransferUser(Customer):
    """Moves USDT between the spot and the UM wallet: the transfers a halt must refuse whole."""

    weight = _class_weight("margin_transfer")
    wait_time = between(0.3, 1.0)

    @task
    def move(self) -> None:
        self.transfer()


class PositionChanger(Customer):
    """Changes leverage, now and then placing an order at the new leverage (a position change)."""

    weight = _class_weight("position_changer")
    wait_time = between(0.3, 1.0)

    @task(2)
    def relever(self) -> None:
        self.leverage()

    @task(1)
    def resize(self) -> None:
        self.um_order()


class SpotTrader(Customer):
    """Trades BTC/USDT spot only: the product a UM halt must leave alone."""

    weight = _class_weight("spot_trader")
    wait_time = between(0.05, 0.3)

    @task
    def trade(self) -> None:
        self.spot_order()


class RiskTaker(Customer):
    """Trades as a leveraged account near its risk levels, as such customers do: adds to its long
    now and then (a bid below the mark), reduces it (a reduce-only offer above), takes a little
    collateral out of the UM wallet and puts it back. In REDUCE_ONLY the adding and the taking
    out are refused, the reducing and the putting back taken: what no_erroneous_risk_actions
    judges. A target without leveraged accounts has no one to trade as: the user stops."""

    weight = _class_weight("risk_taker")
    wait_time = between(0.2, 0.6)
    SYMBOLS = ("BTCUSDT", "BTCUSDC")

    def on_start(self) -> None:
        super().on_start()
        if not LEVERAGED:
            raise StopUser()
        self.account = LEVERAGED[self.uid % len(LEVERAGED)]
        self.parked = 0  # USDT taken out of the UM wallet, to put back
        self.cursor = 0  # how far it has read its account's user-data stream

    def order(self, side: str, away: str, *, reduce_only: bool) -> None:
        symbol = self.rng.choice(self.SYMBOLS)
        price = (self.mark(symbol) * Decimal(away)).quantize(Decimal("0.01"))
        answer = self.send("um_order", {"symbol": symbol, "side": side, "type": "LIMIT", "qty": "0.001",
                                        "price": str(price), "reduce_only": reduce_only})
        if answer and answer.get("status") in ("NEW", "PARTIALLY_FILLED"):
            self.resting.append(answer["order_id"])

    @task(3)
    def add(self) -> None:
        self.order("BUY", "0.98", reduce_only=False)

    @task(2)
    def reduce(self) -> None:
        self.order("SELL", "1.02", reduce_only=True)

    @task(2)
    def tidy(self) -> None:
        if self.resting:
            self.send("cancel", {"order_id": self.resting.pop(0)})

    @task(2)
    def listen(self) -> None:
        """Read the account's user-data stream (``RiskStreamApi``), as the customer's own software
        does: each read is an op ``risk_stream`` whose body holds the events it brought."""
        if not isinstance(CLIENT, RiskStreamApi) or (request := CLIENT.risk_stream_request(
                self.cursor, self.account["api_key"])) is None:
            return
        self.n += 1
        fields = {"client_id": f"{CONFIG['run_id']}-{self.process}-{self.n}", "account": self.account["account"],
                  "after": self.cursor}
        started = WRITER.invoke("risk_stream", self.process, fields)
        status, body, exc = None, None, None
        at, gateway, url = self.front.pick()
        try:
            with self.client.request(request.method, url + request.path, headers=dict(request.headers),
                                     name="risk_stream", catch_response=True) as resp:
                status = resp.status_code or None
                read = CLIENT.risk_stream(resp.json()) if status == 200 and resp.text else None
                if read is not None:
                    events, self.cursor = read
                    body = {"events": events, "next": self.cursor}
                resp.success()
        except Exception as error:  # noqa: BLE001 - every failure is an op, never a crashed user
            exc = error
        code = WRITER.complete("risk_stream", self.process, started, client_id=fields["client_id"],
                               account=self.account["account"], status=status, body=body, via=gateway, exc=exc)
        self.front.answered(at, status, code)

    @task(1)
    def collateral(self) -> None:
        back = self.parked > 0
        answer = self.send("transfer", {"asset": "USDT", "amount": str(self.parked or 1),
                                        "from": "spot" if back else "um", "to": "um" if back else "spot"})
        if answer is not None:
            self.parked = 0 if back else 1
