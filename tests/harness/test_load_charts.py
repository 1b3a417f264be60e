"""Per-request-type series and bands behind report.html's load chart and report.png."""

from __future__ import annotations

from pathlib import Path

from harness.report.load_charts import bands, load_series, svg_per_kind, write_png
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
    series = {s.kind: s for s in load_series(_history().build(), T0, 3)}
    assert set(series) == {"um_order", "spot_order"}
    um = series["um_order"]
    assert um.rate == (10, 0, 0) and um.p50 == (5.0, None, None) and um.p99 == (10.0, None, None)
    assert series["spot_order"].rate == (0, 4, 0)


def test_bands_hold_faults_and_halts_relative_to_t0() -> None:
    found = bands(_history().build(), audit(halts=[halt(1.2), halt(1.8, "resume")]), T0, T0 + 3)
    assert [(round(b.start, 3), round(b.end, 3), b.halt) for b in found] == [(1.001, 2.001, False), (1.2, 1.8, True)]


def test_svg_and_png_are_written(tmp_path: Path) -> None:
    h = _history().build()
    series = load_series(h, T0, 3)
    svg = svg_per_kind(series, bands(h, audit(), T0, T0 + 3), 3)
    assert svg.count("<polyline") == 4 and "um_order" in svg and "spot_order" in svg and "<script" not in svg
    png = write_png(tmp_path / "report.png", series, bands(h, audit(), T0, T0 + 3), 3, "t")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
