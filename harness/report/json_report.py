"""result.json: everything about the run, machine-readable, stable keys."""

from __future__ import annotations

import json
import math
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
    """Strict JSON: a figure nothing measured (a phase with no request: NaN) is null, so that
    ``replay`` reads every result.json a run writes (it refuses NaN, as JSON does)."""
    path = run_dir / "result.json"
    path.write_text(json.dumps(_finite(result_dict(result)), indent=1, default=str, allow_nan=False))
    return path


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value
