"""A run's verdict and figures as metrics, for the dashboards an exchange already has: OpenMetrics
text (prometheus-client) in a file, for node-exporter's textfile collector, or pushed to a
Pushgateway.

Only gauges, so that the same text also reads as Prometheus's own format (what the textfile
collector parses). One series per run, labelled ``scenario``, ``seed``, ``backend`` and ``bugs``
(comma-separated, ``-`` for none); the figures are those the trend reads (``run_figures``), so a
dashboard and the trend page say the same of a run. A figure a run did not measure is absent,
never 0.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from prometheus_client import CollectorRegistry, Gauge
from prometheus_client.exposition import push_to_gateway
from prometheus_client.openmetrics.exposition import generate_latest

from harness.analysis import PHASES
from harness.errors import BadInput
from harness.report.run_figures import STATUSES, run_of
from harness.untrusted import printable

__all__ = ["metrics_registry", "metrics_text", "write_metrics", "push_metrics", "check_push_gateway"]

LABELS = ("scenario", "seed", "backend", "bugs")
CHECK_STATUSES = ("pass", "fail", "unknown")
JOB = "umchaos"
PUSH_TIMEOUT_S = 10.0
# a figure of run_figures -> (metric name, help, its scale to the metric's unit, extra labels)
SECONDS = {"halt_after_breach_s": ("umchaos_halt_after_breach_seconds", "time from the clients' breach to UM halted"),
           "halt_length_s": ("umchaos_halt_length_seconds", "how long UM stayed halted (estimate)"),
           "rto_s": ("umchaos_rto_seconds", "time from the last heal until trading again within the SLO"),
           "rto_from_loss_s": ("umchaos_rto_from_loss_seconds",
                               "time from a region's loss until trading again, the region still down or not")}


def _labels(data: Mapping[str, Any]) -> dict[str, str]:
    return {"scenario": str(data.get("scenario")), "seed": str(data.get("seed")), "backend": str(data.get("backend")),
            "bugs": ",".join(data.get("bugs") or []) or "-"}


def metrics_registry(results: Sequence[Mapping[str, Any]]) -> CollectorRegistry:
    """The metrics of ``results`` (result.json data, one per run)."""
    registry = CollectorRegistry()

    def gauge(name: str, doc: str, *extra: str) -> Gauge:
        return Gauge(name, doc, (*LABELS, *extra), registry=registry)

    status = gauge("umchaos_run_status", "1 for the run's verdict, 0 for the others", "status")
    checks = gauge("umchaos_check_status", "1 for the check's verdict, 0 for the others", "check", "status")
    started = gauge("umchaos_run_started_timestamp_seconds", "when the run started (Unix time)")
    duration = gauge("umchaos_run_duration_seconds", "how long the run took, start to verdict")
    faults = gauge("umchaos_faults", "faults of the run: scheduled, injected (landed), healed (an event such as a price shock has no heal)", "stage")
    seconds = {key: gauge(name, doc) for key, (name, doc) in SECONDS.items()}
    p99 = gauge("umchaos_p99_seconds", "p99 latency of the clients' requests in a phase (steady_state)", "phase")
    errors = gauge("umchaos_error_ratio", "share of the clients' requests that failed in a phase (steady_state)", "phase")
    for data in results:
        labels = _labels(data)
        run = run_of(Path("."), data, f"result of {labels['scenario']} seed {labels['seed']}")
        for s in STATUSES:
            status.labels(**labels, status=s).set(float(run.status == s))
        for check in data.get("checks") or []:
            for s in CHECK_STATUSES:
                checks.labels(**labels, check=str(check.get("name")), status=s).set(float(check.get("status") == s))
        started.labels(**labels).set(run.started)
        duration.labels(**labels).set(max(0.0, float(data.get("ended") or run.started) - run.started))
        figures = data.get("figures") or {}
        faults.labels(**labels, stage="scheduled").set(len(data.get("schedule") or []))
        for stage in ("injected", "healed"):
            if isinstance(figures.get(f"faults_{stage}"), int):
                faults.labels(**labels, stage=stage).set(figures[f"faults_{stage}"])
        for key, metric in seconds.items():
            if key in run.figures:
                metric.labels(**labels).set(run.figures[key])
        for phase in PHASES:
            if f"p99_{phase}_ms" in run.figures:
                p99.labels(**labels, phase=phase).set(run.figures[f"p99_{phase}_ms"] / 1000)
            if f"error_rate_{phase}" in run.figures:
                errors.labels(**labels, phase=phase).set(run.figures[f"error_rate_{phase}"])
    return registry


def metrics_text(results: Sequence[Mapping[str, Any]]) -> bytes:
    return generate_latest(metrics_registry(results))


def write_metrics(path: Path, results: Sequence[Mapping[str, Any]]) -> Path:
    """Written whole, then renamed: a textfile collector never reads half a file."""
    partial = path.with_name(path.name + ".tmp")
    partial.write_bytes(metrics_text(results))
    partial.replace(path)
    return path


def check_push_gateway(url: str) -> str:
    """``url`` if it is an http(s) address with a host; else BadInput (before anything runs)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise BadInput(f"--push-gateway {printable(url)!r}: not an http(s)://host[:port][/path] address")
    return url


def push_metrics(url: str, results: Sequence[Mapping[str, Any]]) -> None:
    """Replace the ``umchaos`` job's group at the Pushgateway with these runs' metrics."""
    push_to_gateway(url, job=JOB, registry=metrics_registry(results), timeout=PUSH_TIMEOUT_S)
