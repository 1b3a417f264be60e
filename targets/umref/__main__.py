"""``python -m targets.umref up``: run the reference exchange on loopback until Ctrl-C/SIGTERM."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import tempfile
import threading
from dataclasses import fields
from pathlib import Path

from targets.umref.config import BUG_SWITCHES, RiskBudget
from targets.umref.launcher import Topology, TopologyError, plan


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m targets.umref", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start the whole topology and print its addresses as JSON")
    up.add_argument("--bugs", default="", help=f"comma-separated bug switches: {', '.join(BUG_SWITCHES)}")
    up.add_argument("--seed", type=int, default=1, help="price path seed")
    up.add_argument("--data-dir", type=Path, default=None, help="where ledgers and logs go (default: a temp dir)")
    for f in fields(RiskBudget):
        up.add_argument(f"--{f.name.replace('_', '-')}", type=type(f.default), default=f.default,
                        help=f"risk budget: {f.name} (default {f.default})")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    bugs = tuple(b for b in args.bugs.split(",") if b)
    risk = RiskBudget(**{f.name: getattr(args, f.name) for f in fields(RiskBudget)})
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="umref-"))
    try:
        topology = Topology(plan(data_dir, bugs=bugs, risk=risk, price_seed=args.seed))
    except ValueError as exc:
        print(f"umref: {exc}", file=sys.stderr)
        return 3
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        took = topology.start()
        print(json.dumps({**topology.addresses(), "data_dir": str(data_dir), "ready_s": round(took, 3)}, indent=1), flush=True)
        stop.wait()
    except TopologyError as exc:
        print(f"umref: {exc}", file=sys.stderr)
        return 2
    finally:
        topology.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
