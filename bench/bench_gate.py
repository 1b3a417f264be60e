"""Benchmark 5: the gating suite's wall-clock — ``umchaos run scenarios/margin-latency-halt.yaml``
as a user runs it (a fresh process), beside the scenario's own length (the floor: load flows for
the scenario's duration), with the 1-minute load average before and after.

    python bench/bench_gate.py

Writes bench/results/gate.json.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCENARIO = ROOT / "scenarios" / "margin-latency-halt.yaml"
RESULTS = Path(__file__).parent / "results"


def main() -> None:
    sys.path.insert(0, str(ROOT))
    from harness.scenario import load_scenario
    from harness.schedule import build_schedule

    scenario = load_scenario(SCENARIO)
    floor = build_schedule(scenario, scenario.seed).duration_s
    with tempfile.TemporaryDirectory(prefix="umchaos-bench-gate-") as tmp:
        load_before = os.getloadavg()[0]
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "harness.cli", "-q", "--state-dir", f"{tmp}/state", "run",
                               str(SCENARIO), "--report-dir", f"{tmp}/reports"], capture_output=True, text=True,
                              timeout=600, cwd=ROOT)
        wall = time.perf_counter() - t0
        phases = {}
        for result_file in Path(tmp, "reports").glob("*/result.json"):
            for p in json.loads(result_file.read_text())["phases"]:
                phases[p["phase"]] = round(p.get("end", p["start"]) - p["start"], 2)
    result = {"bench": "gate", "scenario": str(SCENARIO.relative_to(ROOT)), "wall_s": round(wall, 2),
              "scenario_duration_s": floor, "overhead_ratio": round(wall / floor, 3), "exit": proc.returncode,
              "verdict": proc.stdout.strip()[:200], "phases_s": phases, "loadavg_before": round(load_before, 2),
              "loadavg_after": round(os.getloadavg()[0], 2), "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "gate.json").write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
