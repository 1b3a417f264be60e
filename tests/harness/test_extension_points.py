"""The map of extension points is true: each registry resolves, and the README lists each point."""

from __future__ import annotations

import importlib
from pathlib import Path

from harness.extension_points import EXTENSION_POINTS

README = Path(__file__).parents[2] / "README.md"


def test_every_registry_resolves() -> None:
    for point in EXTENSION_POINTS:
        module, _, attr = point.registry.partition(":")
        assert getattr(importlib.import_module(module), attr), point.name


def test_the_readme_extending_section_names_every_point() -> None:
    section = README.read_text().split("## Extending", 1)[1].split("\n## ", 1)[0]
    for point in EXTENSION_POINTS:
        assert f"**{point.name}**" in section and point.registry.split(":")[0] in section, point.name
