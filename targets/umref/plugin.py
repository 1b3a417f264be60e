"""umref as a target plugin: its description, and how it starts on the local and docker backends.

Registered in the ``umchaos.targets`` entry points (pyproject.toml) like any third-party target;
it depends on nothing in the harness but the protocol it implements. umref's launcher stays its
own (``python -m targets.umref up`` needs no harness): this module only translates between it and
the protocol, so its errors become ``TargetError`` here and nowhere else.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass

from harness.targets.base import (
    Addresses,
    BugSwitch,
    ContainerRecipe,
    Deployment,
    Rollout,
    TargetError,
    TargetInfo,
    Topology,
)
from targets.umref.builds import BUILDS, versions
from targets.umref.config import (
    KILLED_BY,
    LINKS,
    REGION_OF,
    SERVICES,
    UM_ONLY,
    RiskBudget,
    TopologyConfig,
)
from targets.umref.deployer import DeployController
from targets.umref.forkserver import ForkServer
from targets.umref.launcher import Topology as Launcher
from targets.umref.launcher import TopologyError, default_accounts

__all__ = ["TARGET"]

IMAGE = "umchaos/umref"
CONTAINER_CONFIG = "/cfg/config.json"
CONTAINER_DATA = "/data"


@contextmanager
def _as_target_error() -> Iterator[None]:
    try:
        yield
    except TopologyError as exc:
        raise TargetError(str(exc)) from None


def _config(deployment: Deployment, data_dir: str | None = None) -> TopologyConfig:
    try:
        risk = RiskBudget(**deployment.risk)  # type: ignore[arg-type]  # the harness checked the keys
        return TopologyConfig(
            data_dir=data_dir or str(deployment.data_dir), bugs=deployment.bugs, risk=risk,
            price_seed=deployment.seed, host=deployment.host, accounts=default_accounts(deployment.seed),
            ports=dict(deployment.ports), links=dict(deployment.dial))
    except (TypeError, ValueError) as exc:  # the harness validated both against this target already
        raise TargetError(f"umref cannot run this deployment: {exc}") from None


class _Running:
    """umref's launcher seen through the ``Instance`` protocol (and, attached, ``Readiness``)."""

    def __init__(self, launcher: Launcher) -> None:
        self.launcher = launcher

    def addresses(self) -> Addresses:
        raw = self.launcher.addresses()
        return Addresses(gateway=raw["gateway"], services=raw["services"], accounts=tuple(raw["accounts"]))

    def wait_healthy(self, services: tuple[str, ...] | list[str], *, deadline: float) -> None:
        with _as_target_error():
            self.launcher.wait_healthy(services, deadline=deadline)

    def wait_calm(self, *, deadline: float) -> None:
        with _as_target_error():
            self.launcher.wait_calm(deadline=deadline)

    def bootstrap(self) -> None:
        with _as_target_error():
            self.launcher.bootstrap_positions()

    def start(self) -> float:
        with _as_target_error():
            return self.launcher.start()

    def stop(self, *, kill: bool = False) -> None:
        self.launcher.stop(kill=kill)

    def kill(self, service: str) -> None:
        self.launcher.kill(service)

    def pause(self, service: str) -> None:
        self.launcher.pause(service)

    def resume(self, service: str) -> None:
        self.launcher.resume(service)

    def restart(self, service: str) -> None:
        with _as_target_error():
            self.launcher.restart(service)

    def alive(self, service: str) -> bool:
        return self.launcher.alive(service)

    def pid(self, service: str) -> int | None:
        proc = self.launcher.procs.get(service)
        return proc.pid if proc is not None else None

    def deploy(self, service: str, build: str, watch_s: float) -> str:
        with _as_target_error():
            return self.launcher.deploy(service, build, watch_s)


class _Released:
    """umref's deploy controller acting through a backend's rollout (``Releases``)."""

    def __init__(self, rollout: Rollout, bugs: tuple[str, ...]) -> None:
        self.controller = DeployController(rollout, bugs)

    def deploy(self, service: str, build: str, watch_s: float) -> str:
        try:
            return str(self.controller.deploy(service, build, watch_s))
        except (KeyError, TopologyError) as exc:
            raise TargetError(str(exc.args[0])) from None


class _Attached(Launcher):
    """The launcher's health, calm and bootstrap logic for services it did not start."""

    def __init__(self, config: TopologyConfig, exited: Callable[[str], str | None]) -> None:
        super().__init__(config)
        self._exited = exited

    def exited(self, name: str) -> str | None:
        return self._exited(name)


@dataclass(frozen=True)
class Umref(TargetInfo):
    """umref: its description plus the two launchers."""

    def warm_up(self) -> ForkServer:
        """A fork server that imports the services while the harness starts: forking nine
        services from it is what keeps umref's start-up short on two cores."""
        server = ForkServer()
        server.start()
        return server

    def local_instance(self, deployment: Deployment, warm: object | None = None) -> _Running:
        forkserver = warm if isinstance(warm, ForkServer) else None
        return _Running(Launcher(_config(deployment), forkserver, logs_dir=deployment.logs_dir))

    def container_recipe(self, deployment: Deployment) -> ContainerRecipe:
        config = _config(deployment, data_dir=CONTAINER_DATA)
        return ContainerRecipe(
            image=IMAGE,
            commands={name: ("python3", "-m", "targets.umref.service", name, CONTAINER_CONFIG) for name in SERVICES},
            configs={name: json.dumps(asdict(config.service_config(name)), indent=1) for name in SERVICES},
            config_path=CONTAINER_CONFIG, data_dir=CONTAINER_DATA)

    def attach(self, deployment: Deployment, exited: Callable[[str], str | None]) -> _Running:
        return _Running(_Attached(_config(deployment), exited))

    def releases(self, rollout: Rollout, bugs: tuple[str, ...]) -> _Released:
        return _Released(rollout, bugs)


TARGET = Umref(
    name="umref",
    description="the reference UM exchange: its stack in region A, a warm standby in B, a witness in C, with bug switches",
    topology=Topology(services=SERVICES, region_of=dict(REGION_OF), links=LINKS, um_only=UM_ONLY, roles={
        "gateway": ("gateway", "gateway-b"), "margin_link": "matching->margin", "matching": ("matching", "matching-b"),
        "price_intake": ("pricefeed", "pricefeed-b"), "ledgers": ("ledger-a", "ledger-b"), "replication": "coordinator",
        "auth": ("auth", "auth-b")}),
    bug_switches=tuple(BugSwitch(name, checks) for name, checks in KILLED_BY.items()),
    risk_defaults=asdict(RiskBudget()),
    builds={service: versions(service) for service in BUILDS},
)
