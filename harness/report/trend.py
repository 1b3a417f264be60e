"""trend.html and trend.json: many run folders' verdicts and headline figures across nights.

A nightly job leaves one run folder per scenario and seed each night; the question the next
morning is "did anything get worse?". The page answers it with a scenario × night grid of
verdicts (each run a link to its report.html) and, per scenario, the figures over the runs with
the runs where one got worse marked.

Only each run's result.json is read (its ``figures`` and its checks' ``figures``), never
history.jsonl: a thousand folders take seconds, not the minutes their histories would.
A folder that is not a run, or whose result.json is damaged, is named and skipped. Pure apart
from ``read_runs`` and ``write_trend``: data in, HTML and JSON out; every string is escaped.
"""

from __future__ import annotations

import bisect
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any
from urllib.parse import quote

from harness.analysis import PHASES
from harness.errors import BadInput
from harness.report.html import COLORS
from harness.report.run_figures import FIGURES, STATUSES, Run, read_run
from harness.untrusted import printable

__all__ = ["Entry", "Trend", "read_runs", "build_trend", "render_trend",
           "trend_dict", "write_trend", "night_of"]

NIGHT_STARTS_UTC_H = 12  # a night runs from noon to noon (UTC): a job started at 23:50 or 00:30 is one night
RISE, MIN_EARLIER = 1.2, 3  # worse: over 120 % of the median of at least 3 earlier runs (and above the floor)
NIGHT_RULE = (f"A night runs from {NIGHT_STARTS_UTC_H}:00 to {NIGHT_STARTS_UTC_H}:00 UTC and is named by the "
              "date it begins on; the runs of one scenario in one night sit side by side in its cell.")
WORSE_RULE = (f"▲ worse: a figure more than {round((RISE - 1) * 100)} % and more than its floor above the median "
              f"of the same scenario's earlier runs (at least {MIN_EARLIER} of them).")


FLOORS = {f.key: f.floor for f in FIGURES}
# the page's charts: (title, unit, figures drawn in it)
CHARTS = (
    ("time to halt after the clients' breach", "s", ("halt_after_breach_s",)),
    ("halt length", "s", ("halt_length_s",)),
    ("RTO", "s", ("rto_s",)),
    ("RTO from a region's loss", "s", ("rto_from_loss_s",)),
    ("p99 per phase", "ms", tuple(f"p99_{p}_ms" for p in PHASES)),
    ("error rate per phase", "", tuple(f"error_rate_{p}" for p in PHASES)),
)
SERIES_COLORS = {"before": "#0969da", "during": "#cf222e", "after": "#1a7f37"}


@dataclass(frozen=True)
class Entry:
    """A run placed in the trend: its night, its link from the page, the figures that got worse."""

    run: Run
    night: str
    href: str
    worse: tuple[str, ...]


@dataclass(frozen=True)
class Trend:
    entries: tuple[Entry, ...]  # by start time
    skipped: tuple[str, ...]  # one line per folder not read

    @property
    def nights(self) -> list[str]:
        return sorted({e.night for e in self.entries})

    @property
    def scenarios(self) -> list[str]:
        return sorted({e.run.scenario for e in self.entries})


def night_of(started: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(started - NIGHT_STARTS_UTC_H * 3600))


# -- reading -------------------------------------------------------------------------------------

def _folders(reports_dir: Path) -> list[Path]:
    """A reports folder's run folders: itself if it is one, else its subfolders."""
    if (reports_dir / "result.json").exists():
        return [reports_dir]
    with os.scandir(reports_dir) as found:
        return sorted(reports_dir / e.name for e in found if e.is_dir())


def read_runs(reports_dirs: Sequence[Path], say: Callable[[str], None]) -> list[Run]:
    """Every run under ``reports_dirs``, by start time; each folder skipped is ``say``-ed in one line.
    A reports folder that does not exist, or holds no run at all, is ``BadInput``."""
    for reports_dir in reports_dirs:
        if not reports_dir.is_dir():
            raise BadInput(f"{reports_dir}: {'not a folder' if reports_dir.exists() else 'no such folder'}")
    runs, seen = [], set()
    for reports_dir in reports_dirs:
        try:
            folders = _folders(reports_dir)
        except OSError as exc:
            raise BadInput(f"{reports_dir}: cannot list: {exc.strerror or exc}") from None
        for folder in folders:
            if (key := os.path.realpath(folder)) in seen:
                continue
            seen.add(key)
            try:
                runs.append(read_run(folder))
            except BadInput as exc:
                say(printable(f"skipped {exc}"))
    if not runs:
        raise BadInput(f"no run folder (with a result.json) in {', '.join(map(str, reports_dirs))}")
    return sorted(runs, key=lambda r: (r.started, str(r.folder)))


