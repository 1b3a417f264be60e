"""Locust users for UM traffic. Run only as a subprocess (gevent patches the process).

Configuration comes from the JSON file named by ``UMCHAOS_LOAD_CONFIG``: accounts, history file,
run id, monotonic start, mix weights, user-class weights, request timeout. Every request is
written to the history as an invoke op before it is sent and a completion op after (ok / fail /
info, with the gateway it went to), in the harness's client model: the target's ``ClientApi``
(named in the config) builds each request and reads each answer. Each user fails over on the
target's front of gateways as a real client does (``harness.load.front``). ``UmTrader`` mixes
every request kind by ``mix``; the other classes each behave like one kind of customer and are
weighted by the scenario's ``load.classes`` (the runner names them on Locust's command line).
A worker started by ``umchaos worker`` has no config file: ``RemoteWorker`` and ``RemoteMaster``
carry the config, target, release and ops over Locust's messages (``harness.load.remote``).
"""

from __future__ import annotations

import itertools
import json
import os
import random
import socket
import sys
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import gevent
from gevent.event import AsyncResult, Event
from locust import FastHttpUser, between, events, task
from locust.env import Environment
from locust.exception import StopUser
from locust.rpc import Message
from locust.runners import MasterRunner, WorkerRunner

from harness.load.front import Failover
from harness.load.ops import Lines, OpWriter
from harness.load.remote import (
    MSG,
    PINGS,
    Clock,
    ClockSample,
    Outbox,
    best_sample,
    clock_sample,
    worker_settings,
)
from harness.targets.base import ClientRequest, RiskStreamApi
from harness.targets.client import STANDARD_CLIENT, load_client_api
from harness.workload import MIX_KINDS

CONFIG_WAIT_S = 600.0
MASTER = os.environ.get("UMCHAOS_MASTER", "")  # `umchaos worker`: everything comes over Locust's messages
MASTER_GONE_S = 10.0  # a remote worker that hears no heartbeat from its master this long exits
PONG_WAIT_S = 2.0  # one clock ping's answer
DRAIN_S = 10.0  # the master's wait for remote workers' last ops once the load stops


def _wait_for_config(path: str) -> dict[str, Any]:
    """Locust is started before the target is up (its import overlaps the target's start); the
    runner writes this file once the target's accounts file (with its gateway) exists. Bounded: a runner that died never writes it."""
    deadline, parent = time.monotonic() + CONFIG_WAIT_S, os.getppid()
    while not os.path.exists(path):
        if time.monotonic() > deadline or os.getppid() != parent:
            raise SystemExit(f"no load config at {path} within {CONFIG_WAIT_S:.0f} s")
        time.sleep(0.01)
    return dict(json.loads(open(path).read()))


CONFIG: dict[str, Any] = {} if MASTER else _wait_for_config(os.environ["UMCHAOS_LOAD_CONFIG"])
TARGET: dict[str, Any] = {} if MASTER else json.loads(open(CONFIG["accounts_file"]).read())  # gateways, accounts
FRONT: tuple[tuple[str, str], ...] = ()  # these four are set by _use
ACCOUNTS: list[dict[str, Any]] = []
LEVERAGED: list[dict[str, Any]] = []  # near their risk levels: the risk taker's
CLIENT = load_client_api(STANDARD_CLIENT)
UM_SYMBOLS = ("BTCUSDT", "ETHUSDT", "BTCUSDC", "ETHUSDC")
REFERENCE = {"BTC": Decimal(50000), "ETH": Decimal(3000)}
_worker = os.environ.get("UMCHAOS_WORKER", "")  # a remote worker's is its name, given by the master
_history: Lines = Outbox() if MASTER else open(CONFIG["history_file"] + _worker, "a", buffering=1 << 16)
WRITER = OpWriter(_history, CONFIG.get("start_mono", 0.0))  # a remote worker's is set once its clocks are mapped
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


_released = Event()  # set once the runner creates the release file (a remote worker: once the master says)


