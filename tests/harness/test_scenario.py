"""Scenario loading: the seed scenario loads; every error is one line at the right file:line; no input
makes the loader raise anything but BadInput."""

from __future__ import annotations

import dataclasses
import hashlib
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.errors import BadInput
from harness.scenario import (
    CHECK_NAMES,
    FAULT_KINDS,
    MAX_FILE_BYTES,
    LatencyFault,
    RiskOverrides,
    Span,
    load_scenario,
    parse_duration,
    parse_scenario,
    um_only,
)
from harness.targets import load_target
from targets.umref.config import LINKS, RiskBudget

UMREF = load_target("umref").topology

SEED = Path(__file__).parents[2] / "scenarios" / "margin-latency-halt.yaml"

# Line numbers matter below: 1 name .. 16 checks.
BASE = """\
name: t
seed: 1
target: {system: umref, bugs: []}
load: {users: 5, spawn_rate: 5, mix: {um_order: 1}}
steady_state: {um_order_success_rate: {min: 0.9}}
timeline:
  - at: 2s
    fault: latency
    link: matching->margin
    params: {latency_ms: 500}
    for: 4s
  - at: 3s
    fault: price_shock
    params: {asset: BTC, move_pct: -7}
recovery: {within: 5s}
checks: [safe_halt, recovery]
"""
SHOCK = "    fault: price_shock\n    params: {asset: BTC, move_pct: -7}\n"
DRIFT = "    fault: price_drift\n    params: {asset: BTC, move_pct: -0.6}\n    for: 12s\n"


def error_of(text: str, file: str = "s.yaml") -> str:
    with pytest.raises(BadInput) as info:
        parse_scenario(text, file)
    message = str(info.value)
    assert len(message.splitlines()) == 1 and "\n" not in message, message
    return message


def test_seed_scenario_loads_with_its_source() -> None:
    scenario = load_scenario(SEED)
    assert (scenario.name, scenario.seed, scenario.target.bugs) == ("margin-latency-halt", 42, ())
    assert [f.fault for f in scenario.timeline] == ["latency", "price_shock"]
    latency = scenario.timeline[0]
    assert isinstance(latency, LatencyFault)
    assert (latency.at, latency.duration_s, latency.link) == (5.0, 10.0, "matching->margin")
    assert (latency.params.latency_ms, latency.params.jitter_ms) == (800, 100)
    assert scenario.timeline[1].duration_s is None
    assert scenario.recovery.within == 10.0 and "auth_fail_closed" not in scenario.checks
    assert scenario.load.mix == {"um_order": 6, "cancel": 2, "transfer": 1, "spot_order": 3}
    assert scenario.scenario_hash == hashlib.sha256(SEED.read_bytes()).hexdigest()
    (first, last), (shock_first, shock_last) = scenario.fault_lines
    excerpt = scenario.source.excerpt(first, last).splitlines()
    assert excerpt[0] == "  - at: 5s" and excerpt[-1] == "    for: 10s" and len(excerpt) == 5
    assert (shock_first, shock_last) == (last + 1, last + 3)


def test_base_is_valid_and_fault_lines_skip_trailing_comments() -> None:
    scenario = parse_scenario(BASE.replace("    for: 4s\n", "    for: 4s\n    # a comment\n\n"), "s.yaml")
    assert scenario.fault_lines[0] == (7, 11)
    assert parse_scenario(BASE, "s.yaml").fault_lines == ((7, 11), (12, 14))


def test_defaults_and_every_scenario_in_the_library_load() -> None:
    scenario = parse_scenario("name: minimal\n", "m.yaml")
    by_name = ("auth_fail_closed", "steady_state", "single_active_matching", "status_truthful",
               "release_rolled_back")  # each asked for by name
    assert scenario.timeline == () and scenario.checks == tuple(c for c in CHECK_NAMES if c not in by_name)
    for path in sorted(SEED.parent.glob("*.yaml")):
        load_scenario(path)


