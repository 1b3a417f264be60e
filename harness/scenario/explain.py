"""Pydantic's validation errors as the one ``file:line: what`` line a user reads: the YAML node the
error is about, and what is wrong in the file's own words (``timeline[2].params``, "fault kill
takes no 'for'"), with a close match when a name is misspelt."""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from harness.scenario.faults import FAULT_KINDS, FAULT_MODELS, KINDS
from harness.scenario.reading import bad, node_line
from harness.scenario.values import Problem, show

M = TypeVar("M", bound=BaseModel)
_FIELD_ORDER = ("at", "fault", "link", "links", "regions", "direction", "service", "region", "params", "for")


def _dotted(path: Sequence[str | int], top: str = "scenario") -> str:
    text = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")
    return text or top


def _fault_kind(data: Any, path: Sequence[str | int]) -> str | None:
    """The fault kind when ``path`` is a timeline entry, else None."""
    if len(path) == 2 and path[0] == "timeline" and isinstance(path[1], int) and isinstance(data, dict):
        timeline = data.get("timeline")
        if isinstance(timeline, list) and path[1] < len(timeline) and isinstance(timeline[path[1]], dict):
            kind = timeline[path[1]].get("fault")
            return kind if isinstance(kind, str) and kind in FAULT_MODELS else None
    return None


def _takes(kind: str) -> str:
    fields = {f.alias or name for name, f in FAULT_MODELS[kind].model_fields.items()}
    return ", ".join(name for name in _FIELD_ORDER if name in fields)


def _explain(error: ErrorDetails, data: Any, model: type[BaseModel], what: str) -> tuple[list[str | int], str]:
    """The YAML path an error is about, and what is wrong, in the user's words."""
    loc = list(error["loc"])
    if len(loc) > 2 and loc[0] == "timeline" and isinstance(loc[1], int) and loc[2] in FAULT_MODELS:
        del loc[2]  # the discriminator's tag, not a YAML key
    problem = (error.get("ctx") or {}).get("error")
    if isinstance(problem, Problem):
        loc += problem.loc
    kind = error["type"]
    field, parent = (loc[-1], loc[:-1]) if loc else ("", [])
    fault = _fault_kind(data, parent)
    if kind == "union_tag_invalid":
        tag = str((error.get("ctx") or {}).get("tag"))
        close = difflib.get_close_matches(tag, FAULT_KINDS, n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"known: {', '.join(FAULT_KINDS)}"
        return [*loc, "fault"], f"{_dotted([*loc, 'fault'])}: unknown fault kind {show(tag)}; {hint}"
    if kind == "union_tag_not_found":
        return loc, f"{_dotted(loc)}: which fault? add `fault:` (one of {', '.join(FAULT_KINDS)})"
    if kind == "extra_forbidden" and fault:
        note = " (an instant event has no duration)" if field == "for" and KINDS[fault].instant else ""
        return loc, f"{_dotted(parent)}: fault {fault} takes no {show(field)}{note}; it takes: {_takes(fault)}"
    if kind == "extra_forbidden" and parent[-1:] == ["params"] and (fault := _fault_kind(data, parent[:-1])):
        params = FAULT_MODELS[fault].model_fields["params"].annotation
        takes = ", ".join(getattr(params, "model_fields", {})) or "no parameters"
        return loc, f"{_dotted(parent)}: fault {fault} takes no parameter {show(field)}; it takes: {takes}"
    if kind == "extra_forbidden":
        hint = ""
        if not parent and (close := difflib.get_close_matches(str(field), list(model.model_fields), n=1)):
            hint = f"; did you mean {close[0]!r}?"
        return loc, f"{_dotted(parent, what)}: unknown field {show(field)}{hint}"
    if kind == "missing" and isinstance(field, int):
        return parent, f"{_dotted(parent)}: needs {field + 1} items"
    if kind == "missing":
        return parent, f"{_dotted(parent)}: {f'fault {fault} ' if fault else ''}needs `{field}:`"
    if field == "[key]":
        return parent, f"{_dotted(parent[:-1])}: key {show(parent[-1])}: {_sentence(error)}"
    return loc, f"{_dotted(loc)}: {_sentence(error)}"


def _sentence(error: ErrorDetails) -> str:
    problem = (error.get("ctx") or {}).get("error")
    if isinstance(problem, ValueError):
        return str(problem)
    msg = error["msg"][:1].lower() + error["msg"][1:]
    msg = re.sub(r" or instance of \w+| after validation", "", msg).replace("a valid tuple", "a list")
    value = error.get("input")
    return f"{msg}, not {show(value)}" if isinstance(value, (str, int, float, type(None))) else msg


def validate_model(model: type[M], root: yaml.Node, data: dict[Any, Any], file: str, context: dict[str, Any],
                   what: str = "scenario") -> M:
    """``data`` validated as ``model`` (a ``what``); any problem is one ``file:line`` BadInput: the
    first error in the file, but a wrong field before a missing one (it often explains it)."""
    try:
        return model.model_validate(data, context=context)
    except ValidationError as exc:
        _, line, problem = min(((error["type"] == "missing", node_line(root, path), why)
                                for error in exc.errors() for path, why in [_explain(error, data, model, what)]),
                               key=lambda ranked: ranked[:2])
        raise bad(file, line, problem) from None
