"""Per-request-type series and bands behind report.html's load chart and report.png."""

from __future__ import annotations

from pathlib import Path

from harness.analysis import per_second
from harness.report import PngAhead
from harness.report.load_charts import (
    LoadChart,
    bands,
    load_chart,
    svg_per_kind,
    write_png,
)
from tests.harness.factories import T0, HistoryBuilder, audit, halt


def _history() -> HistoryBuilder:
    h = HistoryBuilder()
    for i in range(10):
        h.request("um_order", 0.05 + i * 0.09, "ok", f"o{i}", latency_ms=float(i + 1))  # second 0: 10 orders
    for i in range(4):
        h.request("spot_order", 1.1 + i * 0.1, "ok", f"s{i}", latency_ms=3.0)  # second 1: 4 spot orders
    h.request("um_order", 1.5, "ok", "probe-order", process="probe", latency_ms=900.0)  # probes are not load
    h.fault("f1", 1.0, 2.0)
    return h


def test_series_per_kind_counts_and_percentiles() -> None:
    load = per_second(_history().build(), T0, 3)
    series = {s.kind: s for s in load.kinds}
    assert load.outcomes == {"ok": (10, 4, 0), "fail": (0, 0, 0), "info": (0, 0, 0)}  # the probe is not load
    assert set(series) == {"um_order", "spot_order"}
    um = series["um_order"]
    assert um.rate == (10, 0, 0) and um.p50 == (5.0, None, None) and um.p99 == (10.0, None, None)
    assert series["spot_order"].rate == (0, 4, 0)


def test_bands_hold_faults_and_halts_relative_to_t0() -> None:
    found = bands(_history().build(), audit(halts=[halt(1.2), halt(1.8, "resume")]), T0, T0 + 3)
    assert [(round(b.start, 3), round(b.end, 3), b.halt) for b in found] == [(1.001, 2.001, False), (1.2, 1.8, True)]


def test_svg_and_png_are_written(tmp_path: Path) -> None:
    h = _history().build()
    series = per_second(h, T0, 3).kinds
    svg = svg_per_kind(series, bands(h, audit(), T0, T0 + 3), 3)
    assert svg.count("<polyline") == 4 and "um_order" in svg and "spot_order" in svg and "<script" not in svg
    png = write_png(tmp_path / "report.png", series, bands(h, audit(), T0, T0 + 3), 3, "t")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000


def _chart(title: str) -> LoadChart:
    h = _history().build()
    return load_chart(h, audit(), started=T0, ended=T0 + 2.5, title=title)


def test_a_png_drawn_ahead_is_kept_when_the_final_chart_is_the_same(tmp_path: Path) -> None:
    ahead = PngAhead(tmp_path, lambda: _chart("PASS s seed 1"))
    ahead.thread.join()
    ahead.part.write_bytes(b"drawn ahead")  # mark the drawing, to see which file lands
    ahead.write(tmp_path / "report.png", _chart("PASS s seed 1"))
    assert (tmp_path / "report.png").read_bytes() == b"drawn ahead"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.png"]


def test_a_png_drawn_ahead_is_drawn_again_when_teardown_changed_the_verdict(tmp_path: Path) -> None:
    ahead = PngAhead(tmp_path, lambda: _chart("PASS s seed 1"))
    ahead.thread.join()
    ahead.part.write_bytes(b"drawn ahead")
    ahead.write(tmp_path / "report.png", _chart("UNKNOWN s seed 1"))
    png = (tmp_path / "report.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and sorted(p.name for p in tmp_path.iterdir()) == ["report.png"]
    ahead.write(tmp_path / "again.png", _chart("PASS s seed 1"))  # a retry draws afresh: nothing left to keep
    assert (tmp_path / "again.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_png_that_failed_ahead_is_drawn_at_the_end(tmp_path: Path) -> None:
    def broken() -> LoadChart:
        raise ValueError("no chart")

    ahead = PngAhead(tmp_path, broken)
    ahead.write(tmp_path / "report.png", _chart("PASS s seed 1"))
    assert (tmp_path / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not ahead.part.exists()
