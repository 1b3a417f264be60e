"""The shape the code keeps (issue 17): no function of harness/ over 60 lines, no reaching past a
protocol with ``type: ignore[attr-defined]``."""

from __future__ import annotations

import ast
from pathlib import Path

HARNESS = Path(__file__).parents[2] / "harness"
MAX_LINES = 60


def test_no_function_in_the_harness_is_longer_than_sixty_lines() -> None:
    long = [f"{path.relative_to(HARNESS.parent)}:{node.lineno} {node.name} ({node.end_lineno - node.lineno + 1})"
            for path in sorted(HARNESS.rglob("*.py"))
            for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            and (node.end_lineno or node.lineno) - node.lineno + 1 > MAX_LINES]
    assert not long


def test_nothing_reaches_past_a_protocol() -> None:
    ignores = [f"{path.relative_to(HARNESS.parent)}:{n}" for path in sorted(HARNESS.rglob("*.py"))
               for n, line in enumerate(path.read_text().splitlines(), 1) if "type: ignore[attr-defined]" in line]
    assert not ignores
