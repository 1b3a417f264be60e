"""The run folder's reports: result.json, junit.xml, history.jsonl, audit.json, report.html."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from harness.audit import encode_json
from harness.checks.base import Audit
from harness.errors import Undecided
from harness.history import History
from harness.report.html import write_html
from harness.report.json_report import write_result_json
from harness.report.junit import write_junit
from harness.report.load_charts import LoadChart, chart_end, chart_title, load_chart, write_png
from harness.result import RunResult

__all__ = ["write_reports", "PngAhead"]


class PngAhead:
    """report.png drawn on a side thread while teardown runs (the drawing is the largest part of
    a run's end). It is kept only if the final chart is the one drawn: teardown rarely changes a
    verdict or records a fault; when it does, the PNG is drawn again."""

    def __init__(self, run_dir: Path, make_chart: Callable[[], LoadChart]) -> None:
        self.part = run_dir / "report.png.part"
        self.chart: LoadChart | None = None
        self.drawn = False
        self.thread = threading.Thread(target=self._draw, args=(make_chart,), name="report-png", daemon=True)
        self.thread.start()

    def _draw(self, make_chart: Callable[[], LoadChart]) -> None:
        try:
            chart = self.chart = make_chart()
            write_png(self.part, chart.series, chart.bands, chart.seconds, chart.title)
            self.drawn = True
        except Exception:  # noqa: BLE001 - drawn again on the main thread, where an error is reported
            self.part.unlink(missing_ok=True)

    def write(self, path: Path, chart: LoadChart) -> None:
        """Keep the drawing if it is of ``chart``, else draw ``chart``; the temporary file never stays."""
        self.thread.join()
        kept, self.drawn = self.drawn and chart == self.chart, False  # used once: a retry draws afresh
        try:
            if kept:
                self.part.replace(path)
                return
        finally:
            self.part.unlink(missing_ok=True)
        write_png(path, chart.series, chart.bands, chart.seconds, chart.title)


def write_reports(run_dir: Path, result: RunResult, history: History, audit: Audit,
                  png_ahead: PngAhead | None = None) -> Path:
    """Write every report; one that fails (disk full) does not stop the others. Returns report.html."""
    run_dir.mkdir(parents=True, exist_ok=True)
    # drawn twice: in report.html and as report.png
    chart = load_chart(history, audit, started=result.started, ended=chart_end(result),
                       title=chart_title(result.status, result.scenario, result.seed))
    png = run_dir / "report.png"
    writers = {
        "history.jsonl": lambda: history.write(run_dir / "history.jsonl"),
        "audit.json": lambda: (run_dir / "audit.json").write_bytes(encode_json(audit)),
        "result.json": lambda: write_result_json(run_dir, result),
        "junit.xml": lambda: write_junit(run_dir / "junit.xml", [result]),
        "report.html": lambda: write_html(run_dir / "report.html", result, history, audit, chart),
        "report.png": lambda: (png_ahead.write(png, chart) if png_ahead is not None
                               else write_png(png, chart.series, chart.bands, chart.seconds, chart.title)),
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
