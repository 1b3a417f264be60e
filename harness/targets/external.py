"""``--target-file``: a platform already running that the harness did not start, described by a
topology file. Nothing is started or stopped that the file does not name.

The file (YAML, read as strictly as a scenario: every error one ``file:line``)::

    name: umref-by-hand
    services:                 # in start order; url as the harness reaches it
      gateway: {url: "http://127.0.0.1:18000", region: A}
      margin:  {url: "http://127.0.0.1:18003", region: A, um_only: true,
                control: {process: pids/margin.pid}}     # or {docker: CONTAINER}; none: no process faults
    links:                    # caller->callee: the address the caller is configured to dial
      "matching->margin": {dial: "127.0.0.1:19003"}      # the harness's Toxiproxy listens there
      # upstream: where that proxy forwards (default: the callee's url); for a platform in
      # containers, dial and upstream are in-network names, listed under allow_targets:
    roles: {margin_link: "matching->margin", matching: matching, ...}
    risk: {p99_ms: 200, ...}  # the budget the platform runs with (the harness cannot change it)
    accounts: accounts.json   # {"accounts": [{"account", "api_key", "role"}]}, next to this file
    toxiproxy: "http://127.0.0.1:18474"   # optional: a server the links go through for good
    client: "mypackage.venue:VenueClient"  # optional: the ClientApi for a gateway not speaking the
                                           # harness's own client API (docs/bring-your-own-target.md)
    switches:                 # optional: how ``umchaos selftest --target-file`` restarts the platform
      up: ["{python}", -m, mypackage, up, --bugs, "{bugs}"]   # {bugs}: one switch, or '' for none
      cwd: .                  # where ``up`` runs, relative to this file
      names: {no_halt: [safe_halt]}   # each switch and the checks expected to catch it

Only links with a ``dial`` address can be routed through a proxy, so only they are links of the
topology a scenario may fault; a service without ``control`` refuses kill and pause faults.

Without ``toxiproxy`` the harness starts its own server and puts the proxies at the dial addresses
for the length of a run (the platform's links work only while a run is on). With it, the proxies
live on that server for good (``umchaos proxies FILE`` makes them; a platform whose start needs
its links, as umref's ledgers do, starts after that), and a run only adds and removes toxics.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, Field, Strict, ValidationInfo, model_validator

from harness.errors import BadInput
from harness.safety import target_allowed
from harness.scenario import Model, read_text_file, read_yaml_mapping, validate_model
from harness.targets.base import ROLES, STANDARD_CLIENT, BugSwitch, ProcessNeed, Topology
from harness.untrusted import printable

__all__ = ["ExternalTarget", "load_topology_file"]

Name = Annotated[str, Strict(), Field(min_length=1, max_length=64, pattern=r"^[A-Za-z][A-Za-z0-9_-]*$")]


def _loopback_url(value: str, info: ValidationInfo) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(value)
    if parts.scheme != "http" or not parts.hostname or parts.port is None or parts.path not in ("", "/"):
        raise ValueError(f"{printable(value)!r} is not http://HOST:PORT")
    _allowed(parts.hostname, info)
    return value.rstrip("/")


def _dial(value: str, info: ValidationInfo) -> str:
    host, sep, port = value.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65_536:
        raise ValueError(f"{printable(value)!r} is not HOST:PORT")
    _allowed(host, info)
    return value


def _allowed(host: str, info: ValidationInfo) -> None:
    allowed = info.context.get("allow_targets", ()) if isinstance(info.context, dict) else ()
    if not target_allowed(host, allowed):
        raise ValueError(f"{printable(host)!r} is not loopback (127.0.0.0/8, ::1, localhost); "
                         "the harness sends nothing elsewhere")


class Control(Model):
    """How the harness acts on a service's process: signals to a pid file's process group, or
    the Docker engine on a container."""

    process: Annotated[str, Strict(), Field(min_length=1)] | None = None
    docker: Annotated[str, Strict(), Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")] | None = None

    @model_validator(mode="after")
    def _one(self) -> Control:
        if (self.process is None) == (self.docker is None):
            raise ValueError("control is either {process: PIDFILE} or {docker: CONTAINER}")
        return self


class Service(Model):
    url: Annotated[str, Strict(), AfterValidator(_loopback_url)]
    region: Name
    health: Annotated[str, Strict(), Field(pattern=r"^/[A-Za-z0-9/_.-]*$")] = "/health"
    um_only: bool = False
    control: Control | None = None


class Link(Model):
    dial: Annotated[str, Strict(), AfterValidator(_dial)]
    # Where the proxy forwards: the callee as the proxy's server reaches it. The callee's url by
    # default; not the same address when that server runs inside the platform's own network.
    upstream: Annotated[str, Strict(), AfterValidator(_dial)] | None = None


class Switches(Model):
    """The platform's bug switches, for the self-test: a command that brings the platform up with
    one switch on (it runs until SIGTERM; ready once every service answers its health path and
    the accounts file is written anew), and the checks expected to catch each switch."""

    up: tuple[Annotated[str, Strict(), Field(min_length=1)], ...] = Field(min_length=1)
    cwd: Annotated[str, Strict(), Field(min_length=1)] = "."
    names: dict[Name, tuple[Name, ...]] = Field(min_length=1)

    @model_validator(mode="after")
    def _takes_the_switch(self) -> Switches:
        if not any("{bugs}" in arg for arg in self.up):
            raise ValueError("up must say where the switch goes: an argument with {bugs}")
        return self


class TopologyFile(Model):
    name: Name
    services: dict[Name, Service] = Field(min_length=2)
    links: dict[Annotated[str, Strict()], Link] = {}
    roles: dict[Annotated[str, Strict()], str | tuple[str, ...]] = {}
    risk: dict[Annotated[str, Strict()], int | str] = {}
    accounts: Annotated[str, Strict(), Field(min_length=1)]
    toxiproxy: Annotated[str, Strict(), AfterValidator(_loopback_url)] | None = None
    allow_targets: tuple[Annotated[str, Strict()], ...] = ()  # addresses besides loopback (see safety)
    client: Annotated[str, Strict(), Field(pattern=r"^[A-Za-z_][A-Za-z0-9_.]*:[A-Za-z_][A-Za-z0-9_.]*$")] = STANDARD_CLIENT
    switches: Switches | None = None

    @model_validator(mode="after")
    def _holds_together(self) -> TopologyFile:
        for link in self.links:
            caller, _, callee = link.partition("->")
            if caller not in self.services or callee not in self.services or caller == callee:
                raise ValueError(f"link {printable(link)!r} is not caller->callee between two services")
        if unknown := sorted(set(self.roles) - set(ROLES)):
            raise ValueError(f"unknown role(s) {', '.join(map(repr, unknown))}; roles: {', '.join(ROLES)}")
        return self


@dataclass(frozen=True)
class ExternalTarget:
    """A running platform as a ``TargetSystem``: description from the file, no launcher."""

    name: str
    description: str
    topology: Topology
    file: Path
    urls: Mapping[str, str]  # service -> base URL
    health: Mapping[str, str]  # service -> health path
    dial: Mapping[str, str]  # link -> HOST:PORT its caller dials (where the harness's proxy listens)
    controls: Mapping[str, Control]
    accounts: tuple[Mapping[str, str], ...]
    toxiproxy: str | None = None  # the API of a Toxiproxy server the platform's links go through
    upstream: Mapping[str, str] = field(default_factory=dict)  # link -> HOST:PORT its proxy forwards to
    bug_switches: tuple[BugSwitch, ...] = ()
    risk_defaults: Mapping[str, int | str] = field(default_factory=dict)
    client_api: str = STANDARD_CLIENT
    switch_up: tuple[str, ...] = ()  # the command restarting the platform with {bugs} on (switches.up)
    switch_cwd: Path | None = None
    accounts_file: Path | None = None
    builds: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # a running platform is not released to

    def refusal(self, kind: str, needs: ProcessNeed, services: tuple[str, ...]) -> str | None:
        """Why a fault of ``kind`` on ``services`` cannot run here; None when it can."""
        if needs == "nothing":
            return None
        if needs == "own_target":
            return f"{kind} cannot act on a platform the harness did not start"
        if blind := [s for s in services if s not in self.controls]:
            return (f"{kind} needs control of {', '.join(blind)}'s process, and {printable(str(self.file))} "
                    "gives it none (control: {process: PIDFILE} or {docker: CONTAINER})")
        if needs == "restart" and (signalled := [s for s in services if self.controls[s].docker is None]):
            return (f"{kind} of {', '.join(signalled)} would leave it down: a process the harness did not start "
                    "cannot be started again (control: {docker: CONTAINER} can)")
        return None


def load_topology_file(path: Path, *, allow_targets: tuple[str, ...] = (), accounts: bool = True) -> ExternalTarget:
    """The platform ``path`` describes; one ``file:line`` BadInput for anything wrong in it.
    ``accounts=False``: the accounts file is not read (it may not exist before the platform runs)."""
    text, _ = read_text_file(path, "topology")
    file = str(path)
    root, data = read_yaml_mapping(text, file, "topology file", " (name:, services:, links:, roles:, accounts:)")
    given = data.get("allow_targets")
    allowed: list[Any] = given if isinstance(given, list) else []
    spec = validate_model(TopologyFile, root, data, file,
                          {"allow_targets": (*allow_targets, *(a for a in allowed if isinstance(a, str)))},
                          what="topology file")
    try:
        topology = Topology(
            services=tuple(spec.services), region_of={s: v.region for s, v in spec.services.items()},
            links=tuple(spec.links), um_only=tuple(s for s, v in spec.services.items() if v.um_only),
            roles={role: value if isinstance(value, str) else tuple(value) for role, value in spec.roles.items()})
    except ValueError as exc:
        raise BadInput(f"{file}:{_line_of(text, 'roles')}: {exc}") from None
    if spec.client != STANDARD_CLIENT:
        from harness.targets.client import load_client_api

        try:
            load_client_api(spec.client)
        except BadInput as exc:
            raise BadInput(f"{file}:{_line_of(text, 'client')}: {exc}") from None
    return ExternalTarget(
        name=spec.name, description=f"an external platform ({printable(file)})", topology=topology,
        file=path, urls={s: v.url for s, v in spec.services.items()},
        health={s: v.health for s, v in spec.services.items()},
        dial={link: v.dial for link, v in spec.links.items()},
        controls={s: v.control for s, v in spec.services.items() if v.control is not None},
        accounts=_accounts(path.parent / spec.accounts, file, _line_of(text, "accounts")) if accounts else (),
        toxiproxy=spec.toxiproxy, risk_defaults=dict(spec.risk), client_api=spec.client,
        bug_switches=tuple(BugSwitch(n, c) for n, c in (spec.switches.names if spec.switches else {}).items()),
        switch_up=spec.switches.up if spec.switches else (),
        switch_cwd=(path.parent / spec.switches.cwd) if spec.switches else None,
        accounts_file=path.parent / spec.accounts,
        upstream={link: v.upstream for link, v in spec.links.items() if v.upstream is not None})


def _line_of(text: str, key: str) -> int:
    return next((n for n, line in enumerate(text.splitlines(), 1) if line.startswith(f"{key}:")), 1)


def _accounts(path: Path, file: str, line: int) -> tuple[Mapping[str, str], ...]:
    from harness.untrusted import read_json

    where = f"{file}:{line}: accounts {printable(str(path))}"
    try:
        body = read_json(path)
    except BadInput as exc:
        raise BadInput(f"{where}: {exc}") from None
    accounts = body.get("accounts") if isinstance(body, dict) else None
    if not isinstance(accounts, list) or not accounts:
        raise BadInput(f"{where}: not {{\"accounts\": [{{\"account\", \"api_key\", \"role\"}}, ...]}}")
    for entry in accounts:
        if not (isinstance(entry, dict) and all(isinstance(entry.get(k), str) for k in ("account", "api_key", "role"))):
            raise BadInput(f"{where}: an account needs account, api_key and role strings: {json.dumps(entry)[:80]}")
    if not any(a["role"] == "trader" for a in accounts):
        raise BadInput(f"{where}: no account with role trader (probes and load trade as traders)")
    return tuple({k: a[k] for k in ("account", "api_key", "role")} for a in accounts)
