"""Benchmark 3: harness overhead. ``umchaos run`` of an experiment equivalent to a Chaos Toolkit one
(one latency fault on one link, a probe before and after) next to the real Chaos Toolkit CLI with
its toxiproxy extension doing the same against the same kind of target, in one run.

Chaos Toolkit does not start a target, so its side is timed as its user runs it: a program of
their own brings up the same umref topology with matching->margin through a real toxiproxy-server
(``bench/ctk/target.py``, the code umchaos's local backend uses), then ``chaos run``, then that
program is stopped. Each side is timed from a cold start of its processes to their exit. Both wait
the same 5 s fault and the same recovery pause; each probe is one POST /um/order far below the
market (umchaos's round adds its cancel and a spot order: ``probe_rounds: 1``). Target: umchaos
no slower.

    bench/.venv-ctk/bin/pip install chaostoolkit chaostoolkit-toxiproxy   # once, not the project's deps
    python bench/bench_ctk.py [--repeat 2]

Writes bench/results/ctk.json.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.record import loadavg, now_utc, write_result  # noqa: E402

CHAOS = Path(__file__).parent / ".venv-ctk" / "bin" / "chaos"
SCENARIO = Path(__file__).parent / "ctk" / "one-latency-fault.yaml"
TARGET = Path(__file__).parent / "ctk" / "target.py"  # what the Chaos Toolkit user runs to bring the target up
FAULT_S, RECOVERY_S = 5, 6


def experiment(gateway: str, api_key: str, api_url: str, proxy: str) -> dict[str, Any]:
    probe = {"type": "probe", "name": "um-accepts-an-order", "tolerance": 200,
             "provider": {"type": "http", "url": gateway + "/um/order", "method": "POST", "timeout": 5,
                          "headers": {"X-API-Key": api_key, "Content-Type": "application/json"},
                          "arguments": {"client_id": f"ctk-{time.time_ns()}", "symbol": "BTCUSDT", "side": "BUY",
                                        "type": "LIMIT", "qty": "0.001", "price": "25000.00"}}}
    return {
        "title": "Margin latency on matching->margin; UM accepts orders before and after",
        "description": "bench 3: the Chaos Toolkit side",
        "configuration": {"toxiproxy_url": api_url},
        "steady-state-hypothesis": {"title": "UM accepts orders", "probes": [probe]},
        "method": [
            {"type": "action", "name": "margin-latency",
             "provider": {"type": "python", "module": "chaostoxi.toxic.actions", "func": "create_latency_toxic",
                          "arguments": {"for_proxy": proxy, "toxic_name": "margin-latency", "latency": 800,
                                        "jitter": 100}},
             "pauses": {"after": FAULT_S}},
            {"type": "action", "name": "heal",
             "provider": {"type": "python", "module": "chaostoxi.toxic.actions", "func": "delete_toxic",
                          "arguments": {"for_proxy": proxy, "toxic_name": "margin-latency"}},
             "pauses": {"after": RECOVERY_S}},
        ],
        "rollbacks": [],
    }


def ctk_once(tmp: Path) -> dict[str, Any]:
    t0 = time.perf_counter()
    target = subprocess.Popen([sys.executable, str(TARGET), str(tmp)], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert target.stdout is not None
        up = json.loads(target.stdout.readline())
        ready = time.perf_counter() - t0
        exp = tmp / "experiment.json"
        exp.write_text(json.dumps(experiment(up["gateway"], up["api_key"], up["toxiproxy"], up["proxy"])))
        c0 = time.perf_counter()
        proc = subprocess.run([str(CHAOS), "--no-log-file", "run", "--journal-path", str(tmp / "journal.json"), str(exp)],
                              capture_output=True, text=True, timeout=120, cwd=tmp)
        chaos_s = time.perf_counter() - c0
    finally:
        target.send_signal(signal.SIGTERM)
        target.wait(timeout=30)
    total = time.perf_counter() - t0
    journal = json.loads((tmp / "journal.json").read_text()) if (tmp / "journal.json").exists() else {}
    return {"total_s": round(total, 2), "target_ready_s": round(ready, 2), "chaos_run_s": round(chaos_s, 2),
            "status": journal.get("status"), "deviated": journal.get("deviated"), "exit": proc.returncode}


def umchaos_once(tmp: Path) -> dict[str, Any]:
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "harness.cli", "--state-dir", str(tmp / "state"), "run", str(SCENARIO),
                           "--report-dir", str(tmp / "reports")], capture_output=True, text=True, timeout=180, cwd=ROOT)
    total = time.perf_counter() - t0
    return {"total_s": round(total, 2), "exit": proc.returncode, "verdict": proc.stdout.strip().splitlines()[-1][:200]
            if proc.stdout.strip() else proc.stderr[-300:]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    if not CHAOS.exists():
        raise SystemExit(f"{CHAOS} missing: python -m venv bench/.venv-ctk && "
                         "bench/.venv-ctk/bin/pip install chaostoolkit chaostoolkit-toxiproxy")
    runs: list[dict[str, Any]] = []
    for i in range(args.repeat):  # alternate, so a noisy minute hurts both sides alike
        with tempfile.TemporaryDirectory(prefix="umchaos-bench-ctk-") as a, \
                tempfile.TemporaryDirectory(prefix="umchaos-bench-ctk-") as b:
            ctk = {**ctk_once(Path(a)), "loadavg": loadavg()}
            uc = {**umchaos_once(Path(b)), "loadavg": loadavg()}
        runs.append({"round": i, "chaostoolkit": ctk, "umchaos": uc})
        print(json.dumps(runs[-1]))
    best_ctk = min(r["chaostoolkit"]["total_s"] for r in runs)
    best_uc = min(r["umchaos"]["total_s"] for r in runs)
    result = {"bench": "ctk", "fault_s": FAULT_S, "recovery_pause_s": RECOVERY_S, "runs": runs,
              "best_chaostoolkit_s": best_ctk, "best_umchaos_s": best_uc,
              "umchaos_vs_chaostoolkit": round(best_uc / best_ctk, 3),
              "when": now_utc()}
    write_result("ctk.json", result)
    print(json.dumps({k: v for k, v in result.items() if k != "runs"}, indent=1))


if __name__ == "__main__":
    main()
