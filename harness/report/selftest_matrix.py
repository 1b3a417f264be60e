"""The self-test's matrix as a terminal table, selftest.html and selftest.json."""

from __future__ import annotations

import json
from dataclasses import asdict
from html import escape
from pathlib import Path

from harness.selftest import CORRECT, Matrix

__all__ = ["matrix_rows", "render_html", "write_matrix", "print_matrix"]


def _cell_text(matrix: Matrix, bug: str | None, scenario: str) -> str:
    results = matrix.row(bug)[scenario]
    if not results:
        return "-"
    if bug is None:
        passed = sum(r.outcome == "pass" for r in results)
        alarms = sum(r.outcome == "false_alarm" for r in results)
        text = f"pass {passed}/{len(results)}"
        return text + (f", {alarms} FALSE ALARM" if alarms else "") + (
            f", {len(results) - passed - alarms} unknown" if len(results) - passed - alarms else "")
    counts: dict[str, int] = {}
    for r in results:
        counts[r.outcome] = counts.get(r.outcome, 0) + 1
    failed = sorted({c for r in results for c in r.failed_checks})
    text = ", ".join(f"{outcome} {n}/{len(results)}" for outcome, n in counts.items())
    return text + (f" ({', '.join(failed)})" if failed else "")


def matrix_rows(matrix: Matrix) -> list[tuple[str, list[str], str]]:
    """(row label, one text per scenario, row status) for the correct exchange and each bug."""
    alarms = bool(matrix.false_alarms())
    rows = [(CORRECT, [_cell_text(matrix, None, s) for s in matrix.scenarios],
             "false alarm" if alarms else "unknown" if matrix.correct_unknown() else "pass")]
    rows += [(bug, [_cell_text(matrix, bug, s) for s in matrix.scenarios], matrix.bug_status(bug))
             for bug in matrix.bugs]
    return rows


COLORS = {"green": "#1a7f37", "red": "#cf222e", "yellow": "#9a6700"}


def render_html(matrix: Matrix, line: str) -> str:
    head = "".join(f"<th>{escape(s)}</th>" for s in matrix.scenarios)
    body = ""
    for label, texts, status in matrix_rows(matrix):
        cells = "".join(f'<td style="color:{COLORS[_style(t)]}">{escape(t)}</td>' for t in texts)
        body += (f'<tr><th>{escape(label)}</th>{cells}<td style="color:{COLORS[_style(status)]};'
                 f'font-weight:bold">{escape(status)}</td></tr>')
    return ("<!doctype html><html><head><meta charset='utf-8'><title>umchaos selftest</title><style>"
            "body{font:14px system-ui,sans-serif;margin:24px;color:#24292f}table{border-collapse:collapse}"
            "td,th{border:1px solid #d0d7de;padding:6px 10px;text-align:left;font-size:13px}"
            "</style></head><body><h1>Mutation self-test</h1>"
            f"<p><b>{escape(line)}</b></p><table><tr><th>exchange</th>{head}<th>row</th></tr>{body}</table>"
            "<p>A bug switch is <i>killed</i> when a scenario fails with it on by a check expected to catch it (the "
            "failing checks in brackets; <i>wrong_killer</i>: failed only by other checks), on each seed; "
            "the correct exchange must pass every scenario on every seed.</p></body></html>")


def write_matrix(out_dir: Path, matrix: Matrix, line: str) -> tuple[Path, Path]:
    """selftest.json (every cell, machine-readable) and selftest.html beside the cells' run folders."""
    out_dir.mkdir(parents=True, exist_ok=True)
    expected = {r.cell.bug: list(r.cell.expected) for r in matrix.results if r.cell.bug}
    data = {"verdict": line, "scenarios": list(matrix.scenarios), "bugs": list(matrix.bugs),
            "expected_killers": expected,
            "bug_status": {b: matrix.bug_status(b) for b in matrix.bugs},
            "kills": {b: dict(zip(("killed", "cells"), matrix.kills(b), strict=True)) for b in matrix.bugs},
            "false_alarms": [r.cell.key for r in matrix.false_alarms()],
            "cells": [{**asdict(r.cell), "status": r.status, "outcome": r.outcome, "failed_checks": list(r.failed_checks),
                       "run_dir": r.run_dir, "reason": r.reason, "seconds": r.seconds} for r in matrix.results]}
    json_path, html_path = out_dir / "selftest.json", out_dir / "selftest.html"
    json_path.write_text(json.dumps(data, indent=1))
    html_path.write_text(render_html(matrix, line))
    return json_path, html_path


def _style(text: str) -> str:
    """Red for a miss or a false alarm, yellow for undecided, green otherwise."""
    lowered = text.lower()
    if "false alarm" in lowered or lowered.startswith(("survived", "wrong_killer")):
        return "red"
    return "yellow" if "unknown" in lowered else "green"


def print_matrix(matrix: Matrix, line: str) -> None:
    """The matrix on the terminal (rich draws a table; without a terminal it prints plain text)."""
    from rich.console import Console
    from rich.markup import escape as markup_escape
    from rich.table import Table

    table = Table(title="umchaos selftest: bug switch × scenario")
    table.add_column("exchange", style="bold")
    for scenario in matrix.scenarios:
        table.add_column(scenario)
    table.add_column("row", style="bold")
    for label, texts, status in matrix_rows(matrix):
        table.add_row(label, *(f"[{_style(t)}]{markup_escape(t)}[/]" for t in texts), f"[{_style(status)}]{status}[/]")
    console = Console(width=max(120, 24 * (len(matrix.scenarios) + 2)))
    console.print(table)
    console.print(line, markup=False, highlight=False)
