"""Start, control and stop a whole umref topology: one OS process per service on loopback.

Each service runs in its own process group so that it can be killed, paused and resumed
independently (the harness's process faults), and so that stopping the topology stops
everything it started. Services are forked from one fork server that has imported them once
(see forkserver.py: that is what keeps start-up within its 2 s budget on two cores). Pids are written to ``<data_dir>/pids.json`` so that a later cleanup
can find what a killed run left behind.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import random
import signal
import socket
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import requests

from targets.umref.config import LIQUIDATION_GRACE_MS, SERVICES, Account, RiskBudget, TopologyConfig
from targets.umref.deployer import DeployController
from targets.umref.forkserver import ForkedProcess, ForkServer
from targets.umref.money import UM_SYMBOLS

__all__ = ["free_port", "default_accounts", "plan", "Topology", "TopologyError"]

log = logging.getLogger("umref.launcher")


def _loopback_session() -> requests.Session:
    """Straight to the services on loopback: no proxy or .netrc from the environment (requests
    would also look them up on every request)."""
    session = requests.Session()
    session.trust_env = False
    return session


class TopologyError(RuntimeError):
    """The topology could not be started or controlled; the message says which service and why."""


def _listening_range() -> range:
    """Ports the kernel never hands out as a connection's source port (outside
    ip_local_port_range): a port chosen there cannot be taken by one of the many client
    connections a load test opens between choosing it and the service binding it."""
    try:
        low, high = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    except (OSError, ValueError):
        low, high = 32768, 60999
    return range(10_000, low) if low - 10_000 >= 2_000 else range(high + 1, 65_536)


def free_port(host: str = "127.0.0.1") -> int:
    """A free port, drawn at random outside the ephemeral range (so that two runs at once rarely
    draw the same one; a bind failure at start-up is retried with new ports by the caller)."""
    candidates = _listening_range()
    draw = random.SystemRandom()
    for _ in range(200):
        port = draw.choice(candidates)
        with socket.socket() as s:
            try:
                s.bind((host, port))
            except OSError:
                continue
            return port
    with socket.socket() as s:  # a crowded range: let the kernel choose
        s.bind((host, 0))
        return int(s.getsockname()[1])


def default_accounts(seed: int, traders: int = 20, leveraged: int = 6) -> tuple[Account, ...]:
    """Traders with deep pockets, one market maker, and leveraged longs near a margin call.

    A leveraged account holds 1 BTC long at 20x with a UM wallet of 3,650..3,900 USDT: healthy at
    50,000, but a 7 % drop leaves it somewhere between a margin call and a forced liquidation.
    The same in USDC-margined BTCUSDC (``levc*``), and one account holding half a BTC in each
    (``levx0``): a halt covers contracts of both margin assets, and so must the risk checks.
    """
    rng = random.Random(f"umref-keys-{seed}")

    def key(account: str) -> str:
        return f"ak-{account}-{rng.getrandbits(96):024x}"

    big = {"spot": {"USDT": "1000000", "BTC": "20"}, "um": {"USDT": "1000000", "USDC": "1000000"}}
    accounts = [Account(f"acct{i:03d}", key(f"acct{i:03d}"), big, "trader") for i in range(traders)]
    accounts.append(Account("mm0", key("mm0"), {"spot": {"USDT": "10000000", "BTC": "200"},
                                                  "um": {"USDT": "10000000", "USDC": "10000000"}}, "maker"))
    accounts += [
        Account(f"lev{i}", key(f"lev{i}"), {"um": {"USDT": str(3650 + 50 * i)}}, "leveraged")
        for i in range(leveraged)
    ]
    accounts += [
        Account(f"levc{i}", key(f"levc{i}"), {"um": {"USDC": str(3675 + 100 * i)}}, "leveraged")
        for i in range(leveraged // 2)
    ]
    accounts.append(Account("levx0", key("levx0"), {"um": {"USDT": "1850", "USDC": "1850"}}, "leveraged"))
    return tuple(accounts)


def plan(data_dir: Path, *, bugs: tuple[str, ...] = (), risk: RiskBudget | None = None, price_seed: int = 1,
         host: str = "127.0.0.1", accounts: tuple[Account, ...] | None = None,
         liquidation_grace_ms: int = LIQUIDATION_GRACE_MS) -> TopologyConfig:
    """A topology on free loopback ports; the caller may still route links through proxies."""
    return TopologyConfig(
        data_dir=str(data_dir), bugs=tuple(bugs), risk=risk or RiskBudget(), price_seed=price_seed, host=host,
        accounts=accounts if accounts is not None else default_accounts(price_seed),
        ports=dict(zip(SERVICES, _distinct_free_ports(len(SERVICES), host), strict=True)),
        liquidation_grace_ms=liquidation_grace_ms,
    )


def _distinct_free_ports(count: int, host: str) -> list[int]:
    """Independent draws can repeat a port (nine from ~30,000: once in some 400 plans, seen in CI as
    two services on one port); a plan's services need ``count`` different ones."""
    ports: list[int] = []
    for _ in range(100 * count):
        if (port := free_port(host)) not in ports:
            ports.append(port)
            if len(ports) == count:
                return ports
    raise TopologyError(f"no {count} distinct free ports on {host}")