# -- the trend -----------------------------------------------------------------------------------

def _worse(runs: Sequence[Run]) -> list[tuple[str, ...]]:
    """Per run (in start order), the figures over ``RISE`` × and over their floor above the median
    of the same scenario's earlier runs."""
    earlier: dict[tuple[str, str], list[float]] = {}
    out = []
    for run in runs:
        worse = []
        for key, value in run.figures.items():
            seen = earlier.setdefault((run.scenario, key), [])
            if len(seen) >= MIN_EARLIER:
                mid = len(seen) // 2
                median = seen[mid] if len(seen) % 2 else (seen[mid - 1] + seen[mid]) / 2
                if value > median * RISE and value - median > FLOORS[key]:
                    worse.append(key)
            bisect.insort(seen, value)
        out.append(tuple(worse))
    return out


def _href(folder: Path, page_dir: Path) -> str:
    """The run's report.html (its result.json if it has none) relative to the page."""
    target = folder / "report.html"
    if not target.is_file():
        target = folder / "result.json"
    return quote(Path(os.path.relpath(os.path.abspath(target), os.path.abspath(page_dir))).as_posix())


def build_trend(runs: Sequence[Run], page_dir: Path, skipped: Sequence[str] = ()) -> Trend:
    """``runs`` (by start time) placed in nights, linked from a page in ``page_dir``."""
    entries = tuple(Entry(run, night_of(run.started), _href(run.folder, page_dir), worse)
                    for run, worse in zip(runs, _worse(runs), strict=True))
    return Trend(entries, tuple(skipped))


def trend_dict(trend: Trend) -> dict[str, Any]:
    """trend.json: the grid, each run's figures and what got worse, and the rules used."""
    grid: dict[str, dict[str, list[str]]] = {}
    for e in trend.entries:
        grid.setdefault(e.run.scenario, {}).setdefault(e.night, []).append(e.run.status)
    return {
        "night": NIGHT_RULE, "worse": WORSE_RULE,
        "figures": {f.key: {"label": f.label, "unit": f.unit, "floor": f.floor} for f in FIGURES},
        "nights": trend.nights, "scenarios": trend.scenarios, "grid": grid,
        "runs": [{"folder": str(e.run.folder), "report": e.href, "scenario": e.run.scenario, "seed": e.run.seed,
                  "status": e.run.status, "bugs": list(e.run.bugs), "started": e.run.started, "night": e.night,
                  "figures": dict(e.run.figures), "worse": list(e.worse)} for e in trend.entries],
        "skipped": list(trend.skipped),
    }


# -- the page ------------------------------------------------------------------------------------

CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,sans-serif;margin:0;color:#1f2328;background:#f6f8fa}
main{max-width:1200px;margin:0 auto;padding:20px}
header,section{background:#fff;border:1px solid #d0d7de;border-radius:8px;padding:12px 18px;margin-top:14px}
h1{font-size:20px;margin:0} h2{font-size:16px;margin:4px 0 8px} .meta{color:#57606a;font-size:13px}
.wrap{overflow-x:auto} table.grid{border-collapse:collapse;font-size:12px}
.grid th,.grid td{border:1px solid #eaeef2;padding:3px 5px;text-align:left;white-space:nowrap}
.grid th.s{font-family:ui-monospace,monospace;font-weight:600}
a.v{display:inline-block;min-width:14px;height:16px;margin:1px;border-radius:3px;color:#fff;font-size:10px;
text-align:center;line-height:16px;text-decoration:none;vertical-align:middle}
.charts{display:flex;flex-wrap:wrap;gap:10px} .chart{border:1px solid #eaeef2;border-radius:6px;padding:4px}
svg text{font:10.5px system-ui,sans-serif;fill:#24292f}
.legend span{display:inline-block;margin-right:12px;font-size:12px}
.legend i{display:inline-block;width:11px;height:11px;margin-right:4px;vertical-align:-1px;border-radius:2px}
"""
CW, CH, CL, CT, CB = 360, 150, 48, 22, 30  # one chart: width, height, left, top and bottom margins


def _tip(e: Entry) -> str:
    bugs = f" · bugs {','.join(e.run.bugs)}" if e.run.bugs else ""
    worse = f" · worse: {', '.join(e.worse)}" if e.worse else ""
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(e.run.started))
    return f"{e.run.scenario} · seed {e.run.seed} · {e.run.status}{bugs} · {when}{worse}"


def _grid(trend: Trend) -> str:
    nights = trend.nights
    cells: dict[tuple[str, str], list[Entry]] = {}
    for e in trend.entries:
        cells.setdefault((e.run.scenario, e.night), []).append(e)
    head = "".join(f'<th title="{n}">{n[5:]}</th>' for n in nights)
    rows = []
    for scenario in trend.scenarios:
        tds = "".join("<td>" + "".join(
            f'<a class="v" href="{escape(e.href)}" style="background:{COLORS.get(e.run.status, "#6e7781")}" '
            f'title="{escape(_tip(e))}">{"▲" if e.worse else ""}</a>' for e in cells.get((scenario, n), [])) + "</td>"
            for n in nights)
        rows.append(f'<tr><th class="s"><a href="#{escape(quote(scenario))}">{escape(scenario)}</a></th>{tds}</tr>')
    legend = "".join(f'<span><i style="background:{COLORS[s]}"></i>{s}</span>' for s in STATUSES[:4])
    return (f'<div class="legend">{legend}<span>▲ a figure got worse</span></div><div class="wrap"><table class="grid">'
            f'<tr><th>scenario \\ night</th>{head}</tr>{"".join(rows)}</table></div>')


def _fmt(value: float, unit: str) -> str:
    if unit == "ms":
        return f"{value:.0f} ms"
    return f"{value:.2f} s" if unit == "s" else f"{value:.3f}"


def _axes(entries: Sequence[Entry], low: float, top: float, unit: str, y: Callable[[float], float]) -> list[str]:
    """The zero line, y labels, and a line and label where each night begins."""
    bottom, n = CH - CB, len(entries)
    parts = [f'<line x1="{CL}" x2="{CW - 6}" y1="{y(0):.1f}" y2="{y(0):.1f}" stroke="#8c959f"/>',
             f'<text x="2" y="{CT + 4}">{escape(_fmt(top, unit))}</text>'
             f'<text x="2" y="{bottom}">{escape(_fmt(low, unit)) if low else 0}</text>']
    labels, last_x = 0, -1e9
    for i, e in enumerate(entries):
        if i and e.night == entries[i - 1].night:
            continue
        x = CL + i * (CW - CL - 6) / n
        parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{CT}" y2="{bottom + 4}" stroke="#d0d7de"/>')
        if x - last_x >= 38 and labels < 40:  # labels that would overlap are left out
            parts.append(f'<text x="{x + 2:.1f}" y="{bottom + 14}">{e.night[5:]}</text>')
            labels, last_x = labels + 1, x
    return parts


def _series(entries: Sequence[Entry], key: str, colour: str, y: Callable[[float], float]) -> list[str]:
    """One figure over the runs: a line broken where it was not measured, a dot per run, ▲ if worse."""
    step = (CW - CL - 6) / len(entries)
    parts: list[str] = []
    line: list[str | None] = []
    for i, e in enumerate(entries):
        value = e.run.figures.get(key)
        if value is None:
            line.append(None)
            continue
        x, yy = CL + (i + 0.5) * step, y(value)
        line.append(f"{x:.1f},{yy:.1f}")
        tip = escape(f"{_tip(e)} · {key} {value:g}")
        parts.append(f'<circle cx="{x:.1f}" cy="{yy:.1f}" r="2.6" fill="{colour}"><title>{tip}</title></circle>')
        if key in e.worse:
            parts.append(f'<path d="M{x:.1f},{yy - 12:.1f} l5,8 l-10,0 z" fill="#1f2328"><title>worse: {tip}</title></path>')
    runs: list[list[str]] = [[]]
    for point in line:
        if point is None:
            runs.append([])
        else:
            runs[-1].append(point)
    lines = [f'<polyline points="{" ".join(r)}" fill="none" stroke="{colour}" stroke-width="1.4"/>' for r in runs if len(r) > 1]
    return lines + parts


def _chart(entries: Sequence[Entry], title: str, unit: str, keys: Sequence[str]) -> str:
    values = [v for e in entries for k in keys if (v := e.run.figures.get(k)) is not None]
    phases = [k.split("_")[-2] if unit == "ms" else k.rsplit("_", 1)[-1] for k in keys] if len(keys) > 1 else []
    legend = "".join(f'<tspan fill="{SERIES_COLORS[p]}"> ■ {p}</tspan>' for p in phases)
    head = f'<text x="{CL}" y="13" style="font-weight:600">{escape(title)}</text><text x="{CW - 6}" y="13" ' \
           f'text-anchor="end">{legend}</text>'
    if not values:
        return ""
    # from zero (or below it: the halt can come before the clients' first breach) to the largest
    low, top = min(0.0, min(values) * 1.1), max(0.0, max(values) * 1.1)
    top = top if top > low else low + 1.0
    bottom = CH - CB

    def y(v: float) -> float:
        return bottom - (bottom - CT) * (v - low) / (top - low)

    parts = _axes(entries, low, top, unit, y)
    for key, phase in zip(keys, phases or [""], strict=False):
        parts += _series(entries, key, SERIES_COLORS.get(phase, "#24292f"), y)
    return f'<svg class="chart" width="{CW}" height="{CH}" role="img" aria-label="{escape(title)}">{head}{"".join(parts)}</svg>'


def _scenario(trend: Trend, scenario: str) -> str:
    entries = [e for e in trend.entries if e.run.scenario == scenario]
    counts = " · ".join(f"{n} {s}" for s in STATUSES if (n := sum(e.run.status == s for e in entries)))
    worse = sum(bool(e.worse) for e in entries)
    charts = {title: _chart(entries, title, unit, keys) for title, unit, keys in CHARTS}
    absent = [title for title, svg in charts.items() if not svg]
    note = f"; not measured: {', '.join(absent)}" if absent else ""
    return (f'<section id="{escape(quote(scenario))}"><h2>{escape(scenario)}</h2><p class="meta">{len(entries)} run(s) '
            f'over {len({e.night for e in entries})} night(s): {counts}; {worse} run(s) with a figure worse'
            f'{escape(note)}</p><div class="charts">{"".join(charts.values())}</div></section>')


def render_trend(trend: Trend) -> str:
    nights, n = trend.nights, len(trend.entries)
    counts = " · ".join(f"{k} {s}" for s in STATUSES if (k := sum(e.run.status == s for e in trend.entries)))
    skipped = "".join(f"<li>{escape(line)}</li>" for line in trend.skipped[:50])
    more = f"<li>… {len(trend.skipped) - 50} more in trend.json</li>" if len(trend.skipped) > 50 else ""
    notes = (f"{NIGHT_RULE} {WORSE_RULE} Floors: " + ", ".join(f"{f.label} {_fmt(f.floor, f.unit)}" for f in FIGURES[:4])
             + ", error rate 0.010. Halt length: each halting fault's scheduled duration − its time to halt + the "
             "RTO (result.json has no halt times of its own). p99 and error rate per phase come from the "
             "steady_state check; a scenario without it has none. Hover a square or a dot for the run.")
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Trend · {n} runs · {len(nights)} nights</title><style>{CSS}</style></head><body><main>
<header><h1>Resilience over {len(nights)} night(s): {n} run(s) of {len(trend.scenarios)} scenario(s)</h1>
<div class="meta">{escape(nights[0] if nights else '')} … {escape(nights[-1] if nights else '')} · {counts}
{f' · {len(trend.skipped)} folder(s) skipped' if trend.skipped else ''}</div></header>
<section><h2>Verdicts</h2>{_grid(trend)}<p class="meta">{escape(notes)}</p></section>
{"".join(_scenario(trend, s) for s in trend.scenarios)}
{f'<section><h2>Skipped</h2><ul class="meta">{skipped}{more}</ul></section>' if skipped else ''}
</main></body></html>"""


def write_trend(page: Path, trend: Trend) -> Path:
    """The page and its JSON (same name, .json) and nothing else, in the page's folder."""
    page.parent.mkdir(parents=True, exist_ok=True)
    page.write_text(render_trend(trend))
    data = page.with_suffix(".json")
    data.write_text(json.dumps(trend_dict(trend), indent=1) + "\n")
    return data
