"""The schedule: same seed, same schedule; ranges drawn from the seed; a stored schedule round-trips
and a tampered one is bad input; which links a fault needs proxies on."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.errors import BadInput
from harness.scenario import FAULT_KINDS, MAX_FAULTS, load_scenario, parse_scenario
from harness.schedule import (
    SETTLE_S,
    TRIES_PER_FAULT,
    Schedule,
    ScheduledFault,
    build_schedule,
    draw_timeline,
    expands_links,
    format_schedule,
)
from harness.targets import load_target
from targets.umref.config import LINKS, REGION_OF

UMREF = load_target("umref").topology
REGIONS, SERVICES = UMREF.regions, UMREF.services

SEED = Path(__file__).parents[2] / "scenarios" / "margin-latency-halt.yaml"
EVERY_KIND = Path(__file__).parent / "scenarios_extra" / "every-fault-kind.yaml"

RANGED = """\
name: ranged
timeline:
  - at: 20s
    fault: latency
    link: matching->margin
    params: {latency_ms: {min: 100, max: 900}, jitter_ms: {min: 0.5, max: 2.5}}
    for: 5s
  - {at: 2s, fault: price_shock, params: {asset: ETH, move_pct: {min: -20, max: -5}}}
  - {at: 10s, fault: kill, service: liquidation}
