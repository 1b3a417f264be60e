"""The import contracts (pyproject.toml, import-linter): the harness imports no target, a target
imports only the protocol it implements, checks import nothing effectful, the list of known
exceptions only shrinks, and no harness module imports one that imports it back."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).parents[2]
# Today's debt (issue 16, the target seam): an entry may leave this set, never join it.
KNOWN_DEBT: frozenset[str] = frozenset()  # none left since the launch seam (issue 16)
# The model layer reads the chosen target's topology: none of these may import a target again.
CONVERTED = ("harness.scenario", "harness.schedule", "harness.abort", "harness.checks", "harness.targets",
             "harness.selftest", "harness.shrink")


def contracts() -> dict[str, dict[str, Any]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    return {c["name"]: c for c in config["contracts"]}


def test_lint_imports_keeps_every_contract() -> None:
    proc = subprocess.run([str(Path(sys.executable).with_name("lint-imports")), "--no-cache"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert f"Contracts: {len(contracts())} kept, 0 broken." in proc.stdout


def test_every_harness_module_has_its_place_in_the_layers() -> None:
    """A new module under harness/ is put on one side of the layers contract: it describes or
    judges (imports nothing effectful), or it acts (backends, faults, load, reports, entry points)."""
    layers = next(c for c in contracts().values() if c["name"].startswith("descriptions and pure logic"))
    placed = {m.removeprefix("harness.") for m in (*layers["source_modules"], *layers["forbidden_modules"])}
    modules = {p.stem if p.is_file() else p.name for p in (ROOT / "harness").iterdir()
               if p.suffix == ".py" or (p.is_dir() and any(p.glob("*.py")))}
    unplaced = modules - placed - {"__init__"}
    assert not unplaced, f"modules on neither side of the layers contract: {sorted(unplaced)}"


def test_the_ignored_imports_only_shrink() -> None:
    harness = contracts()["harness does not import targets"]
    assert harness["type"] == "forbidden" and harness["source_modules"] == ["harness"]
    assert harness["forbidden_modules"] == ["targets"]
    ignored = harness.get("ignore_imports", [])
    assert set(ignored) <= KNOWN_DEBT, f"new imports of a target: {sorted(set(ignored) - KNOWN_DEBT)}"
    assert len(set(ignored)) == len(ignored)
    for entry in ignored:
        importer = entry.split(" -> ")[0]
        assert "*" not in entry and not importer.startswith(CONVERTED), entry


def test_a_target_imports_only_the_protocol() -> None:
    target = contracts()["targets import only the target protocol"]
    assert target["source_modules"] == ["targets"] and target["forbidden_modules"] == ["harness"]
    assert target["ignore_imports"] == ["targets.*.plugin -> harness.targets.base"]


def test_no_import_cycle_between_harness_modules() -> None:
    """No module imports one that reaches it back (imports under TYPE_CHECKING aside, since they
    never run): a cycle means a lower layer reaches a higher one."""
    import grimp

    graph = grimp.build_graph("harness", "harness.faults", "harness.load", exclude_type_checking_imports=True)
    cycles = [(module, imported) for module in sorted(graph.modules) if module.startswith("harness")
              for imported in sorted(graph.find_modules_directly_imported_by(module))
              if imported.startswith("harness") and graph.chain_exists(importer=imported, imported=module)]
    assert not cycles
