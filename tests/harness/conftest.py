"""Fixtures shared by the harness's integration tests."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

# The tests that need a Docker engine run last: under .ci/run the engine, the images and the
# Compose CLI are still being set up in the background while the others run.
DOCKER_MODULES = ("test_docker_backend.py", "test_compose.py", "test_remote_engine.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: item.path.name in DOCKER_MODULES)  # stable: each group keeps its order


@dataclass(frozen=True)
class RealRun:
    """One finished ``umchaos run``: its temporary folder (``reports/``, ``state/``), exit code,
    verdict line and result.json."""

    folder: Path
    code: int
    verdict: str
    result: dict[str, Any]

    @property
    def run_dir(self) -> Path:
        return next((self.folder / "reports").glob("*/result.json")).parent


@pytest.fixture(scope="session")
def real_run(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., RealRun]:
    """``real_run(scenario, *args)``: a real run made once per session for each (scenario, args),
    with everything ``test_end_to_end.run`` asserts of every run. Tests that read the same run
    (a caught switch, and its replay) share it instead of running it twice; each must only read it."""
    from tests.harness.test_end_to_end import run

    made: dict[tuple[str, ...], RealRun] = {}

    def get(scenario: Path, *args: str) -> RealRun:
        key = (str(scenario), *args)
        if key not in made:
            folder = tmp_path_factory.mktemp("real-run")
            made[key] = RealRun(folder, *run(folder, *args, scenario=scenario))
        return made[key]

    return get
