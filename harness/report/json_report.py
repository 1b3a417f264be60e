"""result.json: everything about the run, machine-readable, stable keys."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from harness.result import RunResult

__all__ = ["result_dict", "write_result_json"]


def result_dict(result: RunResult) -> dict[str, Any]:
    raw = asdict(result)
    raw["checks"] = [{**asdict(c), "status": c.status} for c in result.checks]
    return raw


def write_result_json(run_dir: Path, result: RunResult) -> Path:
    path = run_dir / "result.json"
    path.write_text(json.dumps(result_dict(result), indent=1, default=str))
    return path