@pytest.mark.parametrize("old, new, line, words", [
    # YAML itself
    ("seed: 1", "seed: 1: 2", 2, "YAML: mapping values are not allowed"),
    ("seed: 1", "seed: 1\nseed: 2", 3, "duplicate key 'seed' (first on line 2)"),
    ("seed: 1", "description: 2001-13-45", 2, "cannot read this value"),
    ("seed: 1", "seed: 1\ndescription: \x07", 3, "control characters are not allowed"),
    # wrong types and missing fields
    ("seed: 1", "seed: one", 2, "seed: input should be a valid integer"),
    ("seed: 1", "seed: -1", 2, "seed: input should be greater than or equal to 0"),
    ("name: t", "name: My Scenario", 1, "lowercase letters"),
    ("name: t\n", "", 1, "scenario: needs `name:`"),
    ("    link: matching->margin\n", "", 7, "fault latency needs `link:`"),
    ("    for: 4s\n", "", 7, "fault latency needs `for:`"),
    ("    fault: price_shock\n", "", 12, "add `fault:`"),
    ("  - at: 3s\n" + SHOCK, "  - 5\n", 12, "timeline[1]: input should be a valid dictionary"),
    ("recovery: {within: 5s}", "recovery: {within: 5s, extra: 1}", 15, "recovery: unknown field 'extra'"),
    ("checks:", "chekcs:", 16, "unknown field 'chekcs'; did you mean 'checks'?"),
    # unknown names
    ("fault: latency", "fault: lightning", 8, "timeline[0].fault: unknown fault kind 'lightning'"),
    ("fault: latency", "fault: latenzy", 8, "did you mean 'latency'?"),
    ("link: matching->margin", "link: matching->moon", 9, "unknown link (caller->callee) 'matching->moon'"),
    ("bugs: []", "bugs: [no_such_bug]", 3, "target.bugs[0]: unknown bug switch 'no_such_bug'"),
    ("bugs: []", "bugs: [no_halt, no_halt]", 3, "target.bugs[1]: 'no_halt' is listed twice"),
    ("checks: [safe_halt, recovery]", "checks: [safe_halt, recovry]", 16, "did you mean 'recovery'?"),
    ("checks: [safe_halt, recovery]", "checks: []", 16, "checks: tuple should have at least 1 item"),
    ("mix: {um_order: 1}", "mix: {um_order: 1, buy: 2}", 4, "load.mix: key 'buy'"),
    ("steady_state: {", "steady_state: {probe_rounds: 0, ", 5, "steady_state.probe_rounds: input should be greater than or equal to 1"),
    ("steady_state: {", "steady_state: {probe_rounds: 2.5, ", 5, "steady_state.probe_rounds: input should be a valid integer"),
    (SHOCK, "    fault: kill\n    service: matchmaker\n", 14, "unknown service 'matchmaker'"),
    (SHOCK, "    fault: region_power_loss\n    region: D\n", 14, "unknown region 'D'"),
    # durations and times
    ("for: 4s", "for: ten", 11, "'ten' is not a duration"),
    ("for: 4s", "for: -4s", 11, "duration '-4s' is negative"),
    ("for: 4s", "for: 0ms", 11, "must be longer than 0 s"),
    ("for: 4s", "for: 90m", 11, "over the 3600 s maximum"),
    ("at: 2s", "at: 3599s", 7, "timeline[0]: this fault ends at 3603 s, after the 3600 s maximum"),
    ("recovery: {within: 5s}", "recovery: {within: 5s}\nduration: 10s", 16, "ends before the last fault"),
    ("mix: {um_order: 1}}", "mix: {um_order: 1}, duration: 30s}\nduration: 40s", 4, "differs from duration"),
    # a fault's shape
    (SHOCK, SHOCK + "    for: 1s\n", 15, "fault price_shock takes no 'for' (an instant event has no duration)"),
    ("link: matching->margin", "service: margin", 9, "fault latency takes no 'service'; it takes: at, fault, link"),
    ("latency_ms: 500", "latency_ms: -5", 10, "params.latency_ms: must be at least 0 and at most 3600000, not -5"),
    ("latency_ms: 500", "latency_ms: true", 10, "params.latency_ms: must be a number, not True"),
    ("latency_ms: 500", "latency_ms: {min: 900, max: 100}", 10, "range min 900 is above its max 100"),
    ("latency_ms: 500", "latency_ms: 500, jiter_ms: 3", 10, "takes no parameter 'jiter_ms'; it takes: latency_ms, jitter_ms"),
    ("params: {latency_ms: 500}", "params: {}", 10, "timeline[0].params: needs `latency_ms:`"),
    ("asset: BTC", "asset: DOGE", 14, "params.asset: input should be 'BTC' or 'ETH'"),
    ("move_pct: -7", "move_pct: -90", 14, "move_pct: must be above -90 and below 90"),
    # a drift: a market move over its `for`, which it must have; its total must leave a price
    (SHOCK, DRIFT, 12, None),
    (SHOCK, DRIFT.replace("-0.6}", "{min: -1, max: 1}}"), 12, None),
    (SHOCK, DRIFT.replace("    for: 12s\n", ""), 12, "timeline[1]: fault price_drift needs `for:`"),
    (SHOCK, DRIFT.replace("12s", "0s"), 15, "timeline[1].for: must be longer than 0 s"),
    (SHOCK, DRIFT.replace("-0.6", "-100"), 14, "timeline[1].params.move_pct: must be above -90 and below 90, not -100"),
    (SHOCK, DRIFT.replace("-0.6", "{min: -120, max: 1}"), 14, "params.move_pct: must be above -90"),
    (SHOCK, DRIFT.replace("asset: BTC, ", ""), 14, "timeline[1].params: needs `asset:`"),
    (SHOCK, DRIFT.replace("move_pct", "move"), 14, "takes no parameter 'move'; it takes: asset, move_pct"),
    (SHOCK, DRIFT + "    link: matching->margin\n", 16, "fault price_drift takes no 'link'; it takes: at, fault, params, for"),
    (SHOCK, "    fault: partition\n    regions: [A, A]\n    for: 1s\n", 14, "two different regions"),
    (SHOCK, "    fault: partition\n    links: [gateway->auth]\n    regions: [A, B]\n    for: 1s\n", 12,
     "either `links:"),
    (SHOCK, "    fault: timeout\n    link: matching->margin\n    for: 1s\n", 12,
     "timeline[1]: overlaps timeline[0] (latency from 2 s) on matching->margin"),
    (SHOCK, "    fault: partition\n    links: [margin->pricefeed, matching->margin]\n    for: 1s\n", 12,
     "timeline[1]: overlaps timeline[0] (latency from 2 s) on matching->margin"),
    # valid: a region partition does not touch matching->margin (both in A); a kill may last to the end
    (SHOCK, "    fault: partition\n    regions: [B, A]\n    direction: one-way\n    for: 1s\n", 12, None),
    (SHOCK, "    fault: kill\n    service: margin\n", 12, None),
    (SHOCK, "    fault: netem\n    service: margin\n    params: {loss_pct: 20, delay_ms: 50}\n    for: 1s\n", 12, None),
    (SHOCK, "    fault: netem\n    service: margin\n    params: {jitter_ms: 5}\n    for: 1s\n", 15,
     "netem needs delay_ms or loss_pct above 0"),
    (SHOCK, "    fault: netem\n    service: margin\n    params: {loss_pct: 120}\n    for: 1s\n", 15,
     "params.loss_pct: must be at least 0 and at most 100"),
    # other sections
    ("min: 0.9", "min: 1.5", 5, "steady_state.um_order_success_rate.min: must be at least 0 and at most 1"),
    ("mix: {um_order: 1}", "mix: {um_order: 0}", 4, "load.mix: at least one weight must be above 0"),
    ("bugs: []", "bugs: [], risk: {p99_ms: 50}", 3, "target.risk.p99_ms: resume_p99_ms (100) must not exceed"),
    ("bugs: []", "bugs: [], risk: {p99_ms: 0}", 3, "target.risk.p99_ms: input should be greater than or equal to 1"),
    ("seed: 1", "seed: 1\nallow_targets: ['127.0.0.1:99999']", 3, "port 99999"),
    ("seed: 1", "seed: 1\nallow_targets: ['ex ample']", 3, "neither an IP address nor a host name"),
    ("bugs: []", "bugs: [], host: 'not a host!'", 3, "target.host"),
    # abort conditions
    ("seed: 1", "seed: 1\nabort_when: {error_rate_above: 1.5, for: 5s}", 3,
     "abort_when.error_rate_above: must be at least 0 and at most 1, not 1.5"),
    ("seed: 1", "seed: 1\nabort_when:\n  error_rate_above: 0.5\n  for: -5s", 5, "abort_when.for: duration '-5s' is negative"),
    ("seed: 1", "seed: 1\nabort_when: {target_process_gone: 'yes'}", 3, "abort_when.target_process_gone"),
    ("seed: 1", "seed: 1\nabort_when: {error_rate: 0.5}", 3, "abort_when"),
    ("seed: 1", "seed: 1\nabort_when: {error_rate_above: 0.5, for: 5s, outside_faults: false}", 3, None),
    # a check that cannot judge without its evidence is refused up front
    ("checks: [safe_halt, recovery]", "checks: [safe_halt, auth_fail_closed]", 16,
     "checks: auth_fail_closed needs requests with forged keys to judge: add `bad_key` to load.mix"),
    ("mix: {um_order: 1}", "mix: {um_order: 1, bad_key: 1}", 4, None),
])
def test_each_error_is_one_line_at_its_line(old: str, new: str, line: int, words: str | None) -> None:
    assert old in BASE
    text = BASE.replace(old, new, 1)
    if words is None:
        parse_scenario(text, "s.yaml")
        return
    message = error_of(text)
    assert message.startswith(f"s.yaml:{line}: "), message
    assert words in message, message


