"""Benchmark of the docker backend (not a timed test): cold start of the whole topology with a
cached image, and the time of each fault operation (kill, pause, disconnect) on a real engine.

Targets: topology healthy within 10 s; each fault applied within 200 ms. Writes
bench/results/docker.json. Run: python bench/bench_docker.py [--rounds N]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.backends.docker import DockerBackend  # noqa: E402
from harness.faults.base import FaultEnv  # noqa: E402
from harness.faults.containers import ContainerNetem  # noqa: E402
from harness.runner import RunOptions, backend_spec, prepare  # noqa: E402
from harness.schedule import ScheduledFault  # noqa: E402


def _timed(op: Callable[[], object]) -> float:
    started = time.perf_counter()
    op()
    return (time.perf_counter() - started) * 1000


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "docker.json")
    args = ap.parse_args()
    state = Path("/tmp") / "umchaos-bench-docker"
    ctx = prepare(ROOT / "scenarios" / "margin-latency-halt.yaml",
                  RunOptions(backend="docker", state_dir=state, report_dir=state / "reports"))
    ctx.run_dir.mkdir(parents=True, exist_ok=True)
    ctx.journal.open()
    backend = DockerBackend(backend_spec(ctx))
    ops: dict[str, list[float]] = {"kill": [], "restart": [], "pause": [], "unpause": [], "disconnect": [], "reconnect": [],
                                   "netem_loss": [], "netem_clear": []}
    try:
        started = time.perf_counter()
        backend.up()
        backend.wait_ready(deadline_s=30)
        cold_start_s = time.perf_counter() - started
        victim = "pricefeed"
        env = FaultEnv(run_id=ctx.run_id, proxies=None, processes=backend, services={}, regions={}, risk=None,
                       backend="docker")
        netem = ContainerNetem(ScheduledFault("f1", "netem", 0.0, 1.0, {"service": victim}, {"loss_pct": 10}, (0, 0)), env)
        for _ in range(args.rounds):
            ops["pause"].append(_timed(lambda: backend.pause(victim)))
            assert backend.status(victim) == "paused"
            ops["unpause"].append(_timed(lambda: backend.resume(victim)))
            ops["disconnect"].append(_timed(lambda: backend.disconnect(victim)))
            assert not backend.connected(victim)
            ops["reconnect"].append(_timed(lambda: backend.reconnect(victim)))
            started = time.perf_counter()
            landing = netem.inject()  # applied and read back from the kernel
            ops["netem_loss"].append((time.perf_counter() - started) * 1000)
            assert landing.landed, landing.detail
            ops["netem_clear"].append(_timed(netem.heal))
            ops["kill"].append(_timed(lambda: backend.kill(victim)))
            assert not backend.alive(victim)
            ops["restart"].append(_timed(lambda: backend.restart(victim)))
    finally:
        backend.down()
        ctx.journal.close()
    result = {
        "what": "docker backend: cold start with cached image, fault operation latency (ms)",
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": f"{platform.machine()}, 2 cores",
        "loadavg_1m": round(os.getloadavg()[0], 2),
        "rounds": args.rounds,
        "cold_start_s": round(cold_start_s, 2),
        "cold_start_target_s": 10,
        "fault_op_target_ms": 200,
        "ops_ms": {k: {"median": round(statistics.median(v), 1), "max": round(max(v), 1)} for k, v in ops.items()},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
