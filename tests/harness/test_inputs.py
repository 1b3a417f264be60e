"""Every input besides the scenario file is as strict as the scenario: a run folder's result.json
and schedule.json (replay, shrink), options, write targets. Each problem is one line and exit 3,
found before anything starts; a run folder is only ever planned inside --report-dir."""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.errors import BadInput
from harness.inputs import MAX_SEED, check_writable_dir, check_writable_file
from harness.replay import plan_replay
from harness.report import write_reports
from harness.result import RunResult
from harness.scenario import MAX_FAULTS, load_scenario, parse_scenario
from harness.schedule import Schedule, build_schedule
from harness.shrink import failed_run
from harness.untrusted import printable, read_json
from targets.umref.config import BUG_SWITCHES
from tests.harness.factories import T0, HistoryBuilder, audit

ROOT = Path(__file__).parents[2]
SCENARIO = ROOT / "scenarios" / "flapping-latency.yaml"  # several faults: overlaps and ends to mutate


def make_run_folder(folder: Path, scenario_path: Path = SCENARIO) -> None:
    """A run folder as a failed run leaves it: result.json from the real report writer, schedule.json."""
    scenario = load_scenario(scenario_path)
    schedule = build_schedule(scenario, scenario.seed)
    from harness.checks.base import CheckResult

    result = RunResult(run_id="uc1", scenario=scenario.name, scenario_file=str(scenario_path),
                       scenario_hash=scenario.scenario_hash, seed=scenario.seed, backend="local", bugs=("no_halt",),
                       status="fail", exit_code=1, started=T0, ended=T0 + schedule.duration_s,
                       checks=(CheckResult("safe_halt", False, "never halted"),),
                       schedule=tuple(schedule.to_dict()["faults"]))
    write_reports(folder, result, HistoryBuilder().build(), audit())
    (folder / "schedule.json").write_text(json.dumps(schedule.to_dict(), indent=1))


@pytest.fixture(scope="module")
def original(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], dict[str, Any]]:
    folder = tmp_path_factory.mktemp("original")
    make_run_folder(folder)
    return json.loads((folder / "result.json").read_text()), json.loads((folder / "schedule.json").read_text())


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("work")