@events.init.add_listener
def _wait_for_release(**_: Any) -> None:
    """Users are set up before the steady-state probe and send once it has passed: one greenlet
    watches for the release file, each user waits on its event. Should it never come, Locust's
    own --run-time ends the wait."""
    if MASTER:
        return

    def watch() -> None:
        while not os.path.exists(CONFIG["release_file"]):
            gevent.sleep(0.005)
        _released.set()

    gevent.spawn(watch)


@events.init.add_listener
def _flush_often(**_: Any) -> None:
    """Flush ten times a second, so the live display and the runner's start signal see ops promptly."""
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
    # host, wait_time and the timeouts are set from the config by _use

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
        payload = {"client_id": f"{CONFIG['run_id']}-{self.process}-{self.n}", **fields}
        request = CLIENT.request(f, payload, key or self.account["api_key"])
        status, answer = self.exchange(f, request, {**payload, "account": self.account["account"], "api_key_valid": valid},
                                       lambda code, raw: CLIENT.answer(f, code, raw))
        return answer if status == 200 else None

    def exchange(self, f: str, request: ClientRequest, recorded: dict[str, Any],
                 read: Callable[[int | None, Any], tuple[int | None, Any]]) -> tuple[int | None, Any]:
        """One request as an op: its invoke (``recorded``, with its client id), sent on the front of
        gateways, the answer ``read`` into (status, body), its completion; every failure an op."""
        started = WRITER.invoke(f, self.process, recorded)
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
                status, answer = read(resp.status_code or None, raw)
                if status and (status < 500):
                    resp.success()
        except Exception as error:  # noqa: BLE001 - every failure is an op, never a crashed user
            exc = error
        code = WRITER.complete(f, self.process, started, client_id=recorded["client_id"], account=self.account["account"],
                               status=status, body=answer, via=gateway, exc=exc)
        self.front.answered(at, status, code)
        return status, answer

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
        self.exchange("risk_stream", request, fields, self.read_stream)

    def read_stream(self, status: int | None, raw: Any) -> tuple[int | None, Any]:
        """A stream read's events, the cursor moved past them; no body when none could be read."""
        read = CLIENT.risk_stream(raw) if status == 200 and isinstance(CLIENT, RiskStreamApi) and raw is not None else None
        if read is None:
            return status, None
        events, self.cursor = read
        return status, {"events": events, "next": self.cursor}

    @task(1)
    def collateral(self) -> None:
        back = self.parked > 0
        answer = self.send("transfer", {"asset": "USDT", "amount": str(self.parked or 1),
                                        "from": "spot" if back else "um", "to": "um" if back else "spot"})
        if answer is not None:
            self.parked = 0 if back else 1


# ---- the config in use -------------------------------------------------------------------------
def _use(config: dict[str, Any], target: dict[str, Any]) -> None:
    """Set this process up to send: the load config and the target's front and accounts; from the
    files at import, on a remote worker from the master's message (before its users exist)."""
    global FRONT, ACCOUNTS, LEVERAGED, CLIENT
    CONFIG.update(config)
    FRONT = tuple((g["service"], g["url"]) for g in target["front"])
    ACCOUNTS = [a for a in target["accounts"] if a["role"] == "trader"]
    LEVERAGED = [a for a in target["accounts"] if a["role"] == "leveraged"]
    CLIENT = load_client_api(CONFIG.get("client_api") or STANDARD_CLIENT)
    Customer.host = FRONT[0][1]  # Locust's own label: every request names its gateway's URL in full
    Customer.wait_time = between(*CONFIG.get("think_s") or (0.05, 0.2))  # bench/ sets (0, 0): closed loop
    Customer.network_timeout = Customer.connection_timeout = float(CONFIG.get("timeout_s") or 5.0)


if not MASTER:
    _use(CONFIG, TARGET)


# ---- workers on other machines (harness.load.remote) ---------------------------------------------
def _now() -> Clock:
    return Clock(time.time(), time.monotonic())


