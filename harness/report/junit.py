"""junit.xml: one testsuite per scenario run, one testcase per check.

A violation is a ``<failure>``, an undecided check an ``<error>`` (as CI servers expect), with
the evidence as text and the seed, scenario hash, backend and versions as properties.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from harness.result import RunResult

__all__ = ["junit_tree", "write_junit"]


def _suite(result: RunResult) -> ET.Element:
    checks = result.checks
    suite = ET.Element("testsuite", {
        "name": f"{result.scenario}[seed={result.seed}]", "tests": str(max(1, len(checks))),
        "failures": str(sum(c.valid is False for c in checks)),
        "errors": str(sum(c.valid == "unknown" for c in checks) + (0 if checks else 1)),
        "time": f"{result.ended - result.started:.3f}",
        "timestamp": datetime.fromtimestamp(result.started, UTC).isoformat(timespec="seconds"),
    })
    props = ET.SubElement(suite, "properties")
    for name, value in [("seed", result.seed), ("scenario_hash", result.scenario_hash), ("backend", result.backend),
                        ("bugs", ",".join(result.bugs)), ("status", result.status), ("run_id", result.run_id),
                        *((f"version.{k}", v) for k, v in sorted(result.versions.items())),
                        *((f"figure.{k}", v) for k, v in sorted(result.figures.items()))]:
        ET.SubElement(props, "property", {"name": name, "value": str(value)})
    if not checks:  # the run ended before any check ran: say why, as an error
        case = ET.SubElement(suite, "testcase", {"classname": result.scenario, "name": "run"})
        ET.SubElement(case, "error", {"message": result.reason or result.status}).text = result.reason or ""
    for check in checks:
        case = ET.SubElement(suite, "testcase", {"classname": result.scenario, "name": check.name})
        for key, value in check.figures.items():
            ET.SubElement(case, "property", {"name": key, "value": str(value)})
        if check.valid is True:
            continue
        tag = "failure" if check.valid is False else "error"
        detail = "\n".join(e.text for e in check.evidence)
        ET.SubElement(case, tag, {"message": check.summary, "type": check.status}).text = detail
    return suite


def junit_tree(results: Iterable[RunResult]) -> ET.ElementTree:
    root = ET.Element("testsuites", {"name": "umchaos"})
    for result in results:
        root.append(_suite(result))
    return ET.ElementTree(root)


def write_junit(path: Path, results: Iterable[RunResult]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tree = junit_tree(results)
    ET.indent(tree)
    tree.write(path, encoding="utf-8", xml_declaration=True)
    return path
