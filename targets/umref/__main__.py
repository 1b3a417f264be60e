"""``python -m targets.umref up``: run the reference exchange on loopback until Ctrl-C/SIGTERM.

With ``--port-base`` and ``--dial-base`` its addresses are fixed, so that a topology file can
describe it to a harness that did not start it (``umchaos run --target-file``): service i of
SERVICES listens on port-base + i, and the caller of link i of LINKS dials 127.0.0.1:dial-base + i,
where that harness puts its proxy. ``--pid-dir`` writes ``<service>.pid`` (process-group leaders)
and ``--accounts-out`` the accounts with their API keys. ``--without-endpoint PATH`` serves an audit
endpoint as 404: a conformance fixture (``umchaos conformance`` must fail naming its clause).

For umref in containers (examples/compose-umref): ``config SERVICE`` writes one service's config,
its links dialling HOST:BASE + i; ``bootstrap`` waits until UM trades on the published ports, then
opens the leveraged positions ``up`` opens and writes the accounts.
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import sys
import tempfile
import threading
import time
from dataclasses import fields
from pathlib import Path

import requests

from targets.umref.config import (
    BUG_SWITCHES,
    LINKS,
    REGION_OF,
    SERVICES,
    RiskBudget,
    TopologyConfig,
)
from targets.umref.launcher import Topology, TopologyError, default_accounts, plan
from targets.umref.services import AUDIT_ENDPOINTS, WITHOUT_FILE


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m targets.umref", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start the whole topology and print its addresses as JSON")
    cfg = sub.add_parser("config", help="write one service's config (JSON), its links dialling proxies")
    cfg.add_argument("service", choices=SERVICES)
    cfg.add_argument("--dial", required=True, metavar="HOST:BASE",
                     help="the caller of link i of LINKS dials HOST:BASE + i (where a proxy listens)")
    cfg.add_argument("--host", default="0.0.0.0", help="the address it listens on (default: all, in a container)")
    cfg.add_argument("--port", type=int, default=8000, help="the port it listens on")
    cfg.add_argument("--data-dir", default="/data", help="where its ledger and state go")
    cfg.add_argument("--out", type=Path, required=True, help="the config file to write")
    boot = sub.add_parser("bootstrap", help="wait until UM trades, open the leveraged positions, write the accounts")
    boot.add_argument("--port-base", type=int, required=True, help="service i of SERVICES is reached on this + i")
    boot.add_argument("--host", default="127.0.0.1", help="where the services are reached")
    boot.add_argument("--seed", type=int, default=1, help="the seed the services were configured with")
    boot.add_argument("--within", type=float, default=120.0, help="seconds to wait for UM to trade")
    boot.add_argument("--accounts-out", type=Path, default=None, help="write the accounts and API keys here (JSON)")
    for command in (up, cfg):
        command.add_argument("--bugs", default="", help=f"comma-separated bug switches: {', '.join(BUG_SWITCHES)}")
        command.add_argument("--seed", type=int, default=1, help="price path seed")
    up.add_argument("--data-dir", type=Path, default=None, help="where ledgers and logs go (default: a temp dir)")
    up.add_argument("--port-base", type=int, default=None, help="service i listens on this + i (default: free ports)")
    up.add_argument("--dial-base", type=int, default=None,
                    help="the caller of link i dials 127.0.0.1:this + i instead of the callee (a proxy's address)")
    up.add_argument("--pid-dir", type=Path, default=None, help="write <service>.pid here")
    up.add_argument("--accounts-out", type=Path, default=None, help="write the accounts and API keys here (JSON)")
    up.add_argument("--without-endpoint", action="append", default=[], choices=AUDIT_ENDPOINTS, metavar="PATH",
                    help="serve this audit endpoint as 404 (repeatable): a conformance fixture showing "
                         "`umchaos conformance` fail, not a bug switch")
    for command in (up, cfg):
        for f in fields(RiskBudget):
            command.add_argument(f"--{f.name.replace('_', '-')}", type=type(f.default), default=f.default,
                                 help=f"risk budget: {f.name} (default {f.default})")
    return parser.parse_args(argv)


def _bootstrap_when_calm(topology: Topology, stop: threading.Event) -> None:
    try:
        topology.wait_calm(deadline=time.monotonic() + 3600)
        if not stop.is_set():
            topology.bootstrap_positions()
            print("umref: leveraged positions opened", file=sys.stderr, flush=True)
    except TopologyError as exc:
        print(f"umref: bootstrap: {exc}", file=sys.stderr, flush=True)


def _config(args: argparse.Namespace) -> int:
    """One service's config, as ``up`` would write it, for a container: the same code decides it."""
    host, _, base = args.dial.rpartition(":")
    if not host or not base.isdigit():
        print(f"umref: --dial {args.dial!r} is not HOST:BASE", file=sys.stderr)
        return 3
    try:
        config = TopologyConfig(
            data_dir=args.data_dir, bugs=tuple(b for b in args.bugs.split(",") if b), price_seed=args.seed,
            risk=RiskBudget(**{f.name: getattr(args, f.name) for f in fields(RiskBudget)}), host=args.host,
            accounts=default_accounts(args.seed), ports={name: args.port for name in SERVICES},
            links={link: f"http://{host}:{int(base) + i}" for i, link in enumerate(LINKS)})
    except ValueError as exc:
        print(f"umref: {exc}", file=sys.stderr)
        return 3
    config.service_config(args.service).write(args.out)
    print(f"umref: {args.service} (region {REGION_OF[args.service]}) configured in {args.out}", file=sys.stderr)
    return 0


