"""What every benchmark does with its figures: the load average beside them, the UTC time they
were taken, and one JSON file in bench/results/."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

__all__ = ["RESULTS", "loadavg", "now_utc", "write_result"]

RESULTS = Path(__file__).parent / "results"


def loadavg() -> float:
    """The 1-minute load average, as each result gives it beside its figures."""
    return round(os.getloadavg()[0], 2)


def now_utc() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def write_result(name: str, result: dict[str, Any]) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / name
    path.write_text(json.dumps(result, indent=1) + "\n")
    return path
