"""report.html: one self-contained page a person can read at a glance.

Verdict first, then the failing evidence with the scenario lines of the faults, then a timeline
(fault and halt bands, margin calls, price shocks) over throughput and latency per second, then
every check, the schedule and the versions. Inline CSS and SVG only; every string that came from
the target or the history is escaped.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from html import escape
from pathlib import Path
from typing import Any

from harness.analysis import halt_intervals
from harness.checks.base import Audit, CheckResult
from harness.history import History, Op
from harness.report.load_charts import LoadChart, run_span, svg_per_kind
from harness.result import RunResult
from harness.scenario.faults import band_colour, is_instant

__all__ = ["write_html", "render_html"]

COLORS = {"pass": "#1a7f37", "fail": "#cf222e", "unknown": "#bf8700", "aborted": "#6e7781", "error": "#6e7781"}
# A risk-level move on the timeline, by the level it entered (NORMAL: back to trading freely).
LEVEL_COLOUR = {"MARGIN_CALL": "#bf8700", "REDUCE_ONLY": "#8250df", "FORCE_LIQUIDATION": "#cf222e", "NORMAL": "#1a7f37"}
W, LEFT, RIGHT = 1120, 70, 20
CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,sans-serif;margin:0;color:#1f2328;background:#f6f8fa}
main{max-width:1160px;margin:0 auto;padding:20px}
header{display:flex;gap:18px;align-items:center;background:#fff;border:1px solid #d0d7de;border-radius:8px;padding:16px 20px}
.badge{font-size:28px;font-weight:700;color:#fff;border-radius:6px;padding:8px 18px;letter-spacing:.04em}
h1{font-size:20px;margin:0} h2{font-size:16px;margin:24px 0 8px}
.meta{color:#57606a} .reason{margin-top:4px;font-weight:600}
section{background:#fff;border:1px solid #d0d7de;border-radius:8px;padding:12px 18px;margin-top:14px}
.check{border-left:5px solid;padding:6px 12px;margin:10px 0;background:#fafbfc}
.check b{font-family:ui-monospace,monospace}
ul.ev{margin:4px 0 0;padding-left:18px;font-family:ui-monospace,monospace;font-size:12.5px}
pre{background:#f6f8fa;border:1px solid #d0d7de;border-radius:6px;padding:8px;font-size:12.5px;overflow:auto}
table{border-collapse:collapse;width:100%;font-size:13px} td,th{border-bottom:1px solid #eaeef2;padding:4px 8px;text-align:left}
.st{font-weight:700;text-transform:uppercase;font-size:12px}
svg text{font:11px system-ui,sans-serif;fill:#24292f}
.legend span{display:inline-block;margin-right:14px;font-size:12px}
.legend i{display:inline-block;width:12px;height:12px;margin-right:4px;vertical-align:-2px;border-radius:2px}
"""


def _rel(t: float | None, t0: float) -> str:
    return "" if t is None else f"t+{t - t0:.3f}s"


def _check_block(check: CheckResult, t0: float) -> str:
    items = "".join(f"<li>{escape(_rel(e.time, t0))} {escape(e.text)}"
                    f"{' · ops ' + escape(','.join(map(str, e.ops[:8]))) if e.ops else ''}"
                    f"{' · records ' + escape(','.join(map(str, e.records[:8]))) if e.records else ''}</li>"
                    for e in check.evidence[:25])
    more = f"<li>… {len(check.evidence) - 25} more in result.json</li>" if len(check.evidence) > 25 else ""
    return (f'<div class="check" style="border-color:{COLORS[check.status]}"><b>{escape(check.name)}</b> '
            f'<span class="st" style="color:{COLORS[check.status]}">{check.status}</span> — {escape(check.summary)}'
            f'<ul class="ev">{items}{more}</ul></div>')