def test_um_only_faults_are_those_on_the_um_path_alone() -> None:
    assert um_only("latency", {"link": "matching->margin"}, UMREF) and um_only("kill", {"service": "liquidation"}, UMREF)
    assert um_only("partition", {"links": ["margin->pricefeed"]}, UMREF)
    assert not um_only("down", {"link": "gateway->auth"}, UMREF) and not um_only("kill", {"service": "matching"}, UMREF)
    assert not um_only("region_power_loss", {"region": "A"}, UMREF) and not um_only("price_shock", {}, UMREF)
    assert not um_only("price_drift", {}, UMREF)
    assert not um_only("partition", {"links": ["matching->margin", "matching->ledger-a"]}, UMREF)


def test_a_kill_without_for_lasts_to_the_end_so_a_later_fault_on_it_overlaps() -> None:
    text = BASE.replace(SHOCK, "    fault: kill\n    service: margin\n").replace(
        "recovery:", "  - {at: 30m, fault: pause, service: margin, for: 1s}\nrecovery:")
    assert error_of(text).startswith("s.yaml:15: timeline[2]: overlaps timeline[1] (kill from 3 s) on margin")


def test_region_faults_overlap_faults_inside_the_region() -> None:
    power_loss = BASE.replace(SHOCK, "    fault: region_power_loss\n    region: B\n    for: 5s\n").replace(
        "recovery:", "  - {at: 4s, fault: pause, service: coordinator, for: 1s}\nrecovery:")
    assert error_of(power_loss).startswith(
        "s.yaml:16: timeline[2]: overlaps timeline[1] (region_power_loss from 3 s) on coordinator")
    partition = BASE.replace(SHOCK, "    fault: partition\n    regions: [A, B]\n    direction: one-way\n    for: 5s\n").replace(
        "recovery:", "  - {at: 4s, fault: down, link: ledger-a->ledger-b, for: 1s}\nrecovery:")
    assert error_of(partition).startswith("s.yaml:17: timeline[2]: overlaps timeline[1] (partition from 3 s) on ledger-a->ledger-b")
    parse_scenario(partition.replace("link: ledger-a->ledger-b", "link: ledger-b->ledger-a"), "s.yaml")  # one-way


