"""Read a YAML file with line numbers: the text (bounded, UTF-8), its safe YAML tree checked for
shape before anything is built from it, and the line of any node. Every problem is one
``file:line: what`` ``BadInput``. Knows YAML, not scenarios: a target's topology file reads the same way."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import yaml

from harness.errors import BadInput
from harness.scenario.values import show

try:
    from yaml import CSafeLoader as _SafeLoader
except ImportError:  # PyYAML built without libyaml: same documents, slower
    from yaml import SafeLoader as _SafeLoader  # type: ignore[assignment]

MAX_FILE_BYTES = 1 << 20  # a scenario is a page of YAML; anything bigger is a mistake or an attack
_MAX_NODES = 100_000  # YAML nodes with aliases expanded: bounds what validation has to walk
_MAX_DEPTH = 32  # the schema is 6 levels deep; this also stops recursive aliases
LINE_BREAK = re.compile(r"\r\n|[\r\n\x85\u2028\u2029]")  # what YAML counts as a new line


def bad(file: str, line: int, what: str) -> BadInput:
    """The one error a user sees: ``file:line: what``, on one line whatever the file name or value."""
    return BadInput(" ".join(f"{file}:{line}: {what}".splitlines()))


class _Loader(_SafeLoader):
    """Safe YAML whose unreadable values (a 13th month, a 5000-digit int) report their position."""

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except (ValueError, OverflowError, TypeError, IndexError) as exc:
            why = f"nothing to read as {node.tag}" if isinstance(exc, IndexError) else str(exc)
            raise yaml.constructor.ConstructorError(None, None, f"cannot read this value: {why}",
                                                    node.start_mark) from None


def _no_base_60(construct: Callable[[Any, yaml.ScalarNode], Any]) -> Callable[[Any, yaml.ScalarNode], Any]:
    """YAML 1.1 reads ``1:30`` as the base-60 number 90: a time that silently means something else."""
    def checked(loader: Any, node: yaml.ScalarNode) -> Any:
        if ":" in str(node.value):
            raise ValueError(f"{show(node.value)} is a YAML 1.1 base-60 number "
                             f"({show(construct(loader, node))}); write e.g. 90s or 1.5m, or quote it")
        return construct(loader, node)

    return checked


_Loader.add_constructor("tag:yaml.org,2002:int", _no_base_60(_SafeLoader.construct_yaml_int))
_Loader.add_constructor("tag:yaml.org,2002:float", _no_base_60(_SafeLoader.construct_yaml_float))
_STR_TAG, _MERGE_TAG = "tag:yaml.org,2002:str", "tag:yaml.org,2002:merge"
_KEY_KINDS = {f"tag:yaml.org,2002:{tag}": kind for tag, kind in (
    ("int", "a number"), ("float", "a number"), ("bool", "true/false"), ("null", "null"), ("timestamp", "a date"))}


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def _children(node: yaml.Node) -> Iterable[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return (n for pair in node.value for n in pair)
    return node.value if isinstance(node, yaml.SequenceNode) else ()


def _read_yaml(text: str, file: str) -> tuple[yaml.Node | None, Any]:
    """The document's node tree (for lines) and its data; the tree's shape is checked first."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, None
        _check_shape(node, file)  # before constructing: merge keys (<<) would look like duplicates after
        return node, loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        what = exc.problem or exc.context or "cannot be read"
        context = f" ({exc.context})" if exc.problem and exc.context else ""
        line = min(mark.line + 1, len(LINE_BREAK.split(text))) if mark else 1  # libyaml may mark past the end
        raise bad(file, line, f"YAML: {what}{context}") from None
    except yaml.reader.ReaderError as exc:
        line = len(LINE_BREAK.split(text[:exc.position]))
        raise bad(file, line, f"YAML: {str(exc).splitlines()[0]}") from None
    except (yaml.YAMLError, RecursionError) as exc:
        raise bad(file, 1, f"YAML cannot be read: {exc.__class__.__name__}") from None
    finally:
        loader.dispose()


