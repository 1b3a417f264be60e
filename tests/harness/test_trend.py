"""umchaos trend over run folders made from one real result.json (tests/harness/data/), perturbed:
the verdict grid and its links, a worsened night marked, bad folders named and skipped, exit 3
on a missing folder, nothing written outside --out's folder."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from harness import cli
from harness.errors import BadInput
from harness.report.run_figures import read_run
from harness.report.trend import build_trend, night_of, read_runs, render_trend

DATA = Path(__file__).parent / "data" / "result-margin-latency-halt.json"
REAL = json.loads(DATA.read_text())
DAY = 86_400.0
NIGHT1 = 1_796_300_000.0  # 2026-12-03 around 10:53 UTC: the night of 2026-12-02


def make_run(root: Path, name: str, *, started: float, scenario: str = "margin-latency-halt", seed: int = 42,
             status: str = "pass", rto: float | None = None, steady: dict[str, Any] | None = None) -> Path:
    """A run folder: the real result.json with its name, time, verdict and figures changed."""
    data = json.loads(json.dumps(REAL))
    data.update(scenario=scenario, seed=seed, status=status, started=started, ended=started + 32)
    if rto is not None:
        data["figures"]["rto_s"] = rto
    if steady is not None:
        data["checks"].append({"name": "steady_state", "valid": True, "summary": "", "evidence": [],
                               "figures": steady, "status": "pass"})
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "result.json").write_text(json.dumps(data))
    (folder / "report.html").write_text("<html></html>")
    return folder


def trend(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = cli.main(["trend", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_the_real_result_gives_its_figures(tmp_path: Path) -> None:
    (tmp_path / "result.json").write_bytes(DATA.read_bytes())
    run = read_run(tmp_path)
    assert (run.scenario, run.seed, run.status) == ("margin-latency-halt", 42, "pass")
    assert run.figures["halt_after_breach_s"] == 0.022 and run.figures["rto_s"] == 4.07
    # scheduled 10 s, halted 0.223 s after landing, UM took orders 4.07 s after the heal
    assert run.figures["halt_length_s"] == pytest.approx(10 - 0.223 + 4.07)
    assert not any(k.startswith(("p99", "error_rate")) for k in run.figures)  # no steady_state check in that run


def test_steady_state_figures_per_phase_and_nan_as_not_measured(tmp_path: Path) -> None:
    folder = make_run(tmp_path, "r", started=NIGHT1, steady={"before.p99_ms": 40.5, "before.error_rate": 0.0,
                                                            "after.p99_ms": 61.0})
    text = (folder / "result.json").read_text().replace('"after.p99_ms": 61.0', '"after.p99_ms": NaN')
    (folder / "result.json").write_text(text)  # as result.json files were written before NaN became null
    figures = read_run(folder).figures
    assert figures["p99_before_ms"] == 40.5 and figures["error_rate_before"] == 0.0 and "p99_after_ms" not in figures


def test_grid_cells_colours_and_links(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    reports = tmp_path / "reports"
    make_run(reports, "a1", started=NIGHT1, scenario="alpha")
    make_run(reports, "a2", started=NIGHT1 + 600, scenario="alpha", seed=43, status="fail")
    make_run(reports, "a3", started=NIGHT1 + DAY, scenario="alpha", status="unknown")
    make_run(reports, "b1", started=NIGHT1 + DAY + 60, scenario="beta", status="aborted")
    out = tmp_path / "site" / "trend.html"
    code, stdout, err = trend([str(reports), "--out", str(out)], capsys)
    assert code == 0 and err == "" and "4 run(s) of 2 scenario(s) over 2 night(s)" in stdout
    saved = json.loads(out.with_suffix(".json").read_text())
    n1, n2 = night_of(NIGHT1), night_of(NIGHT1 + DAY)
    assert saved["nights"] == [n1, n2]
    assert saved["grid"] == {"alpha": {n1: ["pass", "fail"], n2: ["unknown"]}, "beta": {n2: ["aborted"]}}
    for run in saved["runs"]:  # each link, relative to the page, is that run's report.html
        assert (out.parent / run["report"]).resolve() == (Path(run["folder"]) / "report.html").resolve()
    html = out.read_text()
    rows = re.findall(r"<tr><th class=\"s\">.*?</tr>", html)
    alpha = next(r for r in rows if ">alpha<" in r)
    cells = re.findall(r"<td>(.*?)</td>", alpha)
    assert len(cells) == 2 and cells[0].count('class="v"') == 2 and cells[1].count('class="v"') == 1
    assert 'href="../reports/a2/report.html" style="background:#cf222e"' in cells[0]  # fail is red, as report.html
    assert "background:#bf8700" in cells[1]  # unknown
    beta = next(r for r in rows if ">beta<" in r)
    assert re.findall(r"<td>(.*?)</td>", beta)[0] == "" and "background:#6e7781" in beta  # no run in night 1; aborted


def test_a_worsened_night_is_marked_and_small_rises_are_not(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    reports = tmp_path / "reports"
    for i, rto in enumerate((4.0, 4.1, 3.9)):
        make_run(reports, f"n{i}", started=NIGHT1 + i * DAY, rto=rto)
    make_run(reports, "n3-small", started=NIGHT1 + 3 * DAY, rto=4.6)  # +15 %: noise
    make_run(reports, "n4-worse", started=NIGHT1 + 4 * DAY, rto=6.0)  # +45 % and 1.9 s over the median
    code, _, _ = trend([str(reports)], capsys)
    assert code == 0
    saved = json.loads((reports / "trend.json").read_text())  # default: beside trend.html in REPORTS_DIR
    worse = {Path(r["folder"]).name: r["worse"] for r in saved["runs"]}
    assert worse == {"n0": [], "n1": [], "n2": [], "n3-small": [], "n4-worse": ["rto_s"]}
    html = (reports / "trend.html").read_text()
    marked = re.findall(r'<a class="v" href="([^"]+)"[^>]*title="[^"]*worse: rto_s">▲</a>', html)
    assert marked == ["n4-worse/report.html"]
    assert html.count("<title>worse: ") == 1  # the RTO chart marks the same run


def test_a_rise_under_its_floor_is_not_worse(tmp_path: Path) -> None:
    """time to halt after the breach from 0.02 s to 0.06 s is +200 % but 0.04 s: under the 0.05 s floor."""
    for i, breach in enumerate((0.02, 0.02, 0.02, 0.06, 0.09)):
        folder = make_run(tmp_path, f"r{i}", started=NIGHT1 + i * DAY)
        data = json.loads((folder / "result.json").read_text())
        data["figures"]["time_to_halt_from_client_breach_s"] = breach
        (folder / "result.json").write_text(json.dumps(data))
    entries = build_trend(read_runs([tmp_path], print), tmp_path).entries
    assert [e.worse for e in entries] == [(), (), (), (), ("halt_after_breach_s",)]


def test_folders_not_runs_and_damaged_results_are_named_in_one_line_and_skipped(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    reports = tmp_path / "reports"
    make_run(reports, "good", started=NIGHT1)
    (reports / "state").mkdir()
    (reports / "cut").mkdir()
    (reports / "cut" / "result.json").write_text(DATA.read_text()[:500])
    make_run(reports, "seedless", started=NIGHT1)
    (reports / "seedless" / "result.json").write_text(json.dumps({**REAL, "seed": "forty-two"}))
    make_run(reports, "oddfigure", started=NIGHT1)
    (reports / "oddfigure" / "result.json").write_text(json.dumps({**REAL, "figures": {"rto_s": "fast"}}))
    (reports / "list").mkdir()
    (reports / "list" / "result.json").write_text("[1, 2]")
    (reports / "notes.txt").write_text("a file, not a folder: not a run either, and not worth a line")
    code, stdout, err = trend([str(reports), "--out", str(tmp_path / "t.html")], capsys)
    assert code == 0 and "1 run(s)" in stdout and "5 folder(s) skipped" in stdout
    lines = err.splitlines()
    assert len(lines) == 5 and "Traceback" not in err
    for name, words in (("state", "not a run folder"), ("cut", "not JSON"), ("seedless", "seed"),
                        ("oddfigure", "rto_s is not a number"), ("list", "not a JSON object")):
        assert sum(str(reports / name) in line and words in line for line in lines) == 1, (name, lines)
    assert len(json.loads((tmp_path / "t.json").read_text())["skipped"]) == 5


@pytest.mark.parametrize("what", ["missing", "file", "empty"])
def test_a_reports_dir_missing_not_a_folder_or_without_runs_is_exit_3(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], what: str) -> None:
    target = tmp_path / "reports"
    if what == "file":
        target.write_text("")
    elif what == "empty":
        target.mkdir()
    good = tmp_path / "good"
    make_run(good, "r", started=NIGHT1)
    # a missing or wrong folder beside a good one is refused; an empty one only when no folder has a run
    code, stdout, err = trend([str(good), str(target)] if what != "empty" else [str(target)], capsys)
    assert code == 3 and stdout == "" and len(err.strip().splitlines()) == 1
    assert err.startswith("umchaos: ") and str(target) in err
    assert not (good / "trend.html").exists()


def test_exit_3_in_a_process_of_its_own(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "harness.cli", "trend", str(tmp_path / "nope")],
                          capture_output=True, text=True, timeout=60, cwd=Path(__file__).parents[2])
    assert proc.returncode == 3 and proc.stdout == ""
    assert proc.stderr.strip() == f"umchaos: {tmp_path / 'nope'}: no such folder"


def _tree(root: Path) -> dict[str, float]:
    return {str(p.relative_to(root)): p.stat().st_mtime for p in root.rglob("*")}


def test_nothing_is_written_outside_the_out_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    reports = tmp_path / "reports"
    make_run(reports, "r1", started=NIGHT1)
    make_run(reports, "r2", started=NIGHT1 + DAY, status="fail")
    (reports / "junk").mkdir()
    before = _tree(tmp_path)
    cwd = os.getcwd()
    os.chdir(reports / "junk")  # not the current folder either
    try:
        code, _, _ = trend([str(reports), "--out", str(tmp_path / "site" / "nightly.html")], capsys)
    finally:
        os.chdir(cwd)
    assert code == 0
    after = _tree(tmp_path)
    assert {k: v for k, v in after.items() if k in before} == before
    assert sorted(set(after) - set(before)) == ["site", "site/nightly.html", "site/nightly.json"]


def test_an_out_named_json_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make_run(tmp_path / "reports", "r", started=NIGHT1)
    code, _, err = trend([str(tmp_path / "reports"), "--out", str(tmp_path / "trend.json")], capsys)
    assert code == 3 and "name the page .html" in err and not (tmp_path / "trend.json").exists()


def test_strings_from_result_json_are_escaped(tmp_path: Path) -> None:
    make_run(tmp_path, "r", started=NIGHT1, scenario="<script>alert(1)</script>")
    html = render_trend(build_trend(read_runs([tmp_path], print), tmp_path))
    assert "<script>alert" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_no_run_at_all_is_bad_input(tmp_path: Path) -> None:
    (tmp_path / "state").mkdir()
    said: list[str] = []
    with pytest.raises(BadInput, match="no run folder"):
        read_runs([tmp_path], said.append)
    assert said == [f"skipped {tmp_path / 'state'}: not a run folder (no result.json)"]


def test_a_figure_no_run_measured_is_named_not_drawn(tmp_path: Path) -> None:
    folder = make_run(tmp_path, "r", started=NIGHT1, scenario="calm")
    data = json.loads((folder / "result.json").read_text())
    data["figures"], data["checks"] = {}, []
    (folder / "result.json").write_text(json.dumps(data))
    make_run(tmp_path, "h", started=NIGHT1, scenario="halts")
    html = render_trend(build_trend(read_runs([tmp_path], print), tmp_path))
    calm = html[html.index('<section id="calm">'):html.index('<section id="halts">')]
    assert "<svg" not in calm and "not measured: time to halt after the clients&#x27; breach, halt length, RTO" in calm
    halts = html[html.index('<section id="halts">'):]
    assert halts.count('<svg class="chart"') == 3  # time to halt, halt length, RTO; no steady_state figures
