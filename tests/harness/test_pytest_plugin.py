"""The pytest plugin's collection: which files are scenarios, and tags as marks (no run: collect only)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).parents[2]


def collect(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--collect-only",
                           "--strict-markers", *args], capture_output=True, text=True, timeout=240, cwd=cwd)


def collected(proc: subprocess.CompletedProcess[str]) -> set[str]:
    return {line.split("::")[0].rsplit("/", 1)[-1] for line in proc.stdout.splitlines() if "::" in line}


def test_tags_are_marks_so_minus_m_selects_the_gate() -> None:
    tagged = {p.name for p in (ROOT / "scenarios").glob("*.yaml") if "gate" in yaml.safe_load(p.read_text()).get("tags", [])}
    proc = collect("scenarios", "-m", "gate")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert collected(proc) == tagged and "margin-latency-halt.yaml" in tagged
    library = len(list((ROOT / "scenarios").glob("*.yaml")))  # one item each at one seed; the rest deselected
    assert f"{len(tagged)}/{library} tests collected ({library - len(tagged)} deselected)" in proc.stdout, proc.stdout[-500:]


def test_scenario_files_are_found_by_a_configurable_glob_not_a_folder_name(tmp_path: Path) -> None:
    chaos = tmp_path / "chaos"
    chaos.mkdir()
    (chaos / "halt.chaos.yaml").write_text((ROOT / "scenarios" / "margin-latency-halt.yaml").read_text())
    (chaos / "other.yaml").write_text("not: a scenario\n")
    default = collect("-p", "harness.pytest_plugin", "--rootdir", str(tmp_path), str(chaos), cwd=tmp_path)
    assert collected(default) == set()
    chosen = collect("-p", "harness.pytest_plugin", "--rootdir", str(tmp_path), "-o", "umchaos_scenarios=*.chaos.yaml",
                     str(chaos), cwd=tmp_path)
    assert chosen.returncode == 0, chosen.stdout[-2000:] + chosen.stderr[-2000:]
    assert collected(chosen) == {"halt.chaos.yaml"} and "margin-latency-halt[seed=42]" in chosen.stdout