def test_whole_document_errors_point_at_line_1() -> None:
    assert error_of("").startswith("s.yaml:1: a scenario is a YAML mapping")
    assert error_of("- a\n- b\n").startswith("s.yaml:1: a scenario is a YAML mapping")
    assert error_of("name: a\n---\nname: b\n").startswith("s.yaml:2: YAML: ")
    assert error_of("name: t\ntimeline: [\n  - at: 1s\n").startswith("s.yaml:")


def test_durations() -> None:
    assert [parse_duration(v) for v in ("500ms", "5s", "1.5m", 2, 0.25, "3", " 7 s ")] == [0.5, 5, 90, 2, 0.25, 3, 7]
    bad: object
    for bad in ("5h", "", "s", True, None, [], "nan", float("inf"), 10**400, -1):
        with pytest.raises(ValueError):
            parse_duration(bad)


def test_ranges_and_integers_are_kept_as_given() -> None:
    scenario = parse_scenario(BASE.replace("latency_ms: 500", "latency_ms: {min: 100, max: 900}, jitter_ms: 2.5"), "s.yaml")
    latency = scenario.timeline[0]
    assert isinstance(latency, LatencyFault)
    assert latency.params.latency_ms == Span(100, 900) and latency.params.jitter_ms == 2.5


def test_risk_overrides_cover_the_whole_risk_budget() -> None:
    assert set(RiskOverrides.model_fields) == {f.name for f in dataclasses.fields(RiskBudget)}
    scenario = parse_scenario(BASE.replace("bugs: []", "bugs: [], risk: {p99_ms: 300, max_deviation_pct: 2}"), "s.yaml")
    assert scenario.target.risk.model_dump(exclude_none=True) == {"p99_ms": 300, "max_deviation_pct": "2"}