@pytest.fixture
def scenario_read_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The mutation tests edit the run folder, never the scenario file it names, and replay and
    shrink each validate that file again: 4,400 parses of one unchanged YAML file were most of
    their time. Each distinct (path, bytes) is validated for real once and its frozen Scenario
    answered again; anything else (a folder, a missing file, a target stand-in) goes to the real
    ``load_scenario`` every time."""
    import harness.runner
    import harness.shrink

    seen: dict[tuple[str, bytes], Any] = {}

    def load(path: Path, *, stand_in: Any = None) -> Any:
        if stand_in is not None or not Path(path).is_file():
            return load_scenario(path, stand_in=stand_in)
        key = (str(Path(path).resolve()), Path(path).read_bytes())
        if key not in seen:
            seen[key] = load_scenario(path)
        return seen[key]

    monkeypatch.setattr(harness.runner, "load_scenario", load)
    monkeypatch.setattr(harness.shrink, "load_scenario", load)


def test_the_untouched_run_folder_replays_and_shrinks(tmp_path: Path) -> None:
    make_run_folder(tmp_path / "run")
    plan = plan_replay(tmp_path / "run", report_dir=tmp_path / "reports", state_dir=tmp_path / "state")
    assert plan.run_dir.parent == tmp_path / "reports" and plan.folder.bugs == ("no_halt",)
    assert plan.options.schedule == Schedule.from_dict(json.loads((tmp_path / "run" / "schedule.json").read_text()))
    assert failed_run(tmp_path / "run").failing == ("safe_halt",)
    assert not (tmp_path / "reports").exists() and not (tmp_path / "state").exists()  # planning touches nothing


# ---- mutations of a real run folder: exit 3 or a run inside --report-dir -----------------------

def paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(value, dict):
        for key, child in value.items():
            yield from paths(child, (*prefix, key))
    elif isinstance(value, list):
        for i, child in enumerate(value):
            yield from paths(child, (*prefix, i))


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


hostile = (st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.sampled_from([MAX_SEED, MAX_SEED + 1, -1, 0])
           | st.floats(allow_nan=False) | st.sampled_from([1e300, -0.0, 1e-300, 3600.0, 7205.0, 7205.5, 0.0005])
           | st.text(max_size=12)
           | st.sampled_from(["../../x", "../", "/", ".", "..", "a/b", "no_halt", "no_halt,stale_margin_call", "f1",
                              "latency", "kill", "partition", "matching->margin", "margin", "A", "\x1b[2J", "docker",
                              "pass", "fail", str(SCENARIO), str(SCENARIO.parent), "/dev/null", "/proc/self/status",
                              *BUG_SWITCHES[:3]])
           | st.lists(st.sampled_from([*BUG_SWITCHES, "nope", "../x", ""]), max_size=3)
           | st.builds(nested, st.integers(30, 90)))


def mutate(doc: Any, data: st.DataObject) -> Any:
    """One to three edits: a value replaced, a key dropped or added, a list item doubled or moved."""
    doc = copy.deepcopy(doc)
    for _ in range(data.draw(st.integers(1, 3))):
        where = data.draw(st.sampled_from(list(paths(doc))))
        if not where:
            if data.draw(st.booleans()):
                return data.draw(hostile)
            continue
        parent = doc
        for part in where[:-1]:
            parent = parent[part]
        last = where[-1]
        action = data.draw(st.sampled_from(["replace", "replace", "drop", "add", "double", "shift"]))
        if action == "replace":
            parent[last] = data.draw(hostile)
        elif action == "drop":
            del parent[last]
        elif action == "add" and isinstance(parent, dict):
            parent[data.draw(st.sampled_from(["x", "seed", "bugs", "id", "lines", "scenario_hash"]))] = data.draw(hostile)
        elif action == "double" and isinstance(parent, list):
            parent.insert(last, copy.deepcopy(parent[last]))
        elif action == "shift" and isinstance(parent[last], (int, float)) and not isinstance(parent[last], bool):
            parent[last] = parent[last] + data.draw(st.sampled_from([-5, -0.5, 0.5, 3, 30, 4000]))
    return doc


def check_folder(run_dir: Path, report_dir: Path, state_dir: Path) -> None:
    """The property: replay and shrink either refuse (BadInput, one line) or plan a sound run."""
    try:
        plan = plan_replay(run_dir, report_dir=report_dir, state_dir=state_dir)
    except BadInput as exc:
        assert "\n" not in str(exc) and "\x1b" not in printable(str(exc)), str(exc)
    else:
        assert plan.run_dir.resolve().parent == report_dir.resolve()
        assert 0 <= plan.folder.seed <= MAX_SEED and set(plan.folder.bugs) <= set(BUG_SWITCHES)
        schedule = plan.folder.schedule
        assert len(schedule.faults) <= MAX_FAULTS and schedule.duration_s <= 7205
        assert all(f.end_s <= schedule.duration_s for f in schedule.faults)
    try:
        folder = failed_run(run_dir)
    except BadInput as exc:
        assert "\n" not in str(exc), str(exc)
    else:
        assert folder.scenario_hash == hashlib.sha256(folder.scenario_file.read_bytes()).hexdigest()
        assert folder.failing and folder.schedule.faults


def write(run_dir: Path, result: Any, schedule: Any) -> None:
    run_dir.mkdir(exist_ok=True)
    (run_dir / "result.json").write_text(json.dumps(result))
    (run_dir / "schedule.json").write_text(json.dumps(schedule))


MUTATIONS = settings(max_examples=900, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                              HealthCheck.function_scoped_fixture])


@MUTATIONS
@given(st.data())
def test_a_mutated_result_json_is_refused_or_replayed_inside_the_report_dir(
        original: tuple[dict[str, Any], dict[str, Any]], work: Path, scenario_read_once: None,
        data: st.DataObject) -> None:
    result, schedule = original
    write(work / "run", mutate(result, data), schedule)
    check_folder(work / "run", work / "reports", work / "state")


@MUTATIONS
@given(st.data())
def test_a_mutated_schedule_json_is_refused_or_replayed_inside_the_report_dir(
        original: tuple[dict[str, Any], dict[str, Any]], work: Path, scenario_read_once: None,
        data: st.DataObject) -> None:
    result, schedule = original
    write(work / "run", result, mutate(schedule, data))
    check_folder(work / "run", work / "reports", work / "state")


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture])
@given(st.data())
def test_corrupted_json_text_is_refused_or_replayed_inside_the_report_dir(
        original: tuple[dict[str, Any], dict[str, Any]], work: Path, scenario_read_once: None,
        data: st.DataObject) -> None:
    """Byte-level damage (a truncated file, NaN, a stray bracket) of either file."""
    result, schedule = original
    texts = {"result.json": json.dumps(result), "schedule.json": json.dumps(schedule)}
    name = data.draw(st.sampled_from(sorted(texts)))
    text = texts[name]
    for _ in range(data.draw(st.integers(1, 3))):
        start = data.draw(st.integers(0, len(text)))
        end = data.draw(st.integers(start, min(len(text), start + 8)))
        text = text[:start] + data.draw(st.sampled_from(["", "[", "]", "{", "}", ",", "NaN", "1e999", "-", "\"",
                                                         "0", "\x00", "\u2028", "../"])) + text[end:]
    (work / "run").mkdir(exist_ok=True)
    for file, content in texts.items():
        (work / "run" / file).write_text(text if file == name else content)
    check_folder(work / "run", work / "reports", work / "state")


@pytest.mark.parametrize(("change", "words"), [
    (lambda r, s: r.update(seed="../../../escaped"), "seed must be a whole number from 0 to 2147483647"),
    (lambda r, s: r.update(seed=True), "seed must be a whole number"),
    (lambda r, s: r.update(seed=2**31), "seed must be a whole number"),
    (lambda r, s: r.update(bugs="no_halt"), "bugs must be a list of bug switch names, not 'no_halt'"),
    (lambda r, s: r.update(bugs=["no_halt", "../x"]), "unknown bug switch(es) '../x'"),
    (lambda r, s: r.update(backend="k8s"), "unknown backend 'k8s'"),
    (lambda r, s: r.update(scenario_hash="abc"), "scenario_hash must be a sha256"),
    (lambda r, s: s.update(seed=7), "seed 7 differs from the run's seed"),
    (lambda r, s: s.update(duration_s=1e300), "duration_s: Input should be less than or equal to 7205"),
    (lambda r, s: s.update(faults=s["faults"] * 200), "faults; a run has at most 500"),
    (lambda r, s: s["faults"][0].update(at_s=s["duration_s"]), "after the run's duration_s"),
    (lambda r, s: s["faults"].append({**s["faults"][0], "id": "f99", "at_s": s["faults"][0]["at_s"] + 0.5}),
     "overlaps faults.0"),
])
def test_each_bad_run_folder_is_one_line(tmp_path: Path, original: tuple[dict[str, Any], dict[str, Any]],
                                         change: Any, words: str) -> None:
    result, schedule = copy.deepcopy(original)
    change(result, schedule)
    write(tmp_path / "run", result, schedule)
    with pytest.raises(BadInput) as caught:
        plan_replay(tmp_path / "run", report_dir=tmp_path / "reports", state_dir=tmp_path / "state")
    assert words in str(caught.value) and "\n" not in str(caught.value)
    assert not (tmp_path / "reports").exists()


def test_shrink_needs_the_scenario_hash(tmp_path: Path, original: tuple[dict[str, Any], dict[str, Any]]) -> None:
    result, schedule = copy.deepcopy(original)
    del result["scenario_hash"]
    write(tmp_path / "run", result, schedule)
    with pytest.raises(BadInput, match="no scenario_hash: cannot tell whether .* changed since the run"):
        failed_run(tmp_path / "run")
    plan_replay(tmp_path / "run", report_dir=tmp_path / "r", state_dir=tmp_path / "s")  # replay does not need it


def test_deep_or_huge_json_is_refused_without_a_traceback(tmp_path: Path) -> None:
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(BadInput, match="nested deeper than 64 levels"):
        read_json(deep)
    deep.write_text(json.dumps({"a": nested(70)}))
    with pytest.raises(BadInput, match="nested deeper than 64 levels"):
        read_json(deep)
    big = tmp_path / "big.json"
    with big.open("wb") as out:
        out.truncate(65 << 20)  # sparse: nothing written, nothing read beyond the bound
    with pytest.raises(BadInput, match="over 67108864 bytes"):
        read_json(big)


# ---- through the CLI: exit 3, one line, before anything starts ----------------------------------

def cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], capture_output=True, text=True, timeout=120,
                          cwd=cwd)


def one_line_exit_3(proc: subprocess.CompletedProcess[str], words: str) -> None:
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert words in proc.stderr, proc.stderr


def test_replay_of_an_edited_run_folder_exits_3_and_writes_nothing(tmp_path: Path,
                                                                  original: tuple[dict[str, Any], dict[str, Any]]) -> None:
    result, schedule = copy.deepcopy(original)
    result["seed"] = "../../../escaped"
    write(tmp_path / "run", result, schedule)
    (tmp_path / "reports" / "inner").mkdir(parents=True)
    proc = cli("--state-dir", str(tmp_path / "state"), "replay", str(tmp_path / "run"),
               "--report-dir", str(tmp_path / "reports" / "inner"))
    one_line_exit_3(proc, "seed must be a whole number")
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["inner", "reports", "result.json", "run", "schedule.json"]


def test_shrink_without_a_scenario_hash_exits_3(tmp_path: Path, original: tuple[dict[str, Any], dict[str, Any]]) -> None:
    result, schedule = copy.deepcopy(original)
    del result["scenario_hash"]
    write(tmp_path / "run", result, schedule)
    one_line_exit_3(cli("--state-dir", str(tmp_path / "state"), "shrink", str(tmp_path / "run")), "no scenario_hash")


@pytest.mark.parametrize(("args", "words"), [
    (["--seeds", "-1"], "argument --seeds: -1: must be at least 1"),
    (["--seeds", "0"], "argument --seeds: 0: must be at least 1"),
    (["--seed", "-5"], "argument --seed: -5: a seed is from 0 to 2147483647"),
    (["--seed", str(MAX_SEED), "--seeds", "2"], "would pass 2147483647"),
    (["--report-dir", "{file}"], "is not a folder"),
    (["--report-dir", "/proc"], "--report-dir /proc: cannot write there"),
    (["--report-dir", "/proc/umchaos/reports"], "cannot write there"),
    (["--junit", "/proc/x.xml"], "--junit /proc/x.xml: its folder /proc: cannot write there"),
    (["--junit", "{tmp}"], "is a folder, not a file"),
])
def test_bad_options_and_write_targets_exit_3_before_any_run(tmp_path: Path, args: list[str], words: str,
                                                             capsys: pytest.CaptureFixture[str],
                                                             caplog: pytest.LogCaptureFixture) -> None:
    """In process, through the CLI's own ``main`` (18 interpreter starts were most of this file's
    time); the process's exit code and stderr are the subprocess tests' above and below."""
    from harness import cli as cli_module

    caplog.set_level(logging.INFO)  # what the process would print on stderr at its default level
    (tmp_path / "file").write_text("")
    args = [a.format(file=tmp_path / "file", tmp=tmp_path) for a in args]
    for dry in ([], ["--dry-run"]):
        try:
            code = cli_module.main(["--state-dir", str(tmp_path / "state"), "run", str(SCENARIO), *args, *dry])
        except SystemExit as exc:  # argparse's own exit, as the process would end
            code = exc.code
        err = capsys.readouterr().err
        one_line_exit_3(subprocess.CompletedProcess([], code, "", err), words)
        assert not caplog.records, [r.getMessage() for r in caplog.records]  # nothing logged: nothing started
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]  # no state folder, no report


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes in a read-only folder")
def test_a_read_only_report_dir_is_bad_input(tmp_path: Path) -> None:
    (tmp_path / "ro").mkdir(mode=0o555)
    with pytest.raises(BadInput, match="cannot write there"):
        check_writable_dir(tmp_path / "ro" / "reports", "--report-dir")


def test_write_targets_are_tried_and_nothing_is_left(tmp_path: Path) -> None:
    check_writable_dir(tmp_path / "a" / "b" / "c", "--report-dir")
    check_writable_file(tmp_path / "x" / "junit.xml", "--junit")
    assert list(tmp_path.iterdir()) == []


def test_an_unwritable_state_folder_is_exit_3_and_the_crash_handler_cannot_crash(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from harness import cli as cli_module

    state = tmp_path / "state"
    state.write_text("a file, not a folder")
    for command in (["cleanup"], ["run", str(SCENARIO), "--dry-run"], ["replay", str(tmp_path)]):
        assert cli_module.main(["--state-dir", str(state), *command]) == 3
        err = capsys.readouterr().err.strip()
        assert err.startswith(f"umchaos: --state-dir {state}: ") and len(err.splitlines()) == 1
    # a crash with the state folder gone bad: the traceback goes to a temporary file, exit 2 (never 1)
    monkeypatch.setattr(cli_module, "_dispatch", lambda args: (_ for _ in ()).throw(RuntimeError("boom")))
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr("tempfile.tempdir", None)
    assert cli_module.main(["--state-dir", str(state / "sub"), "cleanup"]) == 2
    err = capsys.readouterr().err.strip()
    assert "internal error: RuntimeError: boom (traceback in " in err and len(err.splitlines()) == 1
    kept = next(tmp_path.glob("umchaos-crash-*.log"))
    assert "RuntimeError: boom" in kept.read_text()


# ---- validate and --dry-run run every check run would ------------------------------------------

REMOTE = SCENARIO.read_text().replace("name: flapping-latency", "name: remote\ntarget: {host: 10.1.2.3}")
NETEM = """name: netem-local
timeline:
  - {at: 2s, fault: netem, service: margin, params: {delay_ms: 50}, for: 2s}
