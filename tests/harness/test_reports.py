"""Reports from a synthetic run: result.json, junit.xml, report.html (escaped), summary line."""

from __future__ import annotations

import dataclasses
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness.checks.base import CheckResult, Evidence
from harness.errors import HarnessError
from harness.report import write_reports
from harness.report.summary import summary_line
from harness.result import FaultSource, RunResult
from tests.harness.factories import T0, HistoryBuilder, audit, halt

HOSTILE = "<script>alert(1)</script>"


def make_result() -> RunResult:
    checks = (
        CheckResult("safe_halt", True, "halted in time"),
        CheckResult("resting_orders_preserved", False, f"order {HOSTILE} cancelled during a halt",
                    (Evidence(f"resting order {HOSTILE} cancelled", T0 + 6.0, (3,), (12,)),), {"halts": 1}),
        CheckResult("segregation", "unknown", "audit lacks balances"),
    )
    return RunResult(run_id="uc1", scenario="margin-latency-halt", scenario_file="scenarios/x.yaml", scenario_hash="ab" * 32,
                     seed=42, backend="local", bugs=("halt_cancels_orders",), status="fail", exit_code=1, started=T0,
                     ended=T0 + 20, checks=checks,
                     schedule=({"id": "f1", "kind": "latency", "at_s": 5.0, "duration_s": 10.0,
                                "target": {"link": "matching->margin"}, "params": {"latency_ms": 800}},),
                     fault_sources=(FaultSource("f1", "scenarios/x.yaml", 14, 18, "  - at: 5s\n    fault: latency"),),
                     reason="violated: resting_orders_preserved", versions={"umchaos": "0.1.0"}, figures={"ops": 8})


def make_history():
    h = HistoryBuilder()
    h.fault("f1", 5.0, 15.0)
    h.request("um_order", 1.0, "ok", "c1")
    h.request("um_order", 6.0, "fail", "c2", status=503, error="UM_HALTED")
    h.request("spot_order", 7.0, "info", "c3", status=None, error=HOSTILE)
    return h.build()


def test_every_report_is_written_and_readable(tmp_path: Path) -> None:
    result = make_result()
    a = audit(halts=[halt(5.3), halt(18.0, "resume")], errors=[f"garbage {HOSTILE}"],
              risk_levels=[{"type": "risk_level", "time": T0 + 8, "account": HOSTILE, "from": "NORMAL", "to": "REDUCE_ONLY",
                            "unimmr": "1.1"}])
    html = write_reports(tmp_path, result, make_history(), a)
    assert {p.name for p in tmp_path.iterdir()} >= {"result.json", "junit.xml", "history.jsonl", "audit.json", "report.html"}
    saved = json.loads((tmp_path / "result.json").read_text())
    assert saved["seed"] == 42 and [c["status"] for c in saved["checks"]] == ["pass", "fail", "unknown"]
    assert len((tmp_path / "history.jsonl").read_text().splitlines()) == len(make_history())

    suite = ET.parse(tmp_path / "junit.xml").getroot().find("testsuite")
    assert suite is not None and suite.get("failures") == "1" and suite.get("errors") == "1"
    props = {p.get("name"): p.get("value") for p in suite.find("properties")}
    assert props["seed"] == "42" and props["bugs"] == "halt_cancels_orders" and props["version.umchaos"] == "0.1.0"
    cases = {c.get("name"): c for c in suite.findall("testcase")}
    assert cases["resting_orders_preserved"].find("failure") is not None
    assert cases["segregation"].find("error") is not None
    assert cases["safe_halt"].find("failure") is None and cases["safe_halt"].find("error") is None

    page = html.read_text()
    assert HOSTILE not in page and "&lt;script&gt;" in page
    assert page.index("What failed") < page.index("Timeline") < page.index("<h2>Checks")
    assert "f1 latency matching-&gt;margin" in page and "UM HALTED" in page
    assert "14  " in page and "fault: latency" in page  # the YAML lines of the fault


def test_a_price_drift_is_drawn_as_a_span_on_the_market_not_as_a_fault_band(tmp_path: Path) -> None:
    h = HistoryBuilder()
    h.fault("f1", 5.0, 15.0)
    h.fault("f2", 6.0, None, fault="price_drift", target="market")  # an instant kind: never healed
    drift = {"asset": "BTC", "move_pct": -0.6, "for_s": 12.0, "first_step": 60, "last_step": 179}
    h.add("info", "price_drift", "market", 6.05, {**drift, "phase": "start", "step": 60, "delivered": True})
    h.add("info", "price_drift", "market", 18.0, {**drift, "phase": "end", "step": 179, "delivered": True})
    page = write_reports(tmp_path, make_result(), h.build(), audit()).read_text()
    assert "BTC -0.6% over 12.0 s" in page and "<title>drift BTC -0.6% over 12.0 s</title>" in page
    assert "f1 latency" in page and "f2 price_drift" not in page  # no fault band: it excuses nothing


def test_summary_line() -> None:
    line = summary_line(make_result(), Path("reports/x/report.html"))
    assert line.startswith("FAIL margin-latency-halt seed=42 backend=local bugs=halt_cancels_orders")
    assert "resting_orders_preserved=fail" in line and line.endswith("report: reports/x/report.html")
    assert "halted after" not in line  # nothing measured: no figure printed, never the budget
    measured = dataclasses.replace(make_result(), figures={"ops": 8, "time_to_halt_s": 0.3994, "rto_s": 1.25})
    assert "halted after 0.399 s  RTO 1.250 s" in summary_line(measured)
    lost = dataclasses.replace(make_result(), figures={"rto_from_loss_s": 1.1})
    assert "RTO from the region's loss 1.100 s" in summary_line(lost)


def test_a_report_that_cannot_be_written_is_a_clear_error_and_the_rest_is_kept(tmp_path: Path) -> None:
    (tmp_path / "report.html").mkdir()  # writing report.html will fail like a full or broken disk
    with pytest.raises(HarnessError, match="report.html"):
        write_reports(tmp_path, make_result(), make_history(), audit())
    assert (tmp_path / "result.json").exists() and (tmp_path / "history.jsonl").exists()


def test_a_figure_nothing_measured_is_null_in_result_json_so_replay_reads_it(tmp_path: Path) -> None:
    """A steady-state phase with no request has NaN percentiles; JSON has no NaN, and replay's strict
    reader refuses it, so result.json says null."""
    from dataclasses import replace

    from harness.report.json_report import write_result_json
    from harness.untrusted import read_json

    steady = CheckResult("steady_state", True, "held", figures={"after": {"p99_ms": float("nan"), "requests": 0}})
    result = replace(make_result(), checks=(*make_result().checks, steady), figures={"ops": 8, "rto_s": float("inf")})
    data = read_json(write_result_json(tmp_path, result))
    assert data["checks"][-1]["figures"]["after"] == {"p99_ms": None, "requests": 0} and data["figures"]["rto_s"] is None
