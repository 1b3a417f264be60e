"""Benchmark 5: the gating suite's wall-clock — ``umchaos run scenarios/ --tag gate`` as CI runs it
(one fresh process, the five gating scenarios one after another), beside the sum of the
scenarios' own lengths (the floor: load flows for each scenario's duration), with each run's
phases and the 1-minute load average before and after.

    python bench/bench_gate.py [--backend local|docker]

Writes bench/results/gate.json (gate-docker.json for the docker backend).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backend", default="local")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from bench.record import loadavg, now_utc, write_result
    from harness.scenario import load_scenario
    from harness.schedule import build_schedule

    gated = [p for p in sorted((ROOT / "scenarios").glob("*.yaml")) if "gate" in load_scenario(p).tags]
    floor = sum(build_schedule(s, s.seed).duration_s for s in map(load_scenario, gated))
    with tempfile.TemporaryDirectory(prefix="umchaos-bench-gate-") as tmp:
        load_before = os.getloadavg()[0]
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "harness.cli", "-q", "--state-dir", f"{tmp}/state", "run",
                               str(ROOT / "scenarios"), "--tag", "gate", "--backend", args.backend,
                               "--report-dir", f"{tmp}/reports"], capture_output=True, text=True, timeout=1800, cwd=ROOT)
        wall = time.perf_counter() - t0
        runs = {}
        for result_file in sorted(Path(tmp, "reports").glob("*/result.json")):
            result = json.loads(result_file.read_text())
            phases = {p["phase"]: round(p.get("end", p["start"]) - p["start"], 2) for p in result["phases"]}
            runs[result["scenario"]] = {"status": result["status"], "wall_s": round(result["ended"] - result["started"], 2)
                                        if isinstance(result.get("ended"), float) else None, "phases_s": phases}
    result = {"bench": "gate", "backend": args.backend, "scenarios": [str(p.relative_to(ROOT)) for p in gated],
              "wall_s": round(wall, 2), "scenarios_duration_s": floor, "overhead_ratio": round(wall / floor, 3),
              "exit": proc.returncode, "verdicts": proc.stdout.strip().splitlines()[-len(gated):], "runs": runs,
              "loadavg_before": round(load_before, 2), "loadavg_after": loadavg(), "when": now_utc()}
    write_result("gate.json" if args.backend == "local" else f"gate-{args.backend}.json", result)
    print(json.dumps({k: v for k, v in result.items() if k != "runs"}, indent=1))


if __name__ == "__main__":
    main()
