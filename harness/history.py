"""The history of a run: Jepsen-style operation records, written as JSON lines.

Every client request is an ``invoke`` followed by exactly one completion by the same
``process``: ``ok`` (applied), ``fail`` (definitely not applied) or ``info`` (outcome unknown:
timeout, reset). Faults, phases and probes are recorded the same way by the process
``nemesis`` / ``runner`` / ``probe``. ``time`` is wall-clock epoch seconds, the same clock as the
exchange's server times; ``mono`` is monotonic seconds since the run started.
"""

from __future__ import annotations

import gc
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from sys import intern
from typing import Any, Literal

import msgspec
from msgspec.structs import force_setattr

__all__ = ["OpType", "Op", "History", "read_ops", "line_blocks", "no_cyclic_gc", "classify_http", "is_probe"]

OpType = Literal["invoke", "ok", "fail", "info"]

# 503 codes that promise "not applied"; any other 5xx, a timeout or a reset is unknown. NOT_ACTIVE:
# a standby gateway (idle, or deposed) refused the request; the client moves to the next one.
NOT_APPLIED_CODES = frozenset(
    {"UM_HALTED", "AUTH_UNAVAILABLE", "UPSTREAM_UNAVAILABLE", "NOT_PRIMARY", "PRICE_UNAVAILABLE",
     "JOURNAL_UNAVAILABLE", "NOT_ACTIVE"}
)


class Op(msgspec.Struct, frozen=True, gc=False):
    """One history record. A msgspec Struct rather than a dataclass: history files decode straight
    into it in C (a million ops in about 3 s instead of 11), and ``gc=False`` keeps a million of
    them out of the cyclic GC (an op never refers back to itself)."""

    index: int
    type: OpType  # a Literal: decoding hands back the one shared string per type
    f: str
    process: str
    time: float
    mono: float
    value: dict[str, Any] = {}
    latency_ms: float | None = None
    error: str | None = None

    @staticmethod
    def from_dict(raw: dict[str, Any]) -> Op:
        """An op from a JSON-born dict (the probe's, the recorder's), validated like a file's."""
        return msgspec.convert(raw, Op)


_DECODE = msgspec.json.Decoder(Op)
_ENCODE = msgspec.json.Encoder(enc_hook=str)  # anything not JSON (a Decimal in a value) as its text
CHUNK_BYTES = 4 << 20


def line_blocks(pieces: Iterable[bytes]) -> Iterator[bytes | memoryview]:
    """Runs of whole lines out of a byte stream cut anywhere (a streamed HTTP body, a file), as
    bytes-like blocks: the lines inside a piece are a view of it, not a copy (a soak's files are
    hundreds of megabytes); only a line cut across pieces is copied, alone."""
    rest = b""  # after the last line end: never holds one
    for piece in pieces:
        if (cut := piece.rfind(b"\n") + 1) > 0:
            start = 0
            if rest:
                start = piece.find(b"\n") + 1
                yield rest + piece[:start]
            if start < cut:
                yield memoryview(piece)[start:cut]
            rest = piece[cut:]
        else:
            rest += piece
    if rest:
        yield rest


def read_ops(path: Path) -> list[Op]:
    """The ops of a JSON-lines file, decoded 4 MiB at a time (never the whole file as one string).
    Each block's kinds and processes are interned before the next is decoded, so the memory of
    their copies is reused (a tenth of a million ops). A line that does not decode (cut short by
    a kill) is skipped; the rest is kept."""
    ops: list[Op] = []
    with no_cyclic_gc(), path.open("rb") as file:
        for block in line_blocks(iter(lambda: file.read(CHUNK_BYTES), b"")):
            try:
                part = _DECODE.decode_lines(block)
            except msgspec.DecodeError:
                part = []
                for line in bytes(block).splitlines():
                    with suppress(msgspec.DecodeError):
                        part.append(_DECODE.decode(line))
            for op in part:
                force_setattr(op, "f", intern(op.f))
                force_setattr(op, "process", intern(op.process))
            ops += part
    return ops


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
        self._by_kind: dict[str, tuple[Op, ...]] | None = None  # kind -> its ops, in order
        self._several: dict[frozenset[str], tuple[Op, ...]] = {}  # several kinds -> their ops, in order
        self._done: dict[frozenset[str], tuple[Op, ...]] = {}  # kinds -> their completions, in order

    def __len__(self) -> int:
        return len(self.ops)

    def __iter__(self) -> Iterator[Op]:
        return iter(self.ops)

    def _kind(self, kind: str) -> tuple[Op, ...]:
        if self._by_kind is None:
            by_kind: dict[str, list[Op]] = {}
            for op in self.ops:  # the ops themselves, not positions: no second lookup per op
                try:
                    by_kind[op.f].append(op)
                except KeyError:
                    by_kind[op.f] = [op]
            self._by_kind = {k: tuple(v) for k, v in by_kind.items()}
        return self._by_kind.get(kind, ())

    def _of(self, kinds: tuple[str, ...]) -> tuple[Op, ...]:
        if len(kinds) == 1:
            return self._kind(kinds[0])
        wanted = frozenset(kinds)
        if (ops := self._several.get(wanted)) is None:  # one pass keeps history order; in any order asked, once
            ops = self._several[wanted] = tuple([op for op in self.ops if op.f in wanted])
        return ops

    def of(self, *kinds: str) -> list[Op]:
        """Ops of these kinds, in history order."""
        return list(self._of(kinds))

    def completions(self, *kinds: str) -> list[Op]:
        """Completed client ops (ok/fail/info) of the given kinds, in order (each set of kinds
        filtered once: several checks ask for the same)."""
        if not kinds:
            return [op for op in self.ops if op.type != "invoke"]
        if (done := self._done.get(wanted := frozenset(kinds))) is None:
            done = self._done[wanted] = tuple([op for op in self._of(kinds) if op.type != "invoke"])
        return list(done)

    def faults(self) -> list[Op]:
        return self.of("fault")

    def write(self, path: Path) -> None:
        with path.open("wb") as out:
            for start in range(0, len(self.ops), 10_000):  # bounded buffers for a long soak
                out.write(_ENCODE.encode_lines(self.ops[start:start + 10_000]))


@contextmanager
def no_cyclic_gc() -> Iterator[None]:
    """Build large JSON-born structures without the cyclic GC: each pass would rescan every object
    already built (a million ops took a minute instead of seconds); JSON data holds no cycles.
    What was built is then frozen out of the GC's generations: re-enabled, its first collection
    would otherwise walk all of it, once per generation (two seconds for a soak's history and
    journal). Refcounting still frees it; ``gc.unfreeze`` hands it back to the GC."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.freeze()
            gc.enable()