def _timeline(result: RunResult, history: History, audit: Audit, chart: LoadChart) -> str:
    """Fault and halt bands, margin decisions and price shocks over throughput and UM latency."""
    t0, t1, seconds = run_span(result)
    span = W - LEFT - RIGHT

    def x(t: float) -> float:
        return LEFT + span * min(max(t - t0, 0), t1 - t0) / (t1 - t0)

    y, h = 24, 22
    parts, my = _events(history, audit, x, (t0, t1), (y, h))
    load, axis_at = _load_lines(chart, span / seconds, my + 28)
    parts += load
    step = max(1, seconds // 15)
    for s in range(0, seconds + 1, step):
        parts.append(f'<line x1="{x(t0 + s):.1f}" x2="{x(t0 + s):.1f}" y1="{y}" y2="{axis_at - 10}" stroke="#eaeef2"/>'
                     f'<text x="{x(t0 + s) - 6:.1f}" y="{axis_at + 2}">{s}s</text>')
    legend = ('<div class="legend"><span><i style="background:#fd8c73"></i>fault</span>'
              '<span><i style="background:#cf222e"></i>UM halted</span><span><i style="background:#8250df"></i>margin call</span>'
              '<span><i style="background:#000"></i>liquidation</span><span><i style="background:#2da44e"></i>ok</span>'
              '<span><i style="background:#fb8f44"></i>refused (fail)</span><span><i style="background:#8c959f"></i>unknown (info)</span>'
              '<span><i style="background:#0969da"></i>UM p50</span><span><i style="background:#cf222e"></i>UM p99</span></div>')
    return (f'{legend}<svg width="{W}" height="{axis_at + 10}" viewBox="0 0 {W} {axis_at + 10}" role="img" '
            f'aria-label="timeline">{"".join(parts)}</svg>')


def _events(history: History, audit: Audit, x: Callable[[float], float], run: tuple[float, float],
            row: tuple[int, int]) -> tuple[list[str], int]:
    """The events band: faults (two rows), halts, margin decisions, price shocks and drifts; and
    where it ends."""
    (t0, t1), (y, h) = run, row
    parts: list[str] = []
    faults: dict[str, dict[str, Any]] = {}
    for op in history.faults():
        if op.type != "info":
            continue
        entry = faults.setdefault(op.value.get("id", "?"), {"value": op.value})
        entry[op.value.get("action", "")] = op.time
    bands = [(fid, f) for fid, f in sorted(faults.items()) if "inject" in f and not is_instant(f["value"].get("fault"))]
    for n, (fid, f) in enumerate(bands):
        start, end = f["inject"], f.get("heal", f["inject"] + 0.15)
        v = f["value"]
        label = f"{fid} {v.get('fault')} {v.get('target')}"
        yy = y + (n % 2) * (h + 2)
        landed = v.get("landed", True)
        parts.append(f'<rect x="{x(start):.1f}" y="{yy}" width="{max(3, x(end) - x(start)):.1f}" height="{h}" rx="3" '
                     f'fill="{band_colour(v.get("fault")) if landed else "#d0d7de"}" opacity="0.85"><title>{escape(label)}</title></rect>'
                     f'<text x="{x(start) + 4:.1f}" y="{yy + 15}">{escape(label)}{"" if landed else " (did not land)"}</text>')
    hy = y + 2 * (h + 2) + 6
    for hi in halt_intervals(audit) if audit.get("halts") is not None else []:
        end = hi.end if math.isfinite(hi.end) else t1
        parts.append(f'<rect x="{x(hi.start):.1f}" y="{hy}" width="{max(2, x(end) - x(hi.start)):.1f}" height="{h}" '
                     f'fill="#cf222e" opacity="0.75"><title>UM halted {escape(_rel(hi.start, t0))}…{escape(_rel(end, t0))}'
                     f'</title></rect><text x="{x(hi.start) + 4:.1f}" y="{hy + 15}" style="fill:#fff">UM HALTED</text>')
    my = hy + h + 10
    for e in (audit.get("risk_levels") or []) + (audit.get("liquidations") or []):
        cx = x(float(e["time"]))
        color = LEVEL_COLOUR.get(str(e.get("to")), "#000")
        what = f"{e.get('from')} → {e.get('to')}" if e.get("type") == "risk_level" else "liquidated"
        tip = f"{e.get('account')} {what} uniMMR {e.get('unimmr')}"
        parts.append(f'<path d="M{cx:.1f},{my} l5,10 l-10,0 z" fill="{color}"><title>{escape(tip)}</title></path>')
    for op in history.of("price_shock"):
        sx = x(op.time)
        parts.append(f'<line x1="{sx:.1f}" x2="{sx:.1f}" y1="{y - 8}" y2="{my + 250}" stroke="#bf8700" stroke-dasharray="4 3"/>'
                     f'<text x="{sx + 3:.1f}" y="{y - 10}" style="fill:#bf8700">{escape(str(op.value.get("asset")))} '
                     f'{escape(str(op.value.get("move_pct")))}%</text>')
    for start, end in _drifts(history, t1):  # a shaded span, dashed at its start: a market event, not a fault
        sx, v = x(start.time), start.value
        label = f'{v.get("asset")} {v.get("move_pct")}% over {v.get("for_s")} s'
        parts.append(f'<rect x="{sx:.1f}" y="{y - 8}" width="{max(2, x(end) - sx):.1f}" height="{my + 258 - y}" '
                     f'fill="#bf8700" opacity="0.08"><title>drift {escape(label)}</title></rect>'
                     f'<line x1="{sx:.1f}" x2="{sx:.1f}" y1="{y - 8}" y2="{my + 250}" stroke="#bf8700" stroke-dasharray="1 3"/>'
                     f'<text x="{sx + 3:.1f}" y="{y - 10}" style="fill:#bf8700">{escape(label)}</text>')
    return parts, my


def _drifts(history: History, t1: float) -> list[tuple[Op, float]]:
    """Each drift's start op and when it ended (its end op; the chart's end if the run stopped first)."""
    ends = {(op.value.get("asset"), op.value.get("first_step")): op.time
            for op in history.of("price_drift") if op.value.get("phase") == "end"}
    return [(op, ends.get((op.value.get("asset"), op.value.get("first_step")), t1))
            for op in history.of("price_drift") if op.value.get("phase") == "start"]


def _load_lines(chart: LoadChart, bw: float, cy: int) -> tuple[list[str], int]:
    """Throughput (stacked by outcome) and UM latency p50/p99 per second, as the load chart counts
    them; and where the time axis goes."""
    parts: list[str] = []
    ch = 110
    outcomes = chart.outcomes
    seconds = len(next(iter(outcomes.values()), ()))
    top = max(1, max((sum(counts[s] for counts in outcomes.values()) for s in range(seconds)), default=0))
    for s in range(seconds):
        base = float(cy + ch)
        for kind, color in (("ok", "#2da44e"), ("fail", "#fb8f44"), ("info", "#8c959f")):
            if n := outcomes[kind][s]:
                hh = ch * n / top
                base -= hh
                parts.append(f'<rect x="{LEFT + s * bw:.1f}" y="{base:.1f}" width="{max(1, bw - 1):.1f}" height="{hh:.1f}" '
                             f'fill="{color}"><title>{s}s: {n} {kind}</title></rect>')
    parts.append(f'<text x="4" y="{cy + 10}">{top} req/s</text><text x="4" y="{cy + ch}">0</text>'
                 f'<text x="4" y="{cy + ch / 2}">throughput</text>')
    ly, lh = cy + ch + 24, 110
    um = next((k for k in chart.series if k.kind == "um_order"), None)
    lines = {"p99": um.p99 if um else (), "p50": um.p50 if um else ()}
    lat_top = max([v for v in lines["p99"] if v is not None] or [1.0])
    for key, color in (("p99", "#cf222e"), ("p50", "#0969da")):
        pts = [f"{LEFT + (s + 0.5) * bw:.1f},{ly + lh - lh * v / lat_top:.1f}" for s, v in enumerate(lines[key]) if v is not None]
        if pts:
            parts.append(f'<polyline points="{" ".join(pts)}" fill="none" stroke="{color}" stroke-width="1.6"/>')
    parts.append(f'<text x="4" y="{ly + 10}">{lat_top:.0f} ms</text><text x="4" y="{ly + lh}">0</text>'
                 f'<text x="4" y="{ly + lh / 2}">UM latency</text>')
    return parts, ly + lh + 16


def _per_kind(chart: LoadChart) -> str:
    if not chart.series:
        return "<p>No load was recorded.</p>"
    return svg_per_kind(chart.series, chart.bands, chart.seconds)


def render_html(result: RunResult, history: History, audit: Audit, chart: LoadChart) -> str:
    t0 = result.started
    color = COLORS.get(result.status, "#6e7781")
    failing = [c for c in result.checks if c.valid is not True]
    sources = "".join(f"<p>fault <b>{escape(s.fault_id)}</b> — {escape(s.file)}:{s.first_line}-{s.last_line}</p>"
                      f"<pre>{escape(chr(10).join(f'{n:>4}  {line}' for n, line in enumerate(s.text.splitlines(), s.first_line)))}</pre>"
                      for s in result.fault_sources)
    # "held" only when checks ran and all held: an unknown or aborted run that ran none must not read as a pass
    held = "<p>Every check held.</p>" if result.checks else (
        f"<p>No check ran: the run ended {escape(result.status)} before its checks.</p>")
    evidence = ("".join(_check_block(c, t0) for c in failing) + (f"<h2>Faults in play</h2>{sources}" if sources else "")
                if failing else held)
    rows = "".join(f'<tr><td><b>{escape(c.name)}</b></td><td class="st" style="color:{COLORS[c.status]}">{c.status}</td>'
                   f"<td>{escape(c.summary)}</td></tr>" for c in result.checks)
    schedule = "".join(f"<tr><td>{escape(str(f.get('id')))}</td><td>{f.get('at_s')}s</td><td>{escape(str(f.get('duration_s')))}</td>"
                       f"<td>{escape(str(f.get('kind')))}</td><td>{escape(str(f.get('target')))}</td><td>{escape(str(f.get('params')))}</td></tr>"
                       for f in result.schedule)
    versions = ", ".join(f"{escape(k)} {escape(str(v))}" for k, v in sorted(result.versions.items()))
    errors = "".join(f"<li>{escape(str(e))}</li>" for e in audit.get("errors") or [])
    figures = ", ".join(f"{escape(str(k))} {escape(str(v))}" for k, v in result.figures.items())
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>{escape(result.status.upper())} · {escape(result.scenario)} · seed {result.seed}</title><style>{CSS}</style></head>
<body><main>
<header><div class="badge" style="background:{color}">{escape(result.status.upper())}</div>
<div><h1>{escape(result.scenario)}</h1>
<div class="meta">seed {result.seed} · backend {escape(result.backend)} · bugs {escape(', '.join(result.bugs) or 'none')} ·
{result.ended - result.started:.1f} s · run {escape(result.run_id)}</div>
{f'<div class="reason">{escape(result.reason)}</div>' if result.reason else ''}</div></header>
<section><h2>{'What failed' if failing else 'Verdict'}</h2>{evidence}</section>
<section><h2>Timeline</h2>{_timeline(result, history, audit, chart)}</section>
<section><h2>Load per request type</h2>{_per_kind(chart)}
<p class="meta">The same chart as a PNG: report.png beside this file.</p></section>
<section><h2>Checks</h2><table>{rows}</table></section>
<section><h2>Schedule</h2><table><tr><th>id</th><th>at</th><th>for</th><th>fault</th><th>target</th><th>params</th></tr>{schedule}</table>
<p class="meta">{figures}</p></section>
<section><h2>Versions</h2><p class="meta">{versions}</p>{f'<h2>Audit errors</h2><ul>{errors}</ul>' if errors else ''}</section>
</main></body></html>"""


def write_html(path: Path, result: RunResult, history: History, audit: Audit, chart: LoadChart) -> Path:
    path.write_text(render_html(result, history, audit, chart))
    return path
