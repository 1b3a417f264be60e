"""Throughput and latency percentiles over time per request type, with fault and halt bands:
inline SVG for report.html and a PNG (matplotlib, Agg) beside it for terminals and CI artifacts."""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import BinaryIO, TypeVar

from harness.analysis import KindSeries, halt_intervals, per_second
from harness.checks.base import Audit
from harness.history import History
from harness.result import RunResult
from harness.scenario.faults import is_instant

__all__ = ["Band", "LoadChart", "span", "run_span", "load_chart", "chart_end", "chart_title",
           "bands", "svg_per_kind", "warm_png", "write_png"]

PngOut = TypeVar("PngOut", Path, BinaryIO)


@dataclass(frozen=True)
class Band:
    start: float  # seconds from t0
    end: float
    label: str
    halt: bool


@dataclass(frozen=True)
class LoadChart:
    """One run's per-request-type chart, computed once for report.html and report.png."""

    series: tuple[KindSeries, ...]  # per request kind: completions per second, p50, p99
    outcomes: Mapping[str, tuple[int, ...]]  # completions per second by outcome (ok, fail, info)
    bands: list[Band]
    seconds: int
    title: str


def span(started: float, ended: float) -> tuple[float, float, int]:
    """Start and end of a run (at least a second apart) and its length in whole seconds."""
    t0, t1 = started, max(ended, started + 1)
    return t0, t1, max(1, math.ceil(t1 - t0))


def run_span(result: RunResult) -> tuple[float, float, int]:
    return span(result.started, result.ended)


def load_chart(history: History, audit: Audit, *, started: float, ended: float, title: str) -> LoadChart:
    t0, t1, seconds = span(started, ended)
    load = per_second(history, t0, seconds)
    return LoadChart(load.kinds, load.outcomes, bands(history, audit, t0, t1), seconds, title)


def chart_end(result: RunResult) -> float:
    """The load chart runs until teardown began (nothing is charted after; a run without one: its end)."""
    return next((float(p["start"]) for p in result.phases if p["phase"] == "teardown"), result.ended)


def chart_title(status: str, scenario: str, seed: int) -> str:
    return f"{status.upper()} {scenario} seed {seed}"


def bands(history: History, audit: Audit, t0: float, t1: float) -> list[Band]:
    """Fault windows (inject..heal) and UM halts, in seconds from t0."""
    out: list[Band] = []
    open_at: dict[str, tuple[float, str]] = {}
    for op in history.faults():
        if op.type != "info" or is_instant(op.value.get("fault")):
            continue
        fid = str(op.value.get("id"))
        if op.value.get("action") == "inject":
            open_at[fid] = (op.time, f"{fid} {op.value.get('fault')} {op.value.get('target')}")
        elif op.value.get("action") == "heal" and fid in open_at:
            start, label = open_at.pop(fid)
            out.append(Band(start - t0, op.time - t0, label, False))
    out += [Band(start - t0, t1 - t0, label, False) for start, label in open_at.values()]
    if audit.get("halts") is not None:
        out += [Band(h.start - t0, (h.end if math.isfinite(h.end) else t1) - t0, "UM halted", True)
                for h in halt_intervals(audit)]
    return out