recovery: {within: 8s}
"""


def fault(kind: str, **target: object) -> ScheduledFault:
    return ScheduledFault("f1", kind, 1.0, 2.0, dict(target), {}, (0, 0))


def test_the_seed_scenario_schedule() -> None:
    schedule = build_schedule(load_scenario(SEED), 42)
    latency, shock = schedule.faults
    assert (latency.id, latency.kind, latency.at_s, latency.duration_s) == ("f1", "latency", 5.0, 10.0)
    assert latency.target == {"link": "matching->margin"} and latency.params == {"latency_ms": 800, "jitter_ms": 100}
    assert (shock.id, shock.kind, shock.duration_s, shock.target) == ("f2", "price_shock", None, {})
    assert shock.params == {"asset": "BTC", "move_pct": -7}
    assert latency.lines == (16, 20) and shock.lines == (21, 23)
    assert schedule.duration_s == 15 + 10 + SETTLE_S and schedule.recovery_within_s == 10


def test_faults_are_numbered_in_time_order_and_keep_their_lines() -> None:
    schedule = build_schedule(parse_scenario(RANGED, "r.yaml"), 1)
    assert [(f.id, f.kind, f.at_s, f.lines) for f in schedule.faults] == [
        ("f1", "price_shock", 2.0, (8, 8)), ("f2", "kill", 10.0, (9, 9)), ("f3", "latency", 20.0, (3, 7))]
    assert schedule.faults[1].duration_s is None  # killed until the run ends
    assert schedule.duration_s == 25 + 8 + SETTLE_S


def test_same_seed_same_schedule_and_ranges_are_drawn_within_bounds() -> None:
    scenario = parse_scenario(RANGED, "r.yaml")
    assert build_schedule(scenario, 7) == build_schedule(scenario, 7)
    draws = set()
    for seed in range(20):
        shock, _, latency = build_schedule(scenario, seed).faults
        assert isinstance(latency.params["latency_ms"], int) and 100 <= latency.params["latency_ms"] <= 900
        assert isinstance(latency.params["jitter_ms"], float) and 0.5 <= latency.params["jitter_ms"] <= 2.5
        assert -20 <= shock.params["move_pct"] <= -5 and shock.params["asset"] == "ETH"
        draws.add(latency.params["latency_ms"])
    assert len(draws) > 10  # the seed does choose


def test_an_explicit_run_duration_wins() -> None:
    scenario = parse_scenario(RANGED + "duration: 60s\n", "r.yaml")
    assert build_schedule(scenario, 1).duration_s == 60
    scenario = parse_scenario(RANGED.replace("name: ranged", "name: ranged\nload: {duration: 1m}"), "r.yaml")
    assert build_schedule(scenario, 1).duration_s == 60


@pytest.mark.parametrize("path", [SEED, EVERY_KIND])
def test_to_dict_from_dict_round_trips_through_json(path: Path) -> None:
    schedule = build_schedule(load_scenario(path), 3)
    assert Schedule.from_dict(json.loads(json.dumps(schedule.to_dict()))) == schedule
    ranged = build_schedule(parse_scenario(RANGED, "r.yaml"), 3)
    assert Schedule.from_dict(json.loads(json.dumps(ranged.to_dict()))) == ranged


@pytest.mark.parametrize("change, words", [
    (lambda d: d.pop("seed"), "seed: Field required"),
    (lambda d: d["faults"][0].update(kind="lightning"), "faults.0: Input tag 'lightning'"),
    (lambda d: d["faults"][0]["target"].update(link="matching->moon"), "faults.0.link: unknown link"),
    (lambda d: d["faults"][0]["params"].update(latency_ms=-1), "faults.0.params.latency_ms"),
    (lambda d: d["faults"][1].update(id="f1"), "two faults share an id"),
    (lambda d: d["faults"][0].update(at_s="soon"), "faults.0.at_s"),
])
def test_a_tampered_schedule_is_bad_input(change: object, words: str) -> None:
    stored = build_schedule(load_scenario(SEED), 3).to_dict()
    change(stored)  # type: ignore[operator]
    with pytest.raises(BadInput) as info:
        Schedule.from_dict(stored)
    assert words in str(info.value) and "\n" not in str(info.value)


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
                           max_leaves=12)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(json_values, st.data())
def test_from_dict_only_ever_gives_bad_input(garbage: object, data: st.DataObject) -> None:
    stored = build_schedule(load_scenario(SEED), 3).to_dict()
    where = data.draw(st.sampled_from(["root", "seed", "faults", "fault", "target", "params", "lines"]))
    if where == "root":
        stored = garbage  # type: ignore[assignment]
    elif where in ("seed", "faults"):
        stored[where] = garbage
    else:
        entry = stored["faults"][0]
        entry[where if where != "fault" else data.draw(st.sampled_from(sorted(entry)))] = garbage
    try:
        Schedule.from_dict(stored)
    except BadInput as exc:
        assert str(exc).startswith("schedule: ") and "\n" not in str(exc)


durations = st.sampled_from(["1s", 2, "1.5s", "800ms"])
ms_param = st.integers(0, 2000) | st.builds(lambda a, b: {"min": a, "max": a + b}, st.integers(0, 1000), st.integers(0, 1000))
link_partition = st.fixed_dictionaries({"links": st.lists(st.sampled_from(LINKS), min_size=1, max_size=3, unique=True)})
region_partition = st.fixed_dictionaries({"regions": st.permutations(list(REGIONS))})
TARGETS: dict[str, st.SearchStrategy[dict[str, Any]]] = {
    **{kind: st.fixed_dictionaries({"link": st.sampled_from(LINKS), "for": durations}) for kind in
       ("timeout", "down")},
    "latency": st.fixed_dictionaries({"link": st.sampled_from(LINKS), "for": durations,
                                      "params": st.fixed_dictionaries({"latency_ms": ms_param}, optional={"jitter_ms": ms_param})}),
    "bandwidth": st.fixed_dictionaries({"link": st.sampled_from(LINKS), "for": durations,
                                        "params": st.fixed_dictionaries({"rate_kbps": st.integers(1, 10**6)})}),
    "slicer": st.fixed_dictionaries({"link": st.sampled_from(LINKS), "for": durations},
                                    optional={"params": st.fixed_dictionaries({}, optional={
                                        "average_bytes": st.integers(1, 65_536), "delay_us": st.integers(0, 10**6)})}),
    "reset_peer": st.fixed_dictionaries({"link": st.sampled_from(LINKS), "for": durations,
                                         "params": st.fixed_dictionaries({}, optional={"timeout_ms": ms_param})}),
    "partition": st.tuples(link_partition | region_partition,
                           st.fixed_dictionaries({"for": durations}, optional={"direction": st.sampled_from(["both", "one-way"])})
                           ).map(lambda parts: {**parts[0], **parts[1]}),
    "kill": st.fixed_dictionaries({"service": st.sampled_from(SERVICES)}, optional={"for": durations}),
    "pause": st.fixed_dictionaries({"service": st.sampled_from(SERVICES), "for": durations}),
    "clock_skew": st.fixed_dictionaries({"service": st.sampled_from(SERVICES), "for": durations,
                                         "params": st.fixed_dictionaries({"offset_ms": st.integers(-5000, 5000)})}),
    "netem": st.fixed_dictionaries({"service": st.sampled_from(SERVICES), "for": durations,
                                    "params": st.fixed_dictionaries({"loss_pct": st.integers(1, 100)},
                                                                    optional={"delay_ms": ms_param, "jitter_ms": ms_param})}),
    "region_power_loss": st.fixed_dictionaries({"region": st.sampled_from(REGIONS)}, optional={"for": durations}),
    "price_shock": st.fixed_dictionaries({"params": st.fixed_dictionaries({
        "asset": st.sampled_from(["BTC", "ETH"]), "move_pct": st.floats(-89, 89) | st.just({"min": -9.5, "max": 3})})}),
    "price_drift": st.fixed_dictionaries({"for": durations, "params": st.fixed_dictionaries({
        "asset": st.sampled_from(["BTC", "ETH"]), "move_pct": st.floats(-89, 89) | st.just({"min": -1, "max": 1})})}),
    "deploy": st.fixed_dictionaries({"service": st.sampled_from(SERVICES), "params": st.fixed_dictionaries(
        {"build": st.sampled_from(["1.4.2", "1.5.0", "1.5.1", "1.0.0", "9"])}, optional={"watch_s": st.integers(0, 30)})}),
}
fault_entries = st.sampled_from(FAULT_KINDS).flatmap(
    lambda kind: st.tuples(st.sampled_from(["0s", "1s", "2.5s", "500ms", 10, "1m"]), TARGETS[kind]).map(
        lambda parts: {"at": parts[0], "fault": kind, **parts[1]}))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(fault_entries, max_size=5), st.integers(0, 2**31 - 1))
def test_every_scenario_that_loads_schedules_and_round_trips(entries: list, seed: int) -> None:
    text = yaml.safe_dump({"name": "generated", "timeline": entries})
    try:
        scenario = parse_scenario(text, "g.yaml")
    except BadInput:
        return
    schedule = build_schedule(scenario, seed)
    assert schedule == build_schedule(scenario, seed)
    assert Schedule.from_dict(json.loads(json.dumps(schedule.to_dict()))) == schedule
    assert [f.at_s for f in schedule.faults] == sorted(f.at_s for f in schedule.faults)
    for f in schedule.faults:
        assert set(expands_links(f, UMREF)) <= set(LINKS) and 1 <= f.lines[0] <= f.lines[1] <= len(text.splitlines())
    format_schedule(schedule)


def test_expands_links_for_region_partitions() -> None:
    both = set(expands_links(fault("partition", regions=["A", "B"], direction="both"), UMREF))
    crossing = {link for link in LINKS if {REGION_OF[s] for s in link.split("->")} == {"A", "B"}}
    assert both == crossing and {"ledger-a->ledger-b", "ledger-b->ledger-a", "gateway->ledger-b"} <= both
    one_way = set(expands_links(fault("partition", regions=["A", "B"], direction="one-way"), UMREF))
    assert one_way == {link for link in crossing if REGION_OF[link.split("->")[0]] == "A"}
    assert "ledger-a->ledger-b" in one_way and "ledger-b->ledger-a" not in one_way
    back = set(expands_links(fault("partition", regions=["B", "A"], direction="one-way"), UMREF))
    assert back == crossing - one_way and "coordinator->ledger-a" in back


def test_expands_links_for_links_and_other_kinds() -> None:
    assert expands_links(fault("latency", link="matching->margin"), UMREF) == ("matching->margin",)
    assert expands_links(fault("partition", links=["ledger-a->ledger-b"], direction="both"), UMREF) == (
        "ledger-a->ledger-b", "ledger-b->ledger-a")
    assert expands_links(fault("partition", links=["ledger-a->ledger-b"], direction="one-way"), UMREF) == ("ledger-a->ledger-b",)
    assert expands_links(fault("partition", links=["matching->margin"], direction="both"), UMREF) == ("matching->margin",)
    assert expands_links(fault("kill", service="margin"), UMREF) == () and expands_links(fault("price_shock"), UMREF) == ()


def test_format_schedule_is_a_table() -> None:
    text = format_schedule(build_schedule(parse_scenario(RANGED, "r.yaml"), 4))
    head, columns, *rows = text.splitlines()
    assert head == "seed 4: 3 fault(s), run 38s, recovery within 8s"
    assert columns.split() == ["id", "at", "for", "fault", "target", "params", "lines"]
    assert rows[1].split()[:5] == ["f2", "10s", "until", "end", "kill"]
    assert "link=matching->margin" in rows[2] and "latency_ms=" in rows[2] and rows[2].endswith("3-7")


def test_dry_run_prints_the_schedule_and_touches_nothing(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "harness.cli", "run", str(SEED), "--dry-run", "--seed", "7",
                           "--report-dir", str(tmp_path / "r")], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "seed 7" in proc.stdout and "link=matching->margin" in proc.stdout
    assert not (tmp_path / "r").exists()


# ---- random timelines ----------------------------------------------------------------------------
RANDOM_MIX = Path(__file__).parents[2] / "scenarios" / "random-mix.yaml"
RANDOM = """\
name: random
duration: 120s
timeline: random
random: {mix: {%s}, intensity: 12, max_fault: 5s}
recovery: {within: 10s}
"""


def _touched(fault: ScheduledFault) -> set[str]:
    from harness.scenario import services_touched

    return {*expands_links(fault, UMREF), *services_touched(fault.kind, fault.target, UMREF)}


def test_a_random_timeline_is_the_same_for_the_same_seed_and_differs_across_seeds() -> None:
    scenario = load_scenario(RANDOM_MIX)
    first, again = build_schedule(scenario, 97), build_schedule(scenario, 97)
    assert first == again and first.faults
    assert len({tuple((f.kind, f.at_s) for f in build_schedule(scenario, s).faults) for s in range(20)}) > 15
    for fault in first.faults:  # within the window: after start, healed before recovery and settling
        assert 5.0 <= fault.at_s and fault.end_s <= first.duration_s - first.recovery_within_s - SETTLE_S


def test_every_fault_kind_is_reachable_and_no_two_faults_share_a_link_or_service_at_once() -> None:
    scenario = parse_scenario(RANDOM % ", ".join(f"{kind}: 1" for kind in FAULT_KINDS), "r.yaml")
    seen: set[str] = set()
    for seed in range(40):
        schedule = build_schedule(scenario, seed)
        seen |= {f.kind for f in schedule.faults}
        for i, a in enumerate(schedule.faults):
            for b in schedule.faults[:i]:
                if a.at_s < b.end_s and b.at_s < a.end_s:
                    assert not _touched(a) & _touched(b), (seed, a, b)
        Schedule.from_dict(json.loads(json.dumps(schedule.to_dict())))  # stored and replayed like any other
    assert seen == set(FAULT_KINDS)


def test_a_random_drift_is_small_and_slow_and_never_changes_another_mix() -> None:
    """A drift draws its own span (the market's time, not max_fault's), kept within the window;
    the kinds drawn before it are drawn as before (the digests below hold with KINDS_THEN)."""
    scenario = parse_scenario(RANDOM % "price_drift: 1", "r.yaml")
    drifts = [f for seed in range(20) for f in build_schedule(scenario, seed).faults]
    assert drifts and all(f.kind == "price_drift" and f.target == {} for f in drifts)
    assert all(0.2 <= abs(f.params["move_pct"]) <= 1 and 5 <= (f.duration_s or 0) <= 20 for f in drifts)
    assert {f.params["asset"] for f in drifts} == {"BTC", "ETH"} and len({f.duration_s for f in drifts}) > 10
    short = parse_scenario(RANDOM.replace("120s", "30s") % "price_drift: 1", "r.yaml")  # a 15 s window
    for seed in range(20):
        schedule = build_schedule(short, seed)
        window_end = schedule.duration_s - schedule.recovery_within_s - SETTLE_S
        assert all(5 <= f.at_s and f.end_s <= window_end + 1e-9 for f in schedule.faults)
        assert Schedule.from_dict(json.loads(json.dumps(schedule.to_dict()))) == schedule


def test_the_mix_and_restrictions_are_honoured() -> None:
    text = RANDOM % "latency: 1, kill: 1"
    text = text.replace("max_fault: 5s}", "max_fault: 5s, links: [matching->margin], services: [margin, auth]}")
    scenario = parse_scenario(text, "r.yaml")
    for seed in range(10):
        for fault in build_schedule(scenario, seed).faults:
            assert fault.kind in ("latency", "kill")
            assert fault.target in ({"link": "matching->margin"}, {"service": "margin"}, {"service": "auth"})


@pytest.mark.parametrize(("text", "words"), [
    ("name: r\nduration: 60s\ntimeline: random\n", "r.yaml:3: timeline: `timeline: random` needs a `random:` section"),
    ("name: r\nduration: 60s\nrandom: {mix: {kill: 1}}\n", "r.yaml:3: random: `random:` draws the timeline"),
    ("name: r\ntimeline: random\nrandom: {mix: {kill: 1}}\n", "r.yaml:3: random: a random timeline needs the run's length"),
    ("name: r\nduration: 20s\ntimeline: random\nrandom: {mix: {kill: 1}}\n", "r.yaml:4: random: no room for a fault"),
    ("name: r\nduration: 60s\ntimeline: random\nrandom: {mix: {kil: 1}}\n", "unknown fault kind 'kil'; did you mean 'kill'?"),
    ("name: r\nduration: 60s\ntimeline: random\nrandom: {mix: {kill: 0}}\n", "at least one weight must be above 0"),
    ("name: r\nduration: 60s\ntimeline: random\nrandom: {mix: {kill: 1}, min_fault: 9s}\n", "min_fault (9 s) is above max_fault"),
    ("name: r\nduration: 60s\ntimeline: random\nrandom: {mix: {kill: 1}, min_gap: -1s}\n", "random.min_gap: duration '-1s' is negative"),
    ("name: r\nduration: 60s\ntimeline: random\nrandom:\n  mix: {region_power_loss: 1}\n  services: [margin]\n",
     "r.yaml:5: random.mix.region_power_loss: no region has all its services"),
])
def test_a_bad_random_timeline_is_one_line_with_its_place(text: str, words: str) -> None:
    with pytest.raises(BadInput) as caught:
        parse_scenario(text, "r.yaml")
    message = str(caught.value)
    assert words in message and "\n" not in message, message


random_sections = st.fixed_dictionaries(
    {"mix": st.dictionaries(st.sampled_from(FAULT_KINDS), st.integers(0, 4), min_size=1, max_size=5)},
    optional={"intensity": st.sampled_from([0.5, 4, 30, 60]), "start": st.sampled_from(["0s", "5s", "550ms"]),
              "min_fault": st.sampled_from(["10ms", "1s", "3s"]), "max_fault": st.sampled_from(["40ms", "1.06s", "10s"]),
              "min_gap": st.sampled_from(["0s", "1s", "4s"]),
              "links": st.lists(st.sampled_from(LINKS), max_size=3, unique=True),
              "services": st.lists(st.sampled_from(SERVICES), max_size=3, unique=True)})


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_sections, st.sampled_from(["30s", "60s", "2m"]), st.integers(0, 2**31 - 1))
def test_every_random_timeline_that_loads_draws_a_schedule_a_written_timeline_could_hold(
        section: dict[str, Any], run: str, seed: int) -> None:
    """Whatever random section loads: same seed, same schedule; every fault inside the window, of a
    kind the mix weights, on an allowed link or service; written out as an explicit timeline, it
    passes the same validation (overlaps included) as a hand-written scenario."""
    text = yaml.safe_dump({"name": "r", "duration": run, "timeline": "random", "random": section,
                           "recovery": {"within": "5s"}})
    try:
        scenario = parse_scenario(text, "r.yaml")
    except BadInput as exc:
        assert str(exc).startswith("r.yaml:") and "\n" not in str(exc)
        return
    schedule = build_schedule(scenario, seed)
    assert schedule == build_schedule(scenario, seed) and schedule.faults
    assert Schedule.from_dict(json.loads(json.dumps(schedule.to_dict()))) == schedule
    assert scenario.random is not None
    window_end = schedule.duration_s - schedule.recovery_within_s - SETTLE_S
    starts = sorted(f.at_s for f in schedule.faults)
    assert all(b - a >= scenario.random.min_gap - 1e-9 for a, b in zip(starts, starts[1:], strict=False))
    for f in schedule.faults:
        assert section["mix"].get(f.kind, 0) > 0
        assert scenario.random.start <= f.at_s and f.end_s <= window_end + 1e-9
        if section.get("links"):
            assert set(expands_links(f, UMREF)) <= set(section["links"]) or f.kind == "partition" and set(
                f.target["links"]) <= set(section["links"])
        if section.get("services"):
            from harness.scenario import services_touched

            assert set(services_touched(f.kind, f.target, UMREF)) <= set(section["services"])
    explicit = [{"at": f.at_s, "fault": f.kind, **f.target, "params": f.params,
                 **({"for": f.duration_s} if f.duration_s is not None else {})} for f in schedule.faults]
    written = parse_scenario(yaml.safe_dump({"name": "w", "duration": run, "timeline": explicit,
                                             "recovery": {"within": "5s"}}), "w.yaml")
    assert build_schedule(written, seed).faults == tuple(
        ScheduledFault(f.id, f.kind, f.at_s, f.duration_s, f.target, f.params, w.lines)
        for f, w in zip(schedule.faults, build_schedule(written, seed).faults, strict=True))


# ---- random timelines: bounded like written ones -------------------------------------------------
MIX_ALL = ("{latency: 3, timeout: 1, reset_peer: 1, down: 1, bandwidth: 1, partition: 1, kill: 1, pause: 1, "
           "clock_skew: 1, price_shock: 1}")
# intensity 60 a minute; 525 s less 15 s recovery, 5 s settling and 5 s start: a 500 s window, 500 faults
AT_CAP = f"""\
name: at-cap
duration: 525s
timeline: random
random:
  mix: {MIX_ALL}
  intensity: 60
  min_gap: 1s
