"""`umchaos trend` over 1,000 run folders. Target: under 10 s.

The folders are synthetic: real result.json files (the test fixture, plus those of any run folders
given with --from) copied with their scenario, seed, start time, verdict and figures perturbed:
10 scenarios × 100 nights, half the scenarios with steady_state figures, and a few damaged
folders that must be skipped. The baseline, timed in the same run on the same files, is merely
reading and json-loading every result.json; the ratio says what the trend adds to that.

    python bench/bench_trend.py [--folders 1000] [--from RUN_DIR ...]

Writes bench/results/trend.json with the 1-minute load average beside the figures.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.record import loadavg, now_utc, write_result  # noqa: E402
from harness import cli  # noqa: E402

FIXTURE = ROOT / "tests" / "harness" / "data" / "result-margin-latency-halt.json"
SCENARIOS, DAMAGED, DAY = 10, 5, 86_400.0
TARGET_S = 10.0


def _jitter(value: Any, rng: random.Random) -> Any:
    return round(value * rng.uniform(0.8, 1.25), 3) if isinstance(value, (int, float)) and value else value


def make_folders(root: Path, sources: list[dict[str, Any]], count: int, seed: int = 7) -> None:
    """``count`` run folders from ``sources``, and ``DAMAGED`` damaged ones."""
    rng = random.Random(seed)
    nights = max(1, count // SCENARIOS)
    start = time.time() - nights * DAY
    for i in range(count):
        night, scenario = divmod(i, SCENARIOS)
        data = json.loads(json.dumps(rng.choice(sources)))
        data.update(scenario=f"scenario-{scenario:02d}", seed=rng.randrange(2**31),
                    status=rng.choices(["pass", "fail", "unknown"], [88, 8, 4])[0],
                    started=start + night * DAY + scenario * 90 + rng.uniform(0, 30))
        data["figures"] = {k: _jitter(v, rng) for k, v in data.get("figures", {}).items()}
        if scenario % 2:
            data["checks"].append({"name": "steady_state", "valid": True, "summary": "", "evidence": [], "status": "pass",
                                   "figures": {f"{p}.{k}": _jitter(v, rng) for p in ("before", "during", "after")
                                               for k, v in (("p99_ms", 45.0), ("error_rate", 0.004))}})
        folder = root / f"{i:05d}-{data['scenario']}-{data['seed']}"
        folder.mkdir()
        (folder / "result.json").write_text(json.dumps(data, indent=1))
        (folder / "report.html").write_text("<!doctype html>")
    for i in range(DAMAGED):
        (root / f"damaged-{i}").mkdir()
        (root / f"damaged-{i}" / "result.json").write_text('{"scenario": "cut sho')


def baseline(root: Path) -> float:
    """Reading and json-loading every result.json: the least any trend must do."""
    t0 = time.perf_counter()
    for folder in sorted(root.iterdir()):
        with contextlib.suppress(ValueError):
            json.loads((folder / "result.json").read_bytes())
    return time.perf_counter() - t0


def in_process(root: Path, out: Path) -> float:
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        code = cli.main(["-q", "trend", str(root), "--out", str(out)])
    took = time.perf_counter() - t0
    if code != 0:
        raise SystemExit(f"umchaos trend exited {code}")
    return took


def as_process(root: Path, out: Path) -> tuple[float, int]:
    """The command a nightly job runs, interpreter start and imports included."""
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "harness.cli", "trend", str(root), "--out", str(out)],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    took = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"umchaos trend exited {proc.returncode}: {proc.stderr}")
    return took, len(proc.stderr.splitlines())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--folders", type=int, default=1000)
    parser.add_argument("--from", dest="sources", type=Path, nargs="*", default=[],
                        help="real run folders whose result.json are copied too (default: the test fixture only)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    sources = [json.loads(FIXTURE.read_text())] + [json.loads((d / "result.json").read_text()) for d in args.sources]
    figures: dict[str, Any] = {"bench": "trend", "folders": args.folders, "damaged_folders": DAMAGED,
                               "scenarios": SCENARIOS, "sources": [str(FIXTURE.relative_to(ROOT)), *map(str, args.sources)],
                               "loadavg_before": loadavg()}
    with tempfile.TemporaryDirectory(prefix="umchaos-bench-trend-") as tmp_name:
        root, out = Path(tmp_name) / "reports", Path(tmp_name) / "site" / "trend.html"
        root.mkdir()
        make_folders(root, sources, args.folders)
        figures["result_json_mib"] = round(sum(p.stat().st_size for p in root.glob("*/result.json")) / 2**20, 2)
        runs = [(baseline(root), in_process(root, out)) for _ in range(args.repeat)]
        process_s, skipped_lines = as_process(root, out)
        saved = json.loads(out.with_suffix(".json").read_text())
        figures |= {
            "json_load_s": round(statistics.median(b for b, _ in runs), 3),
            "trend_in_process_s": round(statistics.median(t for _, t in runs), 3),
            "trend_process_s": round(process_s, 3),
            "runs_read": len(saved["runs"]), "skipped_lines": skipped_lines,
            "page_kib": round(out.stat().st_size / 1024, 1),
            "repeats": args.repeat,
        }
    figures["ratio_to_json_load"] = round(figures["trend_in_process_s"] / figures["json_load_s"], 2)
    figures["target_s"] = TARGET_S
    figures["time_ratio_to_target"] = round(figures["trend_process_s"] / TARGET_S, 3)
    figures["loadavg_after"] = loadavg()
    figures["when"] = now_utc()
    write_result("trend.json", figures)
    print(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