def test_a_file_over_1_mb_is_refused_without_reading_it_all(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_bytes(b"name: x\n" + b"# filler\n" * (10 * MAX_FILE_BYTES // 9))  # 10 MB
    started = time.monotonic()
    with pytest.raises(BadInput, match=r"^\S*big\.yaml:1: over 1048576 bytes"):
        load_scenario(big)
    assert time.monotonic() - started < 0.5
    assert error_of("name: x\n" + "#" * MAX_FILE_BYTES).startswith("s.yaml:1: ")


def test_unreadable_files_are_bad_input(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(b"name: x\ndescription: \xff\xfe\n")
    with pytest.raises(BadInput, match=r"bad\.yaml:2: not UTF-8"):
        load_scenario(bad)
    with pytest.raises(BadInput, match=r"missing\.yaml:1: not a scenario file \(not found\)"):
        load_scenario(tmp_path / "missing.yaml")
    with pytest.raises(BadInput, match=r":1: not a scenario file \(not a regular file\)"):
        load_scenario(tmp_path)


def test_alias_bombs_and_recursive_aliases_are_refused_quickly() -> None:
    bomb = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]\n" for i in range(1, 9)) + "name: t\n"
    started = time.monotonic()
    assert "more than 100000 YAML values" in error_of(bomb)
    assert "recursive alias" in error_of("name: &n [*n]\n")
    assert "nested deeper than 32" in error_of("name: " + "[" * 40 + "]" * 40 + "\n")
    assert time.monotonic() - started < 2


def test_aliases_within_limits_work() -> None:
    text = BASE.replace("params: {latency_ms: 500}", "params: &slow {latency_ms: 500}")
    text = text.replace("recovery:", "  - {at: 20s, fault: latency, link: gateway->auth, params: *slow, for: 1s}\nrecovery:")
    assert parse_scenario(text, "s.yaml").timeline[2].params == parse_scenario(text, "s.yaml").timeline[0].params
    merged = BASE.replace("  - at: 2s\n", "  - &slow\n    at: 2s\n").replace(
        "recovery:", "  - {<<: *slow, at: 20s, for: 1s}\nrecovery:")  # a merge key, then overrides
    assert [(f.at, f.duration_s) for f in parse_scenario(merged, "s.yaml").timeline] == [(2, 4), (3, None), (20, 1)]


# ---- fuzzing: nothing but BadInput, always one line starting with the file name ----------------

def only_bad_input(text: str) -> None:
    try:
        parse_scenario(text, "f.yaml")
    except BadInput as exc:
        message = str(exc)
        assert message.startswith("f.yaml:") and message.split(":")[1].isdigit(), message
        assert len(message.splitlines()) == 1, message


yaml_chars = st.sampled_from(list(":-[]{},&*!|>'\"#%@`? \n\t.0123456789abcz_") + ["\r\n", "  ", "- ", ": "])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=300) | st.lists(yaml_chars, max_size=120).map("".join))
def test_random_text_only_ever_gives_bad_input(text: str) -> None:
    only_bad_input(text)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_seed_scenario_only_ever_gives_bad_input(data: st.DataObject) -> None:
    text = SEED.read_text()
    for _ in range(data.draw(st.integers(1, 4))):
        start = data.draw(st.integers(0, len(text)))
        end = data.draw(st.integers(start, min(len(text), start + 12)))
        text = text[:start] + data.draw(st.lists(yaml_chars, max_size=6).map("".join)) + text[end:]
    only_bad_input(text)


scalars = (st.none() | st.booleans() | st.integers(-(10**12), 10**12) | st.floats() | st.text(max_size=12)
           | st.sampled_from(["5s", "-1s", "500ms", "90m", "A", "B", "BTC", *FAULT_KINDS, *LINKS[:4], "margin",
                              "one-way", "both", *CHECK_NAMES[:3]]))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(st.text(max_size=8) | st.sampled_from(["min", "max"]), inner, max_size=4),
                      max_leaves=16)
