"""Turning one HTTP exchange into the two history ops (invoke, completion), in one place for the
Locust users and the probe alike."""

from __future__ import annotations

import json
import time
from typing import Any, Protocol

from harness.history import classify_http

__all__ = ["OpWriter", "error_code"]


def error_code(status: int | None, body: Any, exc: BaseException | None) -> str | None:
    if exc is not None:
        return exc.__class__.__name__
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return str(body["error"].get("code"))
    return None if status is not None and status < 400 else f"HTTP_{status}"


class Lines(Protocol):
    """Where ops go as JSON lines: a file, or a remote worker's outbox."""

    def write(self, text: str, /) -> int: ...

    def flush(self) -> None: ...


class OpWriter:
    """Writes ops as JSON lines (or keeps them in a list when ``out`` is None). ``start_mono`` is
    the run's start on this process's monotonic clock and ``time_offset`` what to add to its epoch
    clock: a remote worker's ops are written in the master's time."""

    def __init__(self, out: Lines | None, start_mono: float, time_offset: float = 0.0) -> None:
        self.out = out
        self.start_mono = start_mono
        self.time_offset = time_offset
        self.kept: list[dict[str, Any]] = []
        self.written = False

    def _emit(self, op: dict[str, Any]) -> None:
        if self.out is None:
            self.kept.append(op)
            return
        self.out.write(json.dumps(op, separators=(",", ":")) + "\n")
        if not self.written:  # the runner starts the fault timeline when load flows: let it see the first op at once
            self.written = True
            self.out.flush()

    def invoke(self, f: str, process: str, value: dict[str, Any]) -> float:
        now = time.monotonic()
        self._emit({"index": -1, "type": "invoke", "f": f, "process": process, "time": time.time() + self.time_offset,
                    "mono": now - self.start_mono, "value": value, "latency_ms": None, "error": None})
        return now

    def complete(self, f: str, process: str, started: float, *, client_id: str, account: str, status: int | None,
                 body: Any, via: str, exc: BaseException | None = None) -> str | None:
        """The completion op; ``via`` is the gateway the request was sent to (which one answered
        is evidence of a failover). Returns the error code recorded, None for a success."""
        now = time.monotonic()
        code = error_code(status, body, exc)
        self._emit({"index": -1, "type": classify_http(status, code), "f": f, "process": process,
                    "time": time.time() + self.time_offset, "mono": now - self.start_mono,
                    "value": {"client_id": client_id, "account": account, "status": status, "body": body, "via": via},
                    "latency_ms": round(1000 * (now - started), 3), "error": code})
        return code
