"""Load from other machines: `umchaos load --expect-workers N` runs the Locust master, each
`umchaos worker --master HOST:PORT` joins it with nothing but the checkout (config, target,
release and start over Locust's messages, ops back the same way, clocks mapped to the master's).

The pure parts (clock mapping, batching, addresses) are tested as such; the integration tests
start the workers as separate processes from another working folder, on loopback.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from harness.load.ops import OpWriter
from harness.load.remote import (
    WORKER_KEYS,
    Clock,
    ClockSample,
    Outbox,
    best_sample,
    clock_sample,
    parse_master,
    worker_settings,
)
from harness.net import free_port
from tests.harness.busy import explain, too_busy

SHORT = Path(__file__).parent / "scenarios_extra" / "short-halt.yaml"
ROOT = Path(__file__).parents[2]


# ---- the clock mapping ---------------------------------------------------------------------------
def exchange(skew: Clock, there_s: float, back_s: float, held_s: float = 0.001) -> ClockSample:
    """One ping/pong with the master's clocks ahead of the worker's by ``skew``, the wire taking
    ``there_s`` out and ``back_s`` back; times as each side reads its own clocks."""
    t0 = Clock(1000.0, 50.0)  # worker
    t1 = Clock(t0.wall + there_s + skew.wall, t0.mono + there_s + skew.mono)  # master
    t2 = Clock(t1.wall + held_s, t1.mono + held_s)  # master
    t3 = Clock(t0.wall + there_s + held_s + back_s, t0.mono + there_s + held_s + back_s)  # worker
    return clock_sample(t0, t1, t2, t3)


def test_a_symmetric_exchange_finds_the_offsets_exactly() -> None:
    sample = exchange(Clock(-120.5, 86_000.25), there_s=0.004, back_s=0.004)
    assert sample.wall_offset_s == pytest.approx(-120.5) and sample.mono_offset_s == pytest.approx(86_000.25)
    assert sample.round_trip_s == pytest.approx(0.008)  # the master's own millisecond left out


@pytest.mark.parametrize(("there_s", "back_s"), [(0.030, 0.001), (0.001, 0.030), (0.0, 0.2)])
def test_an_asymmetric_exchange_errs_within_its_uncertainty(there_s: float, back_s: float) -> None:
    sample = exchange(Clock(3.0, -7.0), there_s, back_s)
    assert abs(sample.wall_offset_s - 3.0) <= sample.uncertainty_s + 1e-9
    assert abs(sample.mono_offset_s + 7.0) <= sample.uncertainty_s + 1e-9
    assert sample.uncertainty_s == pytest.approx((there_s + back_s) / 2)


def test_the_shortest_round_trip_is_kept() -> None:
    samples = [exchange(Clock(1.0, 1.0), 0.05, 0.001), exchange(Clock(1.0, 1.0), 0.002, 0.002),
               exchange(Clock(1.0, 1.0), 0.001, 0.04)]
    assert best_sample(samples) is samples[1]


def test_a_worker_writes_its_ops_in_the_masters_time() -> None:
    """What the worker does with the sample: its epoch shifted, its run start moved onto its own
    monotonic clock, so an op it writes reads as the master would have written it."""
    master_start, offset = 500.0, ClockSample(wall_offset_s=-2.5, mono_offset_s=1234.0, round_trip_s=0.001)
    writer = OpWriter(None, master_start - offset.mono_offset_s, offset.wall_offset_s)
    before_wall, before_mono = time.time(), time.monotonic()
    writer.invoke("um_order", "u.r0-0", {})
    op = writer.kept[0]
    assert op["time"] == pytest.approx(before_wall - 2.5, abs=0.05)
    assert op["mono"] == pytest.approx(before_mono + 1234.0 - master_start, abs=0.05)


# ---- messages ------------------------------------------------------------------------------------
def test_the_outbox_gives_every_line_once_in_order_in_bounded_batches() -> None:
    box = Outbox()
    for i in range(5):
        box.write(f"{i}\n")
    assert box.take(2) == "0\n1\n" and box.take(2) == "2\n3\n" and len(box) == 1
    assert box.take(2) == "4\n" and box.take(2) == ""


def test_a_worker_gets_the_load_settings_not_the_masters_paths() -> None:
    config = {"history_file": "/m/h.jsonl", "accounts_file": "/m/a.json", "release_file": "/m/go", "run_id": "r",
              "start_mono": 1.0, "mix": {"um_order": 1}, "classes": None, "think_s": None, "timeout_s": 5.0,
              "client_api": "x:y", "remote_workers": 2}
    sent = worker_settings(config)
    assert set(sent) == set(WORKER_KEYS) and not any("/m/" in str(v) for v in sent.values())


@pytest.mark.parametrize(("text", "parsed"), [("127.0.0.1:5557", ("127.0.0.1", 5557)), ("[::1]:80", ("::1", 80)),
                                              ("host.example:1", ("host.example", 1))])
def test_master_address(text: str, parsed: tuple[str, int]) -> None:
    assert parse_master(text) == parsed


@pytest.mark.parametrize("text", ["127.0.0.1", ":5557", "h:0", "h:70000", "h:x"])
def test_bad_master_address(text: str) -> None:
    with pytest.raises(ValueError, match="expected HOST:PORT"):
        parse_master(text)


@pytest.mark.parametrize(("args", "message"), [
    (["load", str(SHORT), "--expect-workers", "-1"], "--expect-workers -1: must be from 0 to 64"),
    (["load", str(SHORT), "--expect-workers", "1", "--workers", "1"], "local or remote workers, not both"),
    (["load", str(SHORT), "--expect-workers", "1", "--master-bind", "nohost"], "--master-bind 'nohost': expected"),
    (["load", str(SHORT), "--expect-workers", "1", "--workers-wait", "0"], "--workers-wait 0: must be above 0"),
    (["worker", "--master", "127.0.0.1"], "--master '127.0.0.1': expected HOST:PORT"),
])
def test_bad_worker_options_exit_3_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                 args: list[str], message: str) -> None:
    from harness.cli import main

    code = main(["--state-dir", str(tmp_path / "state"), *args])
    err = capsys.readouterr().err.strip()
    assert code == 3 and message in err and len(err.splitlines()) == 1, err


def test_a_worker_with_no_master_gives_up_in_time_with_one_line(tmp_path: Path) -> None:
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "harness.cli", "worker", "--master", f"127.0.0.1:{free_port()}",
                           "--wait", "1"], capture_output=True, text=True, timeout=30, cwd=tmp_path)
    assert proc.returncode == 3 and "no Locust master listening there within 1 s" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and time.monotonic() - started < 10


# ---- real runs -----------------------------------------------------------------------------------
def start_load(tmp_path: Path, port: int, *args: str, workers: int = 2) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "harness.cli", "--state-dir", str(tmp_path / "state"), "load",
                             str(SHORT), "--expect-workers", str(workers), "--master-bind", f"127.0.0.1:{port}",
                             "--report-dir", str(tmp_path / "reports"), *args],
                            stdout=subprocess.PIPE, stderr=open(tmp_path / "master.err", "w"), text=True, cwd=ROOT)


def start_worker(folder: Path, port: int) -> subprocess.Popen[str]:
    """From another working folder: nothing of the master's run folder is reachable by path."""
    folder.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen([sys.executable, "-m", "harness.cli", "worker", "--master", f"127.0.0.1:{port}",
                             "--wait", "120"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=folder)


def run_result(tmp_path: Path) -> dict:
    results = sorted((tmp_path / "reports").glob("*/result.json"))
    return json.loads(results[-1].read_text()) if results else {}


@pytest.mark.integration
@pytest.mark.slow
def test_two_remote_workers_carry_the_load_and_the_checks_pass(tmp_path: Path) -> None:
    from tests.harness.test_end_to_end import assert_nothing_left

    port = free_port()
    master = start_load(tmp_path, port)
    workers = [start_worker(tmp_path / f"machine-{i}", port) for i in range(2)]
    out, _ = master.communicate(timeout=240)
    ends = [w.communicate(timeout=60) for w in workers]
    result = run_result(tmp_path)
    assert_nothing_left(tmp_path, result.get("run_id", ""))
    verdict = out.strip().splitlines()[-1] if out.strip() else ""
    if too_busy(master.returncode, result):
        pytest.skip(f"a busy machine left the run undecided, never violated: {result['reason']}")
    assert master.returncode == 0, explain(verdict, result) + (tmp_path / "master.err").read_text()[-3000:]
    assert [w.returncode for w in workers] == [0, 0], ends
    run_dir = next((tmp_path / "reports").iterdir())
    assert not list(run_dir.glob("load-history.jsonl*"))  # merged into history.jsonl, then dropped
    ops = [json.loads(line) for line in (run_dir / "history.jsonl").read_text().splitlines()]
    clients = [op for op in ops if op["process"].startswith("u.")]
    by_worker = Counter(op["process"].split("-")[0] for op in clients)
    assert set(by_worker) == {"u.r0", "u.r1"} and min(by_worker.values()) > 100, by_worker
    # the drain lost none: each user's ops came whole, but for the one request it may have had in
    # flight when the load stopped (its invoke, the user's last op, with no answer recorded)
    for process in {op["process"] for op in clients}:
        mine = [op for op in clients if op["process"] == process]
        answered = {op["value"]["client_id"] for op in mine if op["type"] != "invoke"}
        unanswered = [op for op in mine if op["type"] == "invoke" and op["value"]["client_id"] not in answered]
        assert len(answered) == len(mine) - len(answered) - len(unanswered), process
        assert unanswered in ([], [max(mine, key=lambda op: op["time"])]), (process, unanswered)
    joined = [op["value"] for op in ops if op["f"] == "phase" and op["value"]["phase"] == "worker_joined"]
    assert sorted(j["worker"] for j in joined) == ["r0", "r1"]
    for j in joined:  # one machine: the true offset is 0, so the measured one is within its uncertainty
        assert abs(j["wall_offset_s"]) <= j["uncertainty_s"] + 0.005, j
        assert abs(j["mono_offset_s"]) <= j["uncertainty_s"] + 0.005, j
    load_start, load_end = (next(op["mono"] for op in ops if op["f"] == "phase" and op["value"]["phase"] == p)
                            for p in ("load_start", "load_end"))
    assert load_start - 1 < min(op["mono"] for op in clients) and max(op["mono"] for op in clients) < load_end
    assert max(abs((op["time"] - op["mono"]) - (ops[0]["time"] - ops[0]["mono"])) for op in ops) < 0.05


@pytest.mark.integration
def test_workers_that_never_come_are_one_line_and_exit_3(tmp_path: Path) -> None:
    from tests.harness.test_end_to_end import assert_nothing_left

    master = start_load(tmp_path, free_port(), "--workers-wait", "2")
    out, _ = master.communicate(timeout=120)
    assert master.returncode == 3, out
    assert "--expect-workers 2: 0 worker(s) joined the Locust master" in out.strip().splitlines()[-1]
    assert "Traceback" not in (tmp_path / "master.err").read_text()
    assert_nothing_left(tmp_path, run_result(tmp_path).get("run_id", ""))


@pytest.mark.integration
@pytest.mark.slow
def test_a_worker_whose_master_goes_away_exits_by_itself(tmp_path: Path) -> None:
    port = free_port()
    master = start_load(tmp_path, port, "--duration", "40s", workers=1)
    worker = start_worker(tmp_path / "machine", port)
    try:
        deadline = time.monotonic() + 120
        while "phase: faults" not in (tmp_path / "master.err").read_text():
            assert time.monotonic() < deadline and master.poll() is None, (tmp_path / "master.err").read_text()[-2000:]
            time.sleep(0.5)
        locust = subprocess.run(["pgrep", "-f", f"master-bind-port {port}"], capture_output=True, text=True).stdout
        for pid in locust.split():
            subprocess.run(["kill", "-KILL", pid], check=False)
        gone = time.monotonic()
        _, err = worker.communicate(timeout=60)
        assert worker.returncode == 2 and "no heartbeat from the master" in err, err
        assert time.monotonic() - gone < 20
    finally:
        for proc in (worker, master):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=120)
