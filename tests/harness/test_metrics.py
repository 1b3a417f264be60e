"""--metrics and --push-gateway: a run's verdict and figures as OpenMetrics text that both the
OpenMetrics parser and Prometheus's own text parser (node-exporter's textfile collector) read,
and the same pushed to a Pushgateway (a real HTTP server on loopback standing in for one)."""

from __future__ import annotations

import copy
import http.server
import json
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)
from prometheus_client.parser import text_string_to_metric_families as prometheus_families

from harness.cli import main
from harness.errors import BadInput
from harness.report.metrics import check_push_gateway, metrics_text, push_metrics, write_metrics

REAL = json.loads((Path(__file__).parent / "data" / "result-margin-latency-halt.json").read_text())


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in openmetrics_families(text) for s in family.samples}


def value(found: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float | None:
    wanted = {"scenario": "margin-latency-halt", "seed": "42", "backend": "local", "bugs": "-", **labels}
    return found.get((name, tuple(sorted(wanted.items()))))


def test_a_real_result_as_metrics_both_parsers_read() -> None:
    run = {**copy.deepcopy(REAL), "figures": {**REAL["figures"], "faults_injected": 1, "faults_healed": 1}}
    text = metrics_text([run]).decode()
    assert text.endswith("# EOF\n")
    found = samples(text)
    assert value(found, "umchaos_run_status", status="pass") == 1 and value(found, "umchaos_run_status", status="fail") == 0
    assert value(found, "umchaos_check_status", check="safe_halt", status="pass") == 1
    assert value(found, "umchaos_check_status", check="safe_halt", status="unknown") == 0
    assert value(found, "umchaos_rto_seconds") == 4.07
    assert value(found, "umchaos_halt_after_breach_seconds") == 0.022
    assert value(found, "umchaos_faults", stage="scheduled") == len(REAL["schedule"])
    assert value(found, "umchaos_faults", stage="healed") == 1
    assert value(found, "umchaos_run_duration_seconds") == pytest.approx(REAL["ended"] - REAL["started"])
    prometheus = {s.name for family in prometheus_families(text) for s in family.samples}
    assert {name for name, _ in found} == prometheus  # the textfile collector's parser reads the same


def test_a_figure_a_run_did_not_measure_is_absent_not_zero() -> None:
    run = copy.deepcopy(REAL)
    del run["figures"]["rto_s"]
    run["checks"] = [c for c in run["checks"] if c["name"] != "recovery"]
    found = samples(metrics_text([run]).decode())
    assert value(found, "umchaos_rto_seconds") is None
    assert value(found, "umchaos_faults", stage="injected") is None  # an older result.json: not counted


def test_runs_of_several_seeds_and_bugs_are_separate_series() -> None:
    other = {**copy.deepcopy(REAL), "seed": 43, "bugs": ["no_halt", "halt_leak"], "status": "fail"}
    found = samples(metrics_text([REAL, other]).decode())
    assert value(found, "umchaos_run_status", seed="43", bugs="no_halt,halt_leak", status="fail") == 1
    assert value(found, "umchaos_run_status", status="pass") == 1


def test_the_file_is_replaced_whole(tmp_path: Path) -> None:
    path = tmp_path / "umchaos.prom"
    path.write_text("old")
    write_metrics(path, [REAL])
    assert path.read_text().startswith("# HELP") and not list(tmp_path.glob("*.tmp"))


class Gateway(http.server.BaseHTTPRequestHandler):
    bodies: list[tuple[str, str, bytes]] = []

    def do_PUT(self) -> None:  # noqa: N802 - the http.server API
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Gateway.bodies.append((self.command, self.path, body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def gateway() -> Iterator[str]:
    Gateway.bodies = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Gateway)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_pushed_to_a_gateway_as_the_umchaos_job(gateway: str) -> None:
    push_metrics(gateway, [REAL])
    [(method, path, body)] = Gateway.bodies
    assert (method, path) == ("PUT", "/metrics/job/umchaos")
    assert any(f.name == "umchaos_run_status" for f in prometheus_families(body.decode()))


@pytest.mark.parametrize("url", ["ftp://127.0.0.1:9091", "127.0.0.1:9091", "http://", "http://h:1/?q=1"])
def test_a_gateway_that_is_no_http_address_is_bad_input(url: str) -> None:
    with pytest.raises(BadInput, match="--push-gateway"):
        check_push_gateway(url)


def test_bad_metrics_options_are_exit_3_before_anything_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scenario = str(Path(__file__).parents[2] / "scenarios" / "margin-latency-halt.yaml")
    state = ["--state-dir", str(tmp_path / "state")]
    assert main([*state, "run", scenario, "--metrics", str(tmp_path), "--report-dir", str(tmp_path / "r")]) == 3
    assert "--metrics" in capsys.readouterr().err
    assert main([*state, "run", scenario, "--push-gateway", "nowhere", "--report-dir", str(tmp_path / "r")]) == 3
    assert "--push-gateway 'nowhere'" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_the_sample_grafana_dashboard_queries_only_metrics_a_run_writes() -> None:
    dashboard = json.loads((Path(__file__).parents[2] / "docs" / "grafana-umchaos.json").read_text())
    written = {f.name for f in openmetrics_families(metrics_text([REAL]).decode())}
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    queried = {name for expr in exprs for name in re.findall(r"\b(umchaos_[a-z_]+)\b", expr)}
    assert len(exprs) == len(dashboard["panels"]) >= 8 and queried and queried <= written, queried - written
