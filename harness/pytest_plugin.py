"""pytest plugin: ``pytest scenarios/`` runs each scenario file as a test item.

Which files are scenarios is the ``umchaos_scenarios`` ini option (glob patterns matched from
the right of a path; ``scenarios/*.yaml`` by default); a scenario's ``tags:`` are its marks, so
``pytest scenarios -m gate`` runs the gate. A failing item shows the violated check, its
evidence, and the scenario YAML lines of the faults that were in play — the way tavern shows the
YAML stage that failed.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.errors import BadInput
from harness.result import RunResult

__all__ = ["pytest_addoption", "pytest_collect_file"]

SCENARIO_GLOBS = ["scenarios/*.yaml", "scenarios/*.yml"]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("umchaos", "um-chaos-harness scenarios")
    group.addoption("--umchaos-seeds", type=int, default=1, help="seeds per scenario (seed, seed+1, ...)")
    group.addoption("--umchaos-seed", type=int, default=None, help="base seed instead of the scenario's")
    group.addoption("--umchaos-bugs", default=None, help="comma-separated bug switches for the target")
    group.addoption("--umchaos-backend", default="local")
    group.addoption("--umchaos-report-dir", type=Path, default=Path("reports"))
    parser.addini("umchaos_scenarios", "glob patterns of scenario files, matched from the right of a path",
                  type="linelist", default=SCENARIO_GLOBS)


def pytest_collect_file(parent: pytest.Collector, file_path: Path) -> pytest.Collector | None:
    if any(file_path.match(pattern) for pattern in parent.config.getini("umchaos_scenarios")):
        return ScenarioFile.from_parent(parent, path=file_path)
    return None


class ScenarioFailure(Exception):
    def __init__(self, result: RunResult) -> None:
        super().__init__(result.reason)
        self.result = result


class ScenarioFile(pytest.File):
    def collect(self) -> Iterator[pytest.Item]:
        from harness.scenario import load_scenario

        try:
            scenario = load_scenario(self.path)
        except BadInput as exc:
            raise self.CollectError(str(exc)) from None
        opts = self.config.option
        base = opts.umchaos_seed if opts.umchaos_seed is not None else scenario.seed
        for tag in scenario.tags:  # a mark pytest knows, so -m and --strict-markers take it
            self.config.addinivalue_line("markers", f"{tag}: scenarios tagged {tag}")
        for seed in range(base, base + opts.umchaos_seeds):
            item = ScenarioItem.from_parent(self, name=f"{scenario.name}[seed={seed}]", seed=seed)
            for tag in scenario.tags:
                item.add_marker(tag)
            yield item


class ScenarioItem(pytest.Item):
    def __init__(self, *, seed: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.seed = seed

    def runtest(self) -> None:
        from harness.runner import RunOptions, run_scenario

        opts = self.config.option
        bugs = tuple(b for b in opts.umchaos_bugs.split(",") if b) if opts.umchaos_bugs is not None else None
        result = run_scenario(self.path, RunOptions(seed=self.seed, backend=opts.umchaos_backend,
                                                    report_dir=opts.umchaos_report_dir, bugs=bugs))
        self.user_properties += [("seed", self.seed), ("status", result.status), ("bugs", ",".join(result.bugs))]
        if result.status != "pass":
            raise ScenarioFailure(result)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if not isinstance(excinfo.value, ScenarioFailure):
            return str(super().repr_failure(excinfo))
        result = excinfo.value.result
        lines = [f"{result.status.upper()}: {result.scenario} seed={result.seed} bugs={','.join(result.bugs) or '-'}: {result.reason}"]
        for check in result.checks:
            if check.valid is True:
                continue
            lines.append(f"  check {check.name}: {check.status} — {check.summary}")
            lines += [f"    - {e.text}" for e in check.evidence[:10]]
        for source in result.fault_sources:
            lines.append(f"  fault {source.fault_id} at {source.file}:{source.first_line}-{source.last_line}:")
            lines += [f"    {n}: {text}" for n, text in enumerate(source.text.splitlines(), source.first_line)]
        return "\n".join(lines)

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, 0, self.name