recovery: {{within: 15s}}
"""
# one service, minute-long faults: at most a handful fit, so nearly every try is refused
CROWDED = """\
name: crowded
duration: 525s
timeline: random
random: {mix: {pause: 1}, services: [margin], intensity: 60, min_fault: 60s, max_fault: 60s}
recovery: {within: 15s}
"""


def test_an_hour_of_random_faults_is_refused_by_validate_with_its_place(tmp_path: Path) -> None:
    """Issue 18: 420 bytes that drew thousands of faults and took seconds of CPU per validate."""
    hour = tmp_path / "hour.yaml"
    hour.write_text(AT_CAP.replace("525s", "3600s"))
    proc = subprocess.run([sys.executable, "-m", "harness.cli", "validate", str(hour)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 3, proc.stderr
    assert proc.stdout == "" and proc.stderr.count("\n") == 1, proc.stderr
    assert f"{hour}:4: random: intensity 60 a minute over a 3575 s fault window is 3575 faults" in proc.stderr
    assert "at most 500" in proc.stderr and "intensity 8.39 at most" in proc.stderr


def test_a_random_timeline_right_at_the_cap_validates_and_one_more_fault_does_not(tmp_path: Path) -> None:
    at_cap = tmp_path / "at-cap.yaml"
    at_cap.write_text(AT_CAP)
    proc = subprocess.run([sys.executable, "-m", "harness.cli", "validate", str(at_cap)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    scenario = parse_scenario(AT_CAP, "a.yaml")
    assert scenario.random is not None and scenario.random.fault_count(525, 15) == MAX_FAULTS
    with pytest.raises(BadInput, match=r"^a\.yaml:4: random: .* is 501 faults; a run has at most 500"):
        parse_scenario(AT_CAP.replace("525s", "526s"), "a.yaml")


class _Counting:
    """Counts the draw's tries (one ``_random_entry`` each) and its validations."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        import harness.schedule as schedule

        self.tries = self.validations = 0
        entry, adapter = schedule._random_entry, schedule._FAULT_SPEC

        def counted_entry(*args: Any) -> dict[str, Any]:
            self.tries += 1
            return entry(*args)

        class CountedAdapter:
            def validate_python(_, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
                self.validations += 1
                return adapter.validate_python(*args, **kwargs)

        monkeypatch.setattr(schedule, "_random_entry", counted_entry)
        monkeypatch.setattr(schedule, "_FAULT_SPEC", CountedAdapter())


@pytest.mark.parametrize("text", [AT_CAP, CROWDED])
def test_the_draw_is_bounded_in_tries_and_validates_only_what_it_places(
        text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Counted, not timed: at most TRIES_PER_FAULT tries a fault and MAX_FAULTS faults, each fault
    left out only after all its tries, one validation per placed fault."""
    scenario = parse_scenario(text, "r.yaml")
    assert scenario.random is not None
    counting = _Counting(monkeypatch)
    drawn = draw_timeline(scenario.random, 525, 15, 3, scenario.target_system)
    left_out = MAX_FAULTS - len(drawn)
    assert TRIES_PER_FAULT * left_out <= counting.tries <= TRIES_PER_FAULT * MAX_FAULTS == 25_000
    assert counting.validations == len(drawn)
    if text is CROWDED:  # the worst case: nearly every fault spends every try
        assert len(drawn) < 10 and counting.tries > 24_000


def test_the_draw_refuses_too_many_faults_before_drawing_any(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whoever calls it, with whatever run length: the cap holds without a single try."""
    scenario = parse_scenario(AT_CAP, "r.yaml")
    assert scenario.random is not None
    counting = _Counting(monkeypatch)
    with pytest.raises(BadInput, match="3575 faults in a 3600 s run; a run has at most 500"):
        draw_timeline(scenario.random, 3600, 15, 0, scenario.target_system)
    assert counting.tries == 0


# the kinds there were when the digests below were taken: a new kind in a mix draws another schedule
KINDS_THEN = ("latency", "bandwidth", "timeout", "reset_peer", "down", "partition", "kill", "pause",
              "region_power_loss", "clock_skew", "price_shock", "netem")


@pytest.mark.parametrize(("name", "seed", "digest"), [
    ("random-mix", 0, "7424964a5f596e6c"), ("random-mix", 97, "0a26815a9f6ef428"),
    ("every-kind", 0, "e600c8c30daf1130"), ("every-kind", 97, "db6b4a4ccfe83434"),
    ("at-cap", 0, "77c0e43b45cfb4ed"), ("at-cap", 97, "cdfb4c7e8cb85d6b"),
    ("crowded", 0, "db32b83af6de0502"), ("crowded", 97, "70cedd34ef9bbcb0"),
])
def test_a_seed_names_the_same_random_schedule_as_before_the_draw_was_indexed(
        name: str, seed: int, digest: str) -> None:
    """A seed is how a random schedule is named (``--seed N``); these digests are the schedules the
    draw gave before it checked tries against an index instead of every placed fault (b4fb89f),
    taken again when umref's topology grew region B's standby stack and the witness, and when
    its liquidation stopped writing to the ledger itself (the draw picks among its services and
    links; the crowded ones name a link of their own)."""
    scenario = {"random-mix": lambda: load_scenario(RANDOM_MIX),
                "every-kind": lambda: parse_scenario(RANDOM % ", ".join(f"{k}: 1" for k in KINDS_THEN), "r.yaml"),
                "at-cap": lambda: parse_scenario(AT_CAP, "r.yaml"),
                "crowded": lambda: parse_scenario(CROWDED, "r.yaml")}[name]()
    stored = json.dumps(build_schedule(scenario, seed).to_dict(), sort_keys=True).encode()
    assert hashlib.sha256(stored).hexdigest()[:16] == digest
