"""The run folder's reports: result.json, junit.xml, history.jsonl, audit.json, report.html."""

from __future__ import annotations

from pathlib import Path

from harness.audit import encode_json
from harness.checks.base import Audit
from harness.errors import Undecided
from harness.history import History
from harness.report.html import write_html
from harness.report.json_report import write_result_json
from harness.report.junit import write_junit
from harness.report.load_charts import load_chart, write_png
from harness.result import RunResult

__all__ = ["write_reports"]


def write_reports(run_dir: Path, result: RunResult, history: History, audit: Audit) -> Path:
    """Write every report; one that fails (disk full) does not stop the others. Returns report.html."""
    run_dir.mkdir(parents=True, exist_ok=True)
    chart = load_chart(result, history, audit)  # drawn twice: in report.html and as report.png
    writers = {
        "history.jsonl": lambda: history.write(run_dir / "history.jsonl"),
        "audit.json": lambda: (run_dir / "audit.json").write_bytes(encode_json(audit)),
        "result.json": lambda: write_result_json(run_dir, result),
        "junit.xml": lambda: write_junit(run_dir / "junit.xml", [result]),
        "report.html": lambda: write_html(run_dir / "report.html", result, history, audit, chart),
        "report.png": lambda: write_png(run_dir / "report.png", chart.series, chart.bands, chart.seconds, chart.title),
    }
    failed = []
    for name, write in writers.items():
        try:
            write()
        except OSError as exc:
            failed.append(f"{name}: {exc.strerror or exc}")
    if failed:
        raise Undecided(f"could not write report(s) in {run_dir}: {'; '.join(failed)}")
    return run_dir / "report.html"