class RemoteWorker:
    """A worker started by ``umchaos worker``: joins, takes its name, config and target from the
    master, maps its clocks to the master's, sends its ops back in batches, and exits by itself
    when the master goes away."""

    def __init__(self, environment: Environment, runner: WorkerRunner, outbox: Outbox) -> None:
        self.environment, self.runner, self.outbox = environment, runner, outbox
        self.name = ""
        self.pong: AsyncResult = AsyncResult()

    def start(self) -> None:
        for kind, handler, concurrent in (("config", self.on_config, True), ("pong", self.on_pong, False),
                                          ("release", lambda **_: _released.set(), False),
                                          ("stop", self.on_stop, True)):
            self.runner.register_message(MSG[kind], handler, concurrent=concurrent)
        self.runner.send_message(MSG["join"], {"host": socket.gethostname(), "pid": os.getpid()})
        gevent.spawn(self.watch)

    def on_config(self, msg: Message, **_: Any) -> None:
        global _worker, WRITER
        samples = [s for i in range(PINGS) if (s := self.ping(i)) is not None]
        if not samples:
            return self.leave(3, "the master answered no clock ping")
        clock = best_sample(samples)
        _use(msg.data["config"], msg.data["target"])
        self.name = str(msg.data["name"])
        _worker = f".{self.name}"
        WRITER = OpWriter(self.outbox, CONFIG["start_mono"] - clock.mono_offset_s, clock.wall_offset_s)
        self.environment.process_exit_code = 0  # joined: a run served ends well
        self.runner.send_message(MSG["ready"], {"name": self.name, "wall_offset_s": clock.wall_offset_s,
                                                "mono_offset_s": clock.mono_offset_s,
                                                "round_trip_s": clock.round_trip_s})
        gevent.spawn(self.send_often)

    def ping(self, i: int) -> ClockSample | None:
        self.pong = AsyncResult()
        t0 = _now()
        self.runner.send_message(MSG["ping"], {"i": i, "t0": [t0.wall, t0.mono]})
        try:
            data, t3 = self.pong.get(timeout=PONG_WAIT_S)
        except gevent.Timeout:
            return None
        if data["i"] != i:  # a late answer to an earlier ping
            return None
        return clock_sample(t0, Clock(*data["t1"]), Clock(*data["t2"]), t3)

    def on_pong(self, msg: Message, **_: Any) -> None:
        self.pong.set((msg.data, _now()))

    def send_ops(self) -> None:
        """Everything written so far, in batches (bounded: ops are written at a bounded rate)."""
        for _ in range(1 + len(self.outbox) // 100):
            if not (lines := self.outbox.take()):
                return
            self.runner.send_message(MSG["ops"], {"name": self.name, "lines": lines})

    def send_often(self) -> None:
        while True:
            gevent.sleep(0.1)
            self.send_ops()

    def on_stop(self, **_: Any) -> None:
        """The load ends: stop the users (bounded by --stop-timeout), send their last ops, say so."""
        self.runner.stop()
        self.send_ops()
        self.runner.send_message(MSG["done"], {"name": self.name})

    def watch(self) -> None:
        """A master that stops answering (gone, unreachable) or never configures this worker: leave."""
        joined = time.monotonic()
        while True:
            gevent.sleep(1)
            heard = self.runner.last_heartbeat_timestamp
            if heard is not None and time.time() - heard > MASTER_GONE_S:
                return self.leave(2, f"no heartbeat from the master at {MASTER} for {MASTER_GONE_S:.0f} s")
            if not self.name and time.monotonic() - joined > CONFIG_WAIT_S:
                return self.leave(3, f"the master at {MASTER} sent no load config within {CONFIG_WAIT_S:.0f} s")

    def leave(self, code: int, why: str) -> None:
        print(f"umchaos worker: {why}", file=sys.stderr, flush=True)
        self.environment.process_exit_code = code
        self.runner.quit()


class RemoteMaster:
    """The master's side: names each joining worker, sends it the config and target, answers its
    clock pings, records its clock mapping (a ``worker_joined`` phase op in the ``.workers`` file
    beside the history), holds the spawn until every expected worker is ready, forwards the
    release, writes the ops workers send into the history, and drains them when the load stops."""

    def __init__(self, environment: Environment, runner: MasterRunner, expected: int) -> None:
        self.environment, self.runner, self.expected = environment, runner, expected
        self.names: dict[str, str] = {}  # Locust's worker id -> its name in the history
        self.joined: dict[str, dict[str, Any]] = {}  # name -> what it said at join
        self.ready: set[str] = set()  # Locust ids
        self.done: set[str] = set()
        self.record = open(CONFIG["history_file"] + ".workers", "a")

    def start(self) -> None:
        for kind, handler in (("join", self.on_join), ("ping", self.on_ping), ("ready", self.on_ready),
                              ("ops", self.on_ops), ("done", lambda msg, **_: self.done.add(msg.node_id))):
            self.runner.register_message(MSG[kind], handler)
        self.environment.events.test_start.add_listener(self.hold_spawn)
        self.environment.events.test_stopping.add_listener(self.drain)
        gevent.spawn(self.forward_release)

    def on_join(self, msg: Message, **_: Any) -> None:
        name = self.names.setdefault(msg.node_id, f"r{len(self.names)}")
        self.joined[name] = dict(msg.data or {})
        self.runner.send_message(MSG["config"], {"name": name, "config": worker_settings(CONFIG), "target": TARGET},
                                 client_id=msg.node_id)

    def on_ping(self, msg: Message, **_: Any) -> None:
        t1 = _now()
        self.runner.send_message(MSG["pong"], {"i": msg.data["i"], "t1": [t1.wall, t1.mono],
                                               "t2": [time.time(), time.monotonic()]}, client_id=msg.node_id)

    def on_ready(self, msg: Message, **_: Any) -> None:
        if (name := self.names.get(msg.node_id)) is None:
            return
        clock = ClockSample(float(msg.data["wall_offset_s"]), float(msg.data["mono_offset_s"]),
                            float(msg.data["round_trip_s"]))
        op = {"index": -1, "type": "info", "f": "phase", "process": "runner", "time": time.time(),
              "mono": time.monotonic() - CONFIG["start_mono"],
              "value": {"phase": "worker_joined", "worker": name, **self.joined[name],
                        "wall_offset_s": clock.wall_offset_s, "mono_offset_s": clock.mono_offset_s,
                        "uncertainty_s": clock.uncertainty_s}}
        self.record.write(json.dumps(op) + "\n")
        self.record.flush()
        self.ready.add(msg.node_id)
        if _released.is_set():
            self.runner.send_message(MSG["release"], client_id=msg.node_id)

    def on_ops(self, msg: Message, **_: Any) -> None:
        if msg.node_id in self.ready:
            _history.write(msg.data["lines"])

    def hold_spawn(self, **_: Any) -> None:
        """Locust spawns once the workers have connected; users need their config first."""
        deadline = time.monotonic() + CONFIG_WAIT_S
        while len(self.ready) < self.expected and time.monotonic() < deadline:
            gevent.sleep(0.05)

    def forward_release(self) -> None:
        _released.wait()
        for node in list(self.ready):
            self.runner.send_message(MSG["release"], client_id=node)

    def drain(self, **_: Any) -> None:
        """Before Locust tells the workers to quit: each stops its users and sends its last ops."""
        waiting = {node for node in self.ready if node in self.runner.clients}
        for node in waiting:
            self.runner.send_message(MSG["stop"], client_id=node)
        deadline = time.monotonic() + DRAIN_S
        while not waiting <= self.done and time.monotonic() < deadline:
            gevent.sleep(0.05)
        _history.flush()


@events.init.add_listener
def _remote(environment: Environment, **_: Any) -> None:
    runner = environment.runner
    if MASTER and isinstance(runner, WorkerRunner) and isinstance(_history, Outbox):
        RemoteWorker(environment, runner, _history).start()
    elif CONFIG.get("remote_workers") and isinstance(runner, MasterRunner):
        RemoteMaster(environment, runner, int(CONFIG["remote_workers"])).start()
