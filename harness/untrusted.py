"""Reading what a user hands the harness without trusting it: a JSON file bounded in size and
depth (a run folder's file, a result to compare), and text made safe to print on a terminal.
Below the scenario, the targets and the run: each of them reads user files through here."""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path
from typing import Any

from harness.errors import BadInput

__all__ = ["MAX_JSON_BYTES", "MAX_JSON_DEPTH", "printable", "read_json"]

MAX_JSON_BYTES = 64 << 20  # a run folder's result.json holds every check's evidence; 64 MB is plenty
MAX_JSON_DEPTH = 64  # what the harness writes is a few levels deep; deeper is a mistake or an attack


def printable(text: str) -> str:
    """``text`` with control and bidi-format characters shown as escapes, so that a file name or a
    description cannot move the cursor, recolour or clear the terminal that prints it."""
    return "".join(ch if ch == " " or unicodedata.category(ch) not in ("Cc", "Cf", "Zl", "Zp")
                   else ascii(ch)[1:-1] for ch in text)


def _depth(value: Any) -> int:
    """The nesting depth of parsed JSON, without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if depth <= MAX_JSON_DEPTH and isinstance(item, (dict, list)):
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def read_json(path: Path, *, nan_as_null: bool = False) -> Any:
    """A JSON file of a run folder; too big, too deep, unreadable or not JSON is ``BadInput``.
    ``nan_as_null``: NaN and Infinity read as None (result.json files written before they were
    null), for a reader that only reports figures."""
    try:
        if not path.is_file():
            raise BadInput(f"{path}: {'not found' if not path.exists() else 'not a regular file'}")
        with path.open("rb") as handle:
            raw = handle.read(MAX_JSON_BYTES + 1)
    except OSError as exc:
        raise BadInput(f"{path}: cannot read: {exc.strerror or exc}") from None
    if len(raw) > MAX_JSON_BYTES:
        raise BadInput(f"{path}: over {MAX_JSON_BYTES} bytes; not a run folder's file")
    try:
        data = json.loads(raw.decode("utf-8"), parse_constant=(lambda _: None) if nan_as_null else _no_constant)
    except RecursionError:
        raise BadInput(f"{path}: JSON nested deeper than {MAX_JSON_DEPTH} levels") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadInput(f"{path}: not JSON ({' '.join(str(exc).splitlines())})") from None
    if _depth(data) > MAX_JSON_DEPTH:
        raise BadInput(f"{path}: JSON nested deeper than {MAX_JSON_DEPTH} levels")
    return data


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")
