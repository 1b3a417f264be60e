"""The history of a run: Jepsen-style operation records, written as JSON lines.

Every client request is an ``invoke`` followed by exactly one completion by the same
``process``: ``ok`` (applied), ``fail`` (definitely not applied) or ``info`` (outcome unknown:
timeout, reset). Faults, phases and probes are recorded the same way by the process
``nemesis`` / ``runner`` / ``probe``. ``time`` is wall-clock epoch seconds, the same clock as the
exchange's server times; ``mono`` is monotonic seconds since the run started.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import orjson

__all__ = ["OpType", "Op", "History", "read_history", "classify_http", "is_probe"]

OpType = Literal["invoke", "ok", "fail", "info"]

# Client request kinds the workload produces (``f``); other kinds: fault, phase, probe, heal.
WRITE_KINDS = ("um_order", "cancel", "transfer", "leverage", "spot_order")

# 503 codes that promise "not applied"; any other 5xx, a timeout or a reset is unknown.
NOT_APPLIED_CODES = frozenset(
    {"UM_HALTED", "AUTH_UNAVAILABLE", "UPSTREAM_UNAVAILABLE", "NOT_PRIMARY", "PRICE_UNAVAILABLE",
     "JOURNAL_UNAVAILABLE"}
)


@dataclass(frozen=True, slots=True)
class Op:
    index: int
    type: OpType
    f: str
    process: str
    time: float
    mono: float
    value: dict[str, Any] = field(default_factory=dict)
    latency_ms: float | None = None
    error: str | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"), default=str)

    @staticmethod
    def from_dict(raw: dict[str, Any]) -> Op:
        return Op(**raw)


def is_probe(op: Op) -> bool:
    """The harness's own steady-state probe (processes ``probe``, ``probe.1``...), not customer load."""
    return op.process == "probe" or op.process.startswith("probe.")


def classify_http(status: int | None, code: str | None) -> OpType:
    """Map an HTTP answer (None: no answer at all) to ok / fail / info."""
    if status is None:
        return "info"
    if 200 <= status < 300:
        return "ok"
    if 400 <= status < 500:
        return "fail"
    if status == 503 and code in NOT_APPLIED_CODES:
        return "fail"
    return "info"


class History:
    """An ordered, immutable-once-built list of ops with the lookups checks need."""

    def __init__(self, ops: Iterable[Op]) -> None:
        self.ops: tuple[Op, ...] = tuple(ops)

    def __len__(self) -> int:
        return len(self.ops)

    def __iter__(self) -> Iterator[Op]:
        return iter(self.ops)

    def of(self, *kinds: str) -> list[Op]:
        return [op for op in self.ops if op.f in kinds]

    def completions(self, *kinds: str) -> list[Op]:
        """Completed client ops (ok/fail/info) of the given kinds, in order."""
        return [op for op in self.ops if op.type != "invoke" and (not kinds or op.f in kinds)]

    def faults(self) -> list[Op]:
        return [op for op in self.ops if op.f == "fault"]

    def write(self, path: Path) -> None:
        with path.open("w") as out:
            for op in self.ops:
                out.write(op.to_json() + "\n")


def read_history(path: Path) -> History:
    """orjson and no cyclic GC while building: a million ops load in seconds, not a minute
    (each GC pass would rescan every op already built; ops hold no cycles)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        with path.open("rb") as lines:
            return History(Op.from_dict(orjson.loads(line)) for line in lines if line.strip())
    finally:
        if enabled:
            gc.enable()
