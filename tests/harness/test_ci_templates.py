"""The CI templates in ci/ are checked, not just shipped: the GitHub workflows pass actionlint
(pinned, built with Go into the project's bin folder) and the schema of GitHub workflows, the
GitLab file passes GitLab's schema, and every umchaos command they run is one this umchaos takes
(the run commands are dry-run for real: the scenarios they name load and schedule)."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from harness.backends.go_tools import go_install
from harness.cli import _parser, main

ROOT = Path(__file__).parents[2]
WORKFLOWS = sorted((ROOT / "ci" / "github-actions").glob("*.yml"))
GITLAB = ROOT / "ci" / "gitlab-ci.yml"
ACTIONLINT = ("github.com/rhysd/actionlint/cmd/actionlint", "v1.7.12")
CHECK_JSONSCHEMA = str(Path(sys.executable).with_name("check-jsonschema"))


@pytest.fixture(scope="module")
def actionlint() -> Path:
    return go_install(*ACTIONLINT, "actionlint")


def lint(actionlint: Path, *files: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(actionlint), "-no-color", "-shellcheck=", "-pyflakes=", *map(str, files)],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)


@pytest.mark.timeout(900)  # the first use builds actionlint with Go
def test_the_github_workflows_pass_actionlint(actionlint: Path) -> None:
    assert [w.name for w in WORKFLOWS] == ["gate.yml", "nightly.yml"]
    proc = lint(actionlint, *WORKFLOWS)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.timeout(900)
def test_actionlint_would_catch_a_broken_workflow(actionlint: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text(WORKFLOWS[0].read_text().replace("runs-on: ubuntu-latest", "runs_on: ubuntu-latest"))
    proc = lint(actionlint, broken)
    assert proc.returncode == 1 and "runs_on" in proc.stdout, proc.stdout + proc.stderr


@pytest.mark.parametrize(("schema", "files"), [("vendor.github-workflows", WORKFLOWS), ("vendor.gitlab-ci", [GITLAB])],
                         ids=["github", "gitlab"])
def test_the_templates_pass_their_platform_schema(schema: str, files: list[Path], tmp_path: Path) -> None:
    proc = subprocess.run([CHECK_JSONSCHEMA, "--builtin-schema", schema, *map(str, files)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    broken = tmp_path / "broken.yml"
    broken.write_text(files[0].read_text().replace("script:", "scripts:").replace("steps:", "stepz:"))
    refused = subprocess.run([CHECK_JSONSCHEMA, "--builtin-schema", schema, str(broken)],
                             capture_output=True, text=True, timeout=120)
    assert refused.returncode == 1, refused.stdout


def umchaos_commands() -> list[list[str]]:
    """Each ``.venv/bin/umchaos ...`` command line of the templates (continuations joined), with
    the shell's variables as a night would have them."""
    commands = []
    for path in (*WORKFLOWS, GITLAB):
        text = re.sub(r"\\\n\s*", "", path.read_text())
        for line in text.splitlines():
            if ".venv/bin/umchaos " in line:
                command = line.split(".venv/bin/umchaos ", 1)[1]
                command = command.replace('"$SEEDS"', "3").replace("$(date -u +%Y%m%d)", "20261203")
                commands.append(shlex.split(command))
    return commands


def test_every_umchaos_command_of_the_templates_is_one_umchaos_takes(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    commands = umchaos_commands()
    assert {c[0] for c in commands} == {"run", "trend"} and len(commands) == 6
    monkeypatch.chdir(ROOT)
    for command in commands:
        _parser().parse_args(command)  # an unknown option or command exits 2 here
        if command[0] == "run":
            assert main(["--state-dir", str(tmp_path / "state"), *command, "--dry-run"]) == 0, command


def test_the_readme_points_at_the_templates() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Use in CI\n", 1)[1].split("\n## ", 1)[0]
    for path in (*WORKFLOWS, GITLAB):
        assert str(path.relative_to(ROOT)) in section