class Topology:
    """The running exchange. Use as a context manager, or call ``stop()`` in a ``finally``."""

    def __init__(self, config: TopologyConfig, forkserver: ForkServer | None = None, *,
                 logs_dir: Path | None = None) -> None:
        self.config = config
        self.data_dir = Path(config.data_dir)
        self.logs_dir = logs_dir or self.data_dir / "logs"  # a harness puts them with its report
        self.procs: dict[str, ForkedProcess] = {}
        self.paused: set[str] = set()
        self.forkserver = forkserver or ForkServer()
        self.draining: list[ForkedProcess] = []  # released services' old processes, finishing their requests
        self.builds: dict[str, str] = {}  # service -> the build a release put it on (else production's)
        self.deployer = DeployController(self, config.bugs)

    def __enter__(self) -> Topology:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    # ---- start / stop -------------------------------------------------------------------
    def start(self, *, ready_within_s: float = 15.0, bootstrap: bool = True, calm: bool = True) -> float:
        """Start every service, wait until all are healthy (and, with ``calm``, UM trading); returns
        the seconds it took."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        try:
            self.forkserver.start()
            for name in SERVICES:
                self.spawn(name, write_pids=False)
            self._write_pids()
            self.wait_healthy(SERVICES, deadline=started + ready_within_s)
            if calm:
                self.wait_calm(deadline=time.monotonic() + ready_within_s)
            if bootstrap:
                self.bootstrap_positions()
        except BaseException:
            self.stop()
            raise
        return time.monotonic() - started

    def spawn(self, name: str, *, write_pids: bool = True) -> None:
        self.procs[name] = self._fork(name, self.builds.get(name, ""))
        self.paused.discard(name)
        if write_pids:
            self._write_pids()

    def _fork(self, name: str, build: str) -> ForkedProcess:
        cfg_path = self.data_dir / f"{name}.json"
        replace(self.config.service_config(name), build=build).write(cfg_path)
        try:
            return self.forkserver.spawn(name, cfg_path, self.logs_dir / f"{name}.log")
        except RuntimeError as exc:
            raise TopologyError(f"cannot start {name}: {exc}") from None

    # ---- releases -----------------------------------------------------------------------
    def deploy(self, service: str, build: str, watch_s: float) -> str:
        """Release ``build`` of ``service`` (the deploy controller rolls it back if it hurts UM)."""
        if service not in self.procs:
            raise TopologyError(f"no service {service} to release")
        try:
            return str(self.deployer.deploy(service, build, watch_s))
        except KeyError as exc:
            raise TopologyError(str(exc.args[0])) from None

    def swap(self, service: str, version: str, *, ready_within_s: float = 10.0) -> None:
        """The rollout: a process of the new build binds the same port (SO_REUSEPORT), and once it
        answers health as that build, the old one is sent SIGTERM and drains (it stops listening,
        finishes what it has in flight). If the new one never answers, it is stopped and the old
        one serves on."""
        old, new = self.procs[service], self._fork(service, version)
        deadline = time.monotonic() + ready_within_s
        with _loopback_session() as session:
            while not self._answers_as(session, service, version):
                if new.poll() is not None or time.monotonic() > deadline:
                    self._end(new)
                    raise TopologyError(f"{service} {version} never answered health; {old.pid} serves on")
                time.sleep(0.02)
        self.procs[service], self.builds[service] = new, version
        self.draining.append(old)  # stopped with the rest if it is still draining then
        self._write_pids()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(old.pid, signal.SIGTERM)

    def _end(self, proc: ForkedProcess) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)

    def _answers_as(self, session: requests.Session, service: str, version: str) -> bool:
        """Health answered as ``version`` on a new connection (the kernel spreads those across
        both processes' sockets while they share the port)."""
        try:
            answer = session.get(self.url(service) + "/health", timeout=0.5, headers={"Connection": "close"}).json()
            return bool(answer.get("service") == service and answer.get("version") == version)
        except (requests.RequestException, ValueError, AttributeError):
            return False

    def url(self, service: str) -> str:
        return self.config.url(service)

    def exited(self, name: str) -> str | None:
        """Why ``name`` is gone during its start, or None while it runs (a backend's own check)."""
        proc = self.procs[name]
        if proc.poll() is None:
            return None
        return f"{name} exited with code {proc.returncode} during start; see {self.logs_dir}/{name}.log: {self.log_tail(name)}"

    def wait_healthy(self, names: tuple[str, ...] | list[str], *, deadline: float) -> None:
        waiting = list(names)
        session = _loopback_session()
        while waiting:
            for name in list(waiting):
                if (gone := self.exited(name)) is not None:
                    raise TopologyError(gone)
                try:
                    answer = session.get(self.config.url(name) + "/health", timeout=0.5)
                    # the port must be this service's: another run's service may hold it
                    if answer.status_code == 200 and answer.json().get("service") == name:
                        waiting.remove(name)
                except (requests.RequestException, ValueError, AttributeError):
                    pass
            if waiting and time.monotonic() > deadline:
                raise TopologyError(f"not healthy in time: {', '.join(waiting)}; see {self.logs_dir}/")
            if waiting:
                time.sleep(0.02)
        session.close()

    def wait_calm(self, *, deadline: float) -> None:
        """UM is not halted and matching is not rebuilding. The risk guard may halt during start-up,
        when the first margin calls are slow on a busy machine; it resumes once margin is healthy."""
        last = "no answer"
        with _loopback_session() as session:
            while time.monotonic() < deadline:
                try:
                    state = session.get(self.config.url("matching") + "/state", timeout=1).json()
                    if not state["halted"] and state.get("broken") is None:
                        return
                    last = f"halted={state['halted']} broken={state.get('broken')}"
                except (requests.RequestException, ValueError, KeyError) as exc:
                    last = exc.__class__.__name__
                time.sleep(0.02)
        raise TopologyError(f"UM not ready in time: {last}")

    def log_tail(self, name: str) -> str:
        path = self.logs_dir / f"{name}.log"
        lines = path.read_text(errors="replace").strip().splitlines() if path.exists() else []
        return lines[-1] if lines else "(no output)"

    def stop(self, *, kill: bool = False) -> None:
        """Stop everything this topology started (paused services are resumed so they can die).

        ``kill``: SIGKILL at once, for a target whose data is about to be deleted (a harness's,
        after its audit): nothing to flush, and nine Python shutdowns are a tenth of a second of
        CPU. Logs lose nothing: services write them line by line."""
        self.deployer.stop()
        signals = [signal.SIGKILL] if kill else [signal.SIGCONT, signal.SIGTERM]
        try:  # two requests to the fork server for all services, not a few per service
            self._stop_all(signals, timeout_s=5)
        except RuntimeError:  # the fork server is gone: one service at a time, the kernel asked
            for name in self.procs:
                for sig in signals:
                    self._signal(name, sig)
            deadline = time.monotonic() + 5
            for name, proc in self.procs.items():
                try:
                    proc.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    self._signal(name, signal.SIGKILL)
                    proc.wait(timeout=5)
        self.forkserver.close()
        self.paused.clear()
        (self.data_dir / "pids.json").unlink(missing_ok=True)

    # ---- process faults -----------------------------------------------------------------
    def kill(self, name: str) -> None:
        """SIGKILL the service's whole process group (a power loss of that host)."""
        self._signal(name, signal.SIGKILL)
        self.procs[name].wait(timeout=5)

    def pause(self, name: str) -> None:
        self._signal(name, signal.SIGSTOP)
        self.paused.add(name)

    def resume(self, name: str) -> None:
        self._signal(name, signal.SIGCONT)
        self.paused.discard(name)

    def _stop_all(self, signals: list[signal.Signals], *, timeout_s: float) -> None:
        pids = {proc.pid: proc for proc in [*self.procs.values(), *self.draining] if proc.returncode is None}
        self.forkserver.signal_all(list(pids), signals)
        exits = self.forkserver.wait_all(list(pids), timeout_s)
        if stuck := [pid for pid, code in exits.items() if code is None]:
            self.forkserver.signal_all(stuck, [signal.SIGKILL])
            exits.update(self.forkserver.wait_all(stuck, timeout_s))
        for pid, code in exits.items():
            pids[pid].returncode = code

    def restart(self, name: str, *, ready_within_s: float = 10.0) -> None:
        if self.alive(name):
            self.kill(name)
        self.spawn(name)
        self.wait_healthy([name], deadline=time.monotonic() + ready_within_s)

    def alive(self, name: str) -> bool:
        proc = self.procs.get(name)
        return proc is not None and proc.poll() is None

    def _signal(self, name: str, sig: signal.Signals) -> None:
        proc = self.procs.get(name)
        if proc is None or proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass

    def _write_pids(self) -> None:
        pids = {name: proc.pid for name, proc in self.procs.items() if proc.poll() is None}
        (self.data_dir / "pids.json").write_text(json.dumps(pids))

    # ---- what the harness needs ---------------------------------------------------------
    def addresses(self) -> dict[str, Any]:
        return {
            "gateway": self.config.url("gateway"),
            "services": {name: self.config.url(name) for name in SERVICES},
            "accounts": [{"account": a.account, "api_key": a.api_key, "role": a.role} for a in self.config.accounts],
        }

    def bootstrap_positions(self) -> None:
        """Open each leveraged account's 1 BTC long at 20x against the market maker, in the
        contract of each margin asset its UM wallet holds (split evenly).

        One thread per account: the accounts are independent (the maker rests exactly the lot
        that account then buys, at one price), and their 18 requests in a row were a sixth of
        the topology's start-up."""
        leveraged = [a for a in self.config.accounts if a.role == "leveraged"]
        makers = [a for a in self.config.accounts if a.role == "maker"]
        if not leveraged or not makers:
            return
        gw = self.config.url("gateway")
        with _loopback_session() as session:
            prices = session.get(self.config.url("pricefeed") + "/prices", timeout=5).json()
        btc = sorted(float(s["price"]) for s in prices["assets"]["BTC"]["sources"])[1]
        price = f"{btc:.2f}"

        def post(session: requests.Session, account: Account, path: str, body: dict[str, Any]) -> None:
            for _ in range(50):  # margin may not have its first prices yet: bounded retry
                resp = session.post(gw + path, json=body, headers={"X-API-Key": account.api_key}, timeout=5)
                if resp.status_code == 200:
                    return
                if resp.status_code != 503:
                    break
                time.sleep(0.1)
            raise TopologyError(f"bootstrap {path} for {account.account} failed: {resp.status_code} {resp.text}")

        def open_long(acct: Account) -> None:
            symbols = [f"BTC{asset}" for asset in sorted(acct.deposits.get("um", {})) if f"BTC{asset}" in UM_SYMBOLS]
            qty = f"{1 / len(symbols):.3f}"
            with _loopback_session() as session:
                for symbol in symbols:
                    tag = f"{acct.account}" if symbol == "BTCUSDT" else f"{acct.account}-{symbol}"
                    post(session, acct, "/um/leverage", {"client_id": f"boot-lev-{tag}", "symbol": symbol, "leverage": 20})
                    post(session, makers[0], "/um/order", {"client_id": f"boot-mm-{tag}", "symbol": symbol,
                                                           "side": "SELL", "type": "LIMIT", "qty": qty, "price": price})
                    post(session, acct, "/um/order", {"client_id": f"boot-buy-{tag}", "symbol": symbol, "side": "BUY",
                                                      "type": "LIMIT", "qty": qty, "price": price})

        with ThreadPoolExecutor(len(leveraged), thread_name_prefix="umref-bootstrap") as pool:
            for done in [pool.submit(open_long, acct) for acct in leveraged]:
                done.result()  # the first failure, after every thread has finished