recovery: {within: 5s}
"""


@pytest.mark.parametrize(("text", "backend", "words"), [
    (REMOTE, "local", "target host '10.1.2.3' is not loopback"),
    (NETEM, "local", "fault kind(s) netem not supported by the local backend"),
])
def test_validate_and_dry_run_refuse_what_run_refuses(tmp_path: Path, text: str, backend: str, words: str) -> None:
    assert "target:" not in SCENARIO.read_text()  # REMOTE adds the one target section
    path = tmp_path / "s.yaml"
    path.write_text(text)
    one_line_exit_3(cli("validate", str(path), "--backend", backend), words)
    one_line_exit_3(cli("--state-dir", str(tmp_path / "st"), "run", str(path), "--dry-run"), words)


def test_validate_an_empty_folder_says_so(tmp_path: Path) -> None:
    one_line_exit_3(cli("validate", str(tmp_path)), f"no scenario (*.yaml) in {tmp_path}")


def test_validate_takes_the_backend_a_netem_scenario_runs_on(tmp_path: Path) -> None:
    (tmp_path / "s.yaml").write_text(NETEM)
    proc = cli("validate", str(tmp_path / "s.yaml"), "--backend", "docker")
    assert proc.returncode == 0 and proc.stdout.startswith(f"ok {tmp_path / 's.yaml'}: netem-local"), proc.stderr


# ---- item 7: the smaller holes -----------------------------------------------------------------

@pytest.mark.parametrize(("text", "words"), [
    ("name: t\ntimeline:\n  - {at: 1:30, fault: price_shock, params: {asset: BTC, move_pct: -7}}\n",
     "s.yaml:3: YAML: cannot read this value: '1:30' is a YAML 1.1 base-60 number (90)"),
    ("name: t\nduration: 1:30.5\n", "s.yaml:2: YAML: cannot read this value: '1:30.5' is a YAML 1.1 base-60 number"),
    ("name: t\nseed: !!int\n", "s.yaml:2: YAML: cannot read this value: nothing to read as tag:yaml.org,2002:int"),
    ("name: t\ntimeline:\n  - {at: 1s, fault: latency, link: matching->margin, params: {latency_ms: 5}, for: 1e-300s}\n",
     "s.yaml:3: timeline[0].for: duration '1e-300s' is under 1 ms"),
    ("name: t\nrecovery: {within: 0.0001}\n", "s.yaml:2: recovery.within: duration 0.0001 is under 1 ms"),
    ("name: t\nseed: 1\n\ntrue: x\n", "s.yaml:4: key 'true' is read as true/false; keys are names"),
    ("name: t\nseed: 1\n\n~: x\n", "s.yaml:4: key '~' is read as null"),
    ("name: t\nload:\n  users: 5\n  7: x\n", "s.yaml:4: key '7' is read as a number"),
    ("name: t\ntimeline:\n  - at: 1s\n    fault: price_shock\n    params:\n      asset: BTC\n      2024-01-01: 1\n",
     "s.yaml:7: key '2024-01-01' is read as a date"),
])
def test_smaller_scenario_holes_are_one_line_at_their_line(text: str, words: str) -> None:
    with pytest.raises(BadInput) as caught:
        parse_scenario(text, "s.yaml")
    assert str(caught.value).startswith(words), str(caught.value)


def test_quoted_and_written_out_times_still_work() -> None:
    scenario = parse_scenario("name: t\nseed: 1_000\n"
                              + "timeline:\n  - {at: 90s, fault: price_shock, params: {asset: BTC, move_pct: -7}}\n"
                              + "  - {at: 1ms, fault: price_shock, params: {asset: ETH, move_pct: 1}}\n", "s.yaml")
    assert [f.at for f in scenario.timeline] == [90, 0.001] and scenario.seed == 1000


def test_control_characters_are_shown_as_escapes() -> None:
    assert printable("a\x1b[31mb\x07\u202ec\td e\n") == "a\\x1b[31mb\\x07\\u202ec\\td e\\n"
    assert printable("plain text, ünïcode ✓") == "plain text, ünïcode ✓"


def test_list_and_error_lines_print_no_escape_sequences(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text('name: t\ndescription: "\\e[31mRED\\e[0m text"\n')
    proc = cli("list", str(tmp_path))
    assert proc.returncode == 0 and "\x1b" not in proc.stdout and "\\x1b[31mRED" in proc.stdout
    (tmp_path / "b\x1b[2Jx.yaml").write_text("name: 5\n")
    proc = cli("list", str(tmp_path))
    one_line_exit_3(proc, "b\\x1b[2Jx.yaml:1: name:")
    assert "\x1b" not in proc.stderr


def test_a_run_that_ran_no_checks_does_not_say_every_check_held(tmp_path: Path) -> None:
    make_run_folder(tmp_path / "run")
    saved = json.loads((tmp_path / "run" / "result.json").read_text())
    unknown = RunResult(run_id="uc1", scenario=saved["scenario"], scenario_file=saved["scenario_file"],
                        scenario_hash=saved["scenario_hash"], seed=saved["seed"], backend="local", bugs=(),
                        status="unknown", exit_code=2, started=T0, ended=T0 + 3, checks=(), schedule=(),
                        reason="steady state not met before faults")
    html = write_reports(tmp_path / "unknown", unknown, HistoryBuilder().build(), audit()).read_text()
    assert "Every check held." not in html and "No check ran: the run ended unknown before its checks." in html


# ---- item 9: options that cut a scenario short ------------------------------------------------

def test_load_duration_shorter_than_last_heal_plus_recovery_is_refused(tmp_path: Path) -> None:
    proc = cli("--state-dir", str(tmp_path / "state"), "load", "scenarios/margin-latency-halt.yaml",
               "--report-dir", str(tmp_path / "r"), "--users", "20", "--spawn-rate", "20", "--duration", "15s")
    # the latency fault heals at 15 s, recovery.within is 10 s: 25 s is the shortest run that judges recovery
    one_line_exit_3(proc, "--duration 15s: ends before the last fault has healed and recovery.within has passed; "
                          "the shortest that works is 25s (or --no-faults)")
    assert not (tmp_path / "r").exists()
