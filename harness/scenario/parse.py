"""From a scenario file (or its text) to a validated ``Scenario``: read the YAML, load the target
``target.system`` names, and validate the rest against that target's topology; any problem is
one ``file:line`` error. The scenario keeps its source (file, hash, text lines and each fault's
line range), so a failing run can show the YAML behind each fault."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import yaml

from harness.errors import BadInput
from harness.scenario.explain import validate_model
from harness.scenario.reading import (
    LINE_BREAK,
    MAX_FILE_BYTES,
    bad,
    item_lines,
    node_line,
    read_text_file,
    read_yaml_mapping,
)
from harness.scenario.schema import Scenario, ScenarioSource
from harness.targets import DEFAULT_TARGET, TargetSystem, load_target


def _chosen_target(root: yaml.Node, data: dict[Any, Any], file: str) -> TargetSystem:
    """The target ``target.system`` names, loaded before the rest is validated against its topology;
    a system that is not a name is left to the schema's error."""
    section = data.get("target")
    system = section.get("system", DEFAULT_TARGET) if isinstance(section, dict) else DEFAULT_TARGET
    try:
        return load_target(system if isinstance(system, str) else DEFAULT_TARGET)
    except BadInput as exc:
        raise bad(file, node_line(root, ["target", "system"]), f"target.system: {exc}") from None


def _parse(text: str, file: str, sha256: str, stand_in: TargetSystem | None = None) -> Scenario:
    root, data = read_yaml_mapping(text, file, "scenario", " (name:, timeline:, checks:, ...)")
    source = ScenarioSource(file, sha256, tuple(LINE_BREAK.split(text)), item_lines(root, "timeline"))
    target = stand_in or _chosen_target(root, data, file)
    return validate_model(Scenario, root, data, file,
                          {"source": source, "target": target, "stand_in": stand_in is not None})


def parse_scenario(text: str, file: str) -> Scenario:
    """A validated scenario from YAML text; ``file`` names it in errors and in its source."""
    data = text.encode("utf-8", "surrogatepass")
    if len(data) > MAX_FILE_BYTES:
        raise bad(file, 1, f"{len(data)} bytes; a scenario is at most {MAX_FILE_BYTES} bytes")
    return _parse(text, file, hashlib.sha256(data).hexdigest())


def load_scenario(path: Path, *, stand_in: TargetSystem | None = None) -> Scenario:
    """A validated scenario from a file. ``stand_in``: a target the scenario is run against instead
    of the one it names (an external platform described by a topology file), validated against it."""
    text, sha256 = read_text_file(path, "scenario")
    return _parse(text, str(path), sha256, stand_in)