def _check_shape(root: yaml.Node, file: str) -> None:
    """Refuse duplicate keys (YAML would keep the last silently), deep nesting, recursive aliases,
    and alias bombs, before pydantic walks the data with aliases expanded."""
    sizes: dict[int, int] = {}

    def size(node: yaml.Node, depth: int) -> int:
        if id(node) in sizes:
            return sizes[id(node)]
        if depth > _MAX_DEPTH:
            raise bad(file, _line(node), f"nested deeper than {_MAX_DEPTH} levels (or a recursive alias)")
        if isinstance(node, yaml.MappingNode):
            seen: dict[tuple[str, Any], int] = {}
            for key, _ in node.value:
                if isinstance(key, yaml.ScalarNode):
                    if key.tag not in (_STR_TAG, _MERGE_TAG):  # pydantic would not know its line
                        raise bad(file, _line(key), f"key {show(key.value)} is read as "
                                      f"{_KEY_KINDS.get(key.tag, key.tag)}; keys are names (quote it if it is one)")
                    if (key.tag, key.value) in seen:
                        raise bad(file, _line(key), f"duplicate key {show(key.value)} "
                                      f"(first on line {seen[(key.tag, key.value)]})")
                    seen[(key.tag, key.value)] = _line(key)
        total = min(_MAX_NODES + 1, 1 + sum(size(child, depth + 1) for child in _children(node)))
        sizes[id(node)] = total
        return total

    if size(root, 0) > _MAX_NODES:
        raise bad(file, _line(root), f"more than {_MAX_NODES} YAML values (aliases expanded)")


def _last_line(node: yaml.Node) -> int:
    """The node's last line with content (a block collection's end mark lies past trailing comments)."""
    if isinstance(node, (yaml.MappingNode, yaml.SequenceNode)) and not node.flow_style and node.value:
        return max(_line(node), *(_last_line(child) for child in _children(node)))
    end = node.end_mark
    return end.line if end.column == 0 and end.line > node.start_mark.line else end.line + 1


def item_lines(root: yaml.MappingNode, key: str) -> tuple[tuple[int, int], ...]:
    """The (first, last) line of each item of the sequence under ``key``; none if it is no sequence."""
    items = next((v for k, v in root.value if isinstance(k, yaml.ScalarNode) and k.value == key), None)
    if not isinstance(items, yaml.SequenceNode):
        return ()
    return tuple((_line(item), _last_line(item)) for item in items.value)


def node_line(root: yaml.Node, path: Sequence[str | int]) -> int:
    """The line of the deepest node on ``path`` (a mapping entry's key line, a sequence item's line)."""
    node, line = root, _line(root)
    for part in path:
        if isinstance(node, yaml.MappingNode):
            entry = next(((k, v) for k, v in node.value
                          if isinstance(k, yaml.ScalarNode) and k.value == str(part)), None)
            if entry is None:
                break
            line, node = _line(entry[0]), entry[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            node = node.value[part]
            line = _line(node)
        else:
            break
    return line


def read_yaml_mapping(text: str, file: str, what: str, fields: str = "") -> tuple[yaml.MappingNode, dict[Any, Any]]:
    """``text`` as a YAML mapping, its shape checked (duplicate keys, depth, alias bombs), with its
    node tree for the lines of errors."""
    root, data = _read_yaml(text, file)
    if not isinstance(root, yaml.MappingNode) or not isinstance(data, dict):
        line = _line(root) if root is not None else 1
        raise bad(file, line, f"a {what} is a YAML mapping{fields}")
    return root, data


def read_text_file(path: Path, what: str) -> tuple[str, str]:
    """A YAML file's text and sha256; refuses anything over 1 MB before reading it whole, and what
    is not UTF-8, with the line of the first bad byte."""
    file = str(path)
    try:
        if not path.is_file():
            raise bad(file, 1, f"not a {what} file ({'not found' if not path.exists() else 'not a regular file'})")
        with path.open("rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise bad(file, 1, f"cannot read: {exc.strerror or exc}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise bad(file, 1, f"over {MAX_FILE_BYTES} bytes; a {what} is at most {MAX_FILE_BYTES} bytes")
    try:
        return raw.decode("utf-8"), hashlib.sha256(raw).hexdigest()
    except UnicodeDecodeError as exc:
        line = len(LINE_BREAK.split(raw[:exc.start].decode("utf-8")))
        raise bad(file, line, f"not UTF-8 text (byte {exc.start})") from None
