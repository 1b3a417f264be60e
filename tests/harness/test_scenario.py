"""Scenario loading: the seed scenario loads; every error is one line at the right file:line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.errors import BadInput
from harness.scenario import load_scenario, parse_scenario
from harness.schedule import Schedule, build_schedule, expands_links, format_schedule

SEED = Path(__file__).parents[2] / "scenarios" / "margin-latency-halt.yaml"
GOOD = SEED.read_text()


def error_of(text: str) -> str:
    with pytest.raises(BadInput) as info:
        parse_scenario(text, "s.yaml")
    message = str(info.value)
    assert "\n" not in message
    return message


def test_seed_scenario_loads_with_fault_lines() -> None:
    scenario = load_scenario(SEED)
    assert scenario.name == "margin-latency-halt" and scenario.seed == 42
    assert [f.fault for f in scenario.timeline] == ["latency", "price_shock"]
    first, last = scenario.fault_lines[0]
    assert SEED.read_text().splitlines()[first - 1].strip().startswith("- at: 5s") and last == first + 4


@pytest.mark.parametrize("old, new, line, words", [
    ("fault: latency", "fault: lightning", 15, "fault"),
    ("link: matching->margin", "link: matching->moon", 16, "unknown link"),
    ("latency_ms: 800", "latency_ms: -5", 17, "latency_ms"),
    ("for: 10s", "for: ten", 18, "not a duration"),
    ("seed: 42 ", "seed: -1 ", 9, "seed"),
    ("bugs: []", "bugs: [no_such_bug]", 10, "unknown bug switch"),
    ("checks: [safe_halt,", "checks: [safest_halt,", 23, "unknown check"),
    ("recovery: {within: 10s}", "recovery: {within: 10s, extra: 1}", 22, "unknown field"),
    ("params: {asset: BTC, move_pct: -7}", "params: {asset: DOGE, move_pct: -7}", 21, "asset"),
])
def test_each_error_names_its_line(old: str, new: str, line: int, words: str) -> None:
    assert old in GOOD
    message = error_of(GOOD.replace(old, new))
    assert message.startswith(f"s.yaml:{line}:"), message
    assert words in message


def test_yaml_syntax_error_has_its_line() -> None:
    assert error_of("name: x\ntimeline: [\n  - at: 1s\n").startswith("s.yaml:")


def test_overlapping_faults_on_one_link_are_refused() -> None:
    text = GOOD.replace("""  - at: 8s
    fault: price_shock
    params: {asset: BTC, move_pct: -7}""", """  - at: 8s
    fault: timeout
    link: matching->margin
    for: 2s""")
    message = error_of(text)
    assert message.startswith("s.yaml:19:") and "overlaps" in message


def test_a_fault_without_its_duration_is_refused() -> None:
    assert "needs `for:`" in error_of(GOOD.replace("    for: 10s\n", ""))


def test_huge_file_is_refused_fast(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_bytes(b"name: x\n" + b"# filler\n" * 1_200_000)
    with pytest.raises(BadInput, match="big.yaml:1: file is"):
        load_scenario(big)


def test_non_utf8_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(b"name: x\ndescription: \xff\xfe\n")
    with pytest.raises(BadInput, match="bad.yaml:2: not UTF-8"):
        load_scenario(bad)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=300))
def test_random_text_only_ever_gives_bad_input(text: str) -> None:
    try:
        parse_scenario(text, "f.yaml")
    except BadInput as exc:
        assert str(exc).startswith("f.yaml:")


yaml_values = st.recursive(st.none() | st.booleans() | st.integers(-10**12, 10**12) | st.floats(allow_nan=True) | st.text(max_size=20),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
                           max_leaves=20)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(["name", "seed", "target", "load", "timeline", "recovery", "checks", "steady_state",
                                        "duration", "bogus"]), yaml_values, max_size=6))
def test_random_structures_only_ever_give_bad_input(doc: dict) -> None:
    try:
        parse_scenario(yaml.safe_dump(doc), "f.yaml")
    except BadInput as exc:
        assert str(exc).startswith("f.yaml:")


def test_cli_bad_input_is_one_line_exit_3(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(GOOD.replace("fault: latency", "fault: lightning"))
    proc = subprocess.run([sys.executable, "-m", "harness.cli", "validate", str(bad)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 3
    assert proc.stderr.strip().count("\n") == 0 and f"{bad}:15:" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_dry_run_prints_the_schedule_and_touches_nothing(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "harness.cli", "run", str(SEED), "--dry-run", "--seed", "7",
                           "--report-dir", str(tmp_path / "r")], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "seed 7" in proc.stdout and "matching->margin" in proc.stdout
    assert not (tmp_path / "r").exists()


# ---- schedule ----------------------------------------------------------------------------------
def test_schedule_is_deterministic_and_round_trips() -> None:
    scenario = load_scenario(SEED)
    one, two = build_schedule(scenario, 5), build_schedule(scenario, 5)
    assert one == two
    assert Schedule.from_dict(one.to_dict()) == one
    assert one.duration_s == 15 + 10 + 5 and one.recovery_within_s == 10
    assert "latency" in format_schedule(one)


def test_region_partition_expands_to_cross_region_links() -> None:
    text = GOOD.replace("""  - at: 8s
    fault: price_shock
    params: {asset: BTC, move_pct: -7}""", """  - at: 8s
    fault: partition
    regions: [A, B]
    direction: one-way
    for: 2s""")
    scenario, _ = parse_scenario(text, "p.yaml")
    partition = build_schedule(scenario, 1).faults[1]
    links = expands_links(partition)
    assert "ledger-a->ledger-b" in links and "ledger-b->ledger-a" not in links
    both = build_schedule(parse_scenario(text.replace("one-way", "both"), "p.yaml")[0], 1).faults[1]
    assert {"ledger-a->ledger-b", "ledger-b->ledger-a", "coordinator->ledger-a"} <= set(expands_links(both))


@pytest.mark.parametrize("args, words", [
    (["--backend", "nowhere"], "unknown backend"),
    (["--bugs", "nope"], "unknown bug switch"),
    (["--seed", "x"], "invalid int value"),
])
def test_bad_options_exit_3_before_anything_runs(tmp_path: Path, args: list[str], words: str) -> None:
    proc = subprocess.run([sys.executable, "-m", "harness.cli", "--state-dir", str(tmp_path / "s"), "run", str(SEED),
                           "--report-dir", str(tmp_path / "r"), *args], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 3
    assert words in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "r").exists()


def test_a_fault_kind_the_backend_cannot_do_is_refused_up_front(tmp_path: Path) -> None:
    skewed = tmp_path / "skew.yaml"
    skewed.write_text(GOOD.replace("""  - at: 8s
    fault: price_shock
    params: {asset: BTC, move_pct: -7}""", """  - at: 16s
    fault: clock_skew
    service: margin
    params: {offset_ms: 500}
    for: 2s"""))
    proc = subprocess.run([sys.executable, "-m", "harness.cli", "--state-dir", str(tmp_path / "s"), "run", str(skewed),
                           "--report-dir", str(tmp_path / "r")], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 3 and "clock_skew not supported" in proc.stderr
    assert not (tmp_path / "r").exists()