def svg_per_kind(series: Sequence[KindSeries], band_list: Sequence[Band], seconds: int, *, width: int = 980) -> str:
    """Small multiples: one row per request type, req/s bars and p50/p99 lines over the bands."""
    left, right, row_h, gap = 110, 60, 90, 18
    span = width - left - right
    bw = span / max(1, seconds)
    parts: list[str] = []
    height = len(series) * (row_h + gap) + 20
    for b in band_list:
        x0 = left + span * max(0.0, b.start) / max(1, seconds)
        x1 = left + span * min(float(seconds), b.end) / max(1, seconds)
        color, opacity = ("#cf222e", 0.12) if b.halt else ("#fd8c73", 0.18)
        parts.append(f'<rect x="{x0:.1f}" y="0" width="{max(2.0, x1 - x0):.1f}" height="{height - 20}" fill="{color}" '
                     f'opacity="{opacity}"><title>{escape(b.label)}</title></rect>')
    for row, s in enumerate(series):
        top = row * (row_h + gap)
        peak = max(1, max(s.rate))
        lat_peak = max([v for v in s.p99 if v is not None] or [1.0])
        for i, n in enumerate(s.rate):
            if n:
                h = row_h * n / peak
                parts.append(f'<rect x="{left + i * bw:.1f}" y="{top + row_h - h:.1f}" width="{max(1.0, bw - 1):.1f}" '
                             f'height="{h:.1f}" fill="#8c959f" opacity="0.55"><title>{i}s: {n} req/s</title></rect>')
        for values, color in ((s.p99, "#cf222e"), (s.p50, "#0969da")):
            pts = [f"{left + (i + 0.5) * bw:.1f},{top + row_h - row_h * v / lat_peak:.1f}"
                   for i, v in enumerate(values) if v is not None]
            if pts:
                parts.append(f'<polyline points="{" ".join(pts)}" fill="none" stroke="{color}" stroke-width="1.4"/>')
        parts.append(f'<text x="4" y="{top + 14}"><tspan font-weight="600">{escape(s.kind)}</tspan></text>'
                     f'<text x="4" y="{top + 30}">{peak} req/s max</text>'
                     f'<text x="{left + span + 4}" y="{top + 12}">{lat_peak:.0f} ms</text>'
                     f'<text x="{left + span + 4}" y="{top + row_h}">0</text>'
                     f'<line x1="{left}" x2="{left + span}" y1="{top + row_h}" y2="{top + row_h}" stroke="#d0d7de"/>')
    step = max(1, seconds // 15)
    for i in range(0, seconds + 1, step):
        parts.append(f'<text x="{left + i * bw - 6:.1f}" y="{height - 4}">{i}s</text>')
    legend = ('<div class="legend"><span><i style="background:#8c959f"></i>completions/s</span>'
              '<span><i style="background:#0969da"></i>p50</span><span><i style="background:#cf222e"></i>p99</span>'
              '<span><i style="background:#fd8c73"></i>fault</span><span><i style="background:#f3b5b8"></i>UM halted</span></div>')
    return (f'{legend}<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
            f'aria-label="load per request type">{"".join(parts)}</svg>')


def warm_png() -> None:
    """Draw a small chart nowhere: matplotlib's first drawing in a process loads fonts and fills
    caches (a third again of a drawing's time), best done while a run waits out its faults."""
    write_png(io.BytesIO(), [KindSeries("um_order", (1, 2), (1.0, 2.0), (2.0, 3.0))], [Band(0.2, 1.0, "f", False)], 2,
              "warm-up")


def write_png(path: PngOut, series: Sequence[KindSeries], band_list: Sequence[Band], seconds: int, title: str) -> PngOut:
    """The same small multiples as a PNG (matplotlib's Figure alone: no pyplot, no display)."""
    from matplotlib.figure import Figure

    rows = max(1, len(series))
    height = 1.9 * rows + 0.8
    fig = Figure(figsize=(11, height))
    axes = fig.subplots(rows, 1, sharex=True, squeeze=False)
    xs = [i + 0.5 for i in range(seconds)]
    for ax, s in zip(axes[:, 0], series, strict=False):
        for b in band_list:
            ax.axvspan(max(0.0, b.start), min(float(seconds), b.end), color="#cf222e" if b.halt else "#fd8c73",
                       alpha=0.15 if b.halt else 0.25, lw=0)
        # one filled step patch, not a bar per second: an hour's run is 3,600 bars (3 x slower at 300 s)
        ax.stairs(s.rate, range(seconds + 1), fill=True, color="#8c959f", alpha=0.6, label="req/s")
        ax.set_ylabel(f"{s.kind}\nreq/s", fontsize=8)
        lat = ax.twinx()
        for values, color, name in ((s.p50, "#0969da", "p50"), (s.p99, "#cf222e", "p99")):
            pts = [(x, v) for x, v in zip(xs, values, strict=True) if v is not None]
            if pts:
                lat.plot([p[0] for p in pts], [p[1] for p in pts], color=color, lw=1.2, label=name)
        lat.set_ylabel("ms", fontsize=8)
        if ax is axes[0, 0]:
            lat.legend(loc="upper right", fontsize=7)
            ax.legend(loc="upper left", fontsize=7)
    axes[0, 0].set_title(title, fontsize=10, y=1.0)  # y given: no measuring of the axes to place it
    axes[-1, 0].set_xlabel("seconds since the run started")
    # fixed margins in inches: tight_layout would measure every label again (a third of the time)
    fig.subplots_adjust(left=0.07, right=0.93, top=1 - 0.4 / height, bottom=0.5 / height, hspace=0.25)
    fig.savefig(path, dpi=90, format="png")  # the format by name: the caller may write to a temporary file
    return path
