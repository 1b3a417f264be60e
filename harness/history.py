"""The history of a run: Jepsen-style operation records, written as JSON lines.

Every client request is an ``invoke`` followed by exactly one completion by the same
``process``: ``ok`` (applied), ``fail`` (definitely not applied) or ``info`` (outcome unknown:
timeout, reset). Faults, phases and probes are recorded the same way by the process
``nemesis`` / ``runner`` / ``probe``. ``time`` is wall-clock epoch seconds, the same clock as the
exchange's server times; ``mono`` is monotonic seconds since the run started.
"""

from __future__ import annotations

import gc
import heapq
import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from sys import intern
from typing import Any, Literal

import orjson

__all__ = ["OpType", "Op", "History", "read_history", "no_cyclic_gc", "classify_http", "is_probe"]

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
        """Built through the slots, not the dataclass ``__init__`` (a third faster: seconds on a
        million ops), with the words every op repeats (kind, type, process) interned."""
        op = _new_op(Op)
        _set_index(op, raw["index"])
        _set_type(op, intern(raw["type"]))
        _set_f(op, intern(raw["f"]))
        _set_process(op, intern(raw["process"]))
        _set_time(op, raw["time"])
        _set_mono(op, raw["mono"])
        _set_value(op, raw.get("value") or {})
        _set_latency_ms(op, raw.get("latency_ms"))
        _set_error(op, raw.get("error"))
        return op


_new_op = object.__new__
(_set_index, _set_type, _set_f, _set_process, _set_time, _set_mono, _set_value, _set_latency_ms,
 _set_error) = (getattr(Op, name).__set__ for name in Op.__slots__)  # type: ignore[attr-defined]


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
    """An ordered, immutable-once-built list of ops with the lookups checks need. Lookups by kind
    use an index built on first use: ten checks each scanning a million ops was most of their time."""

    def __init__(self, ops: Iterable[Op]) -> None:
        self.ops: tuple[Op, ...] = tuple(ops)
        self._by_kind: dict[str, list[int]] | None = None  # kind -> positions in ops

    def __len__(self) -> int:
        return len(self.ops)

    def __iter__(self) -> Iterator[Op]:
        return iter(self.ops)

    def _positions(self, kind: str) -> list[int]:
        if self._by_kind is None:
            self._by_kind = {}
            for at, op in enumerate(self.ops):
                self._by_kind.setdefault(op.f, []).append(at)
        return self._by_kind.get(kind, [])

    def of(self, *kinds: str) -> list[Op]:
        """Ops of these kinds, in history order."""
        ops = self.ops
        if len(kinds) == 1:
            return [ops[at] for at in self._positions(kinds[0])]
        return [ops[at] for at in heapq.merge(*(self._positions(k) for k in dict.fromkeys(kinds)))]

    def completions(self, *kinds: str) -> list[Op]:
        """Completed client ops (ok/fail/info) of the given kinds, in order."""
        if not kinds:
            return [op for op in self.ops if op.type != "invoke"]
        return [op for op in self.of(*kinds) if op.type != "invoke"]

    def faults(self) -> list[Op]:
        return self.of("fault")

    def write(self, path: Path) -> None:
        with path.open("w") as out:
            for op in self.ops:
                out.write(op.to_json() + "\n")


@contextmanager
def no_cyclic_gc() -> Iterator[None]:
    """Build large JSON-born structures without the cyclic GC: each pass would rescan every object
    already built (a million ops took a minute instead of seconds); JSON data holds no cycles."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def read_history(path: Path) -> History:
    with no_cyclic_gc(), path.open("rb") as lines:
        return History(Op.from_dict(orjson.loads(line)) for line in lines if line.strip())