class _StartedElsewhere(Topology):
    """The launcher's health and bootstrap logic for services it did not start."""

    def exited(self, name: str) -> str | None:
        return None  # not its process to watch: health is all it can see


def _bootstrap(args: argparse.Namespace) -> int:
    """What ``up`` does once its services run, for services started some other way."""
    config = TopologyConfig(data_dir=tempfile.gettempdir(), host=args.host, accounts=default_accounts(args.seed),
                            ports={name: args.port_base + i for i, name in enumerate(SERVICES)})
    topology = _StartedElsewhere(config)
    deadline = time.monotonic() + args.within
    try:
        topology.wait_healthy(SERVICES, deadline=deadline)
        topology.wait_calm(deadline=deadline)
        topology.bootstrap_positions()
    except (TopologyError, requests.RequestException, ValueError, KeyError) as exc:
        print(f"umref: bootstrap: {exc}", file=sys.stderr)
        return 2
    if args.accounts_out is not None:
        args.accounts_out.parent.mkdir(parents=True, exist_ok=True)
        args.accounts_out.write_text(json.dumps({"accounts": topology.addresses()["accounts"]}, indent=1))
    print("umref: leveraged positions opened", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.command == "config":
        return _config(args)
    if args.command == "bootstrap":
        return _bootstrap(args)
    bugs = tuple(b for b in args.bugs.split(",") if b)
    risk = RiskBudget(**{f.name: getattr(args, f.name) for f in fields(RiskBudget)})
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="umref-"))
    try:
        config = plan(data_dir, bugs=bugs, risk=risk, price_seed=args.seed)
        if args.port_base is not None:
            config = config.with_(ports={name: args.port_base + i for i, name in enumerate(SERVICES)})
        if args.dial_base is not None:
            config = config.with_(links={link: f"http://127.0.0.1:{args.dial_base + i}" for i, link in enumerate(LINKS)})
        topology = Topology(config)
        (data_dir / WITHOUT_FILE).unlink(missing_ok=True)  # a data folder reused: only this start's say
        if args.without_endpoint:
            data_dir.mkdir(parents=True, exist_ok=True)
            (data_dir / WITHOUT_FILE).write_text("".join(f"{path}\n" for path in args.without_endpoint))
    except ValueError as exc:
        print(f"umref: {exc}", file=sys.stderr)
        return 3
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        # With links dialling proxies that are not there yet, UM stays halted until a harness puts
        # them there; the leveraged positions are opened once it trades (bounded: an hour).
        direct = args.dial_base is None
        took = topology.start(bootstrap=direct, calm=direct)
        if not direct:
            threading.Thread(target=_bootstrap_when_calm, args=(topology, stop), daemon=True).start()
        if args.pid_dir is not None:
            args.pid_dir.mkdir(parents=True, exist_ok=True)
            for name, proc in topology.procs.items():
                (args.pid_dir / f"{name}.pid").write_text(f"{proc.pid}\n")
        if args.accounts_out is not None:
            args.accounts_out.write_text(json.dumps({"accounts": topology.addresses()["accounts"]}, indent=1))
        print(json.dumps({**topology.addresses(), "data_dir": str(data_dir), "ready_s": round(took, 3)}, indent=1), flush=True)
        stop.wait()
    except TopologyError as exc:
        print(f"umref: {exc}", file=sys.stderr)
        return 2
    finally:
        topology.stop()
        if args.data_dir is None:  # a folder of its own making: gone with it
            shutil.rmtree(data_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