fault_entries = st.dictionaries(
    st.sampled_from(["at", "fault", "link", "links", "regions", "direction", "service", "region", "params", "for", "x"]),
    values, max_size=7)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(["name", "seed", "target", "load", "steady_state", "recovery", "checks",
                                        "allow_targets", "abort_when", "duration", "description", "bogus"]), values, max_size=6),
       st.lists(fault_entries, max_size=4))
def test_random_structures_only_ever_give_bad_input(doc: dict, timeline: list) -> None:
    only_bad_input(yaml.safe_dump({**doc, "timeline": timeline}, allow_unicode=True))


random_sections = st.dictionaries(
    st.sampled_from(["mix", "intensity", "start", "min_fault", "max_fault", "min_gap", "links", "services", "x"]),
    values | st.dictionaries(st.sampled_from([*FAULT_KINDS, "kil"]), scalars, max_size=4), max_size=6)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(["duration", "recovery", "load"]), values, max_size=2),
       st.sampled_from(["random", None]), random_sections | values)
def test_random_timelines_only_ever_give_bad_input(doc: dict, timeline: str | None, section: object) -> None:
    """``timeline: random`` and its ``random:`` section, fuzzed: one line of BadInput or a scenario
    that draws a schedule (a drawn fault the validator refuses would be a crash, not bad input)."""
    from harness.schedule import build_schedule

    text = yaml.safe_dump({"name": "r", "duration": "60s", **doc, "random": section,
                           **({"timeline": timeline} if timeline else {})}, allow_unicode=True)
    only_bad_input(text)
    try:
        scenario = parse_scenario(text, "f.yaml")
    except BadInput:
        return
    build_schedule(scenario, 1)


# ---- through the CLI: exit 3, one line, nothing started ---------------------------------------

def test_cli_bad_input_is_one_line_exit_3(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(BASE.replace("fault: latency", "fault: lightning"))
    proc = subprocess.run([sys.executable, "-m", "harness.cli", "validate", str(bad)], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 3
    assert proc.stderr.strip().count("\n") == 0 and f"{bad}:8:" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_cli_refuses_a_drift_without_a_span_one_line_exit_3(tmp_path: Path) -> None:
    bad = tmp_path / "drift.yaml"
    bad.write_text(BASE.replace(SHOCK, DRIFT.replace("12s", "0")))
    proc = subprocess.run([sys.executable, "-m", "harness.cli", "validate", str(bad)], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 3 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().count("\n") == 0 and f"{bad}:15: timeline[1].for: must be longer than 0 s" in proc.stderr


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
