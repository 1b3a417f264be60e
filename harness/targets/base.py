"""What a target system is to the harness: plain values and one small protocol.

A target (umref, or a user's own UM platform) describes itself with these values; the harness
validates scenarios against them and never imports the target. A target package depends on this
module only (the protocol it implements), and registers itself in the ``umchaos.targets``
entry-point group (see ``harness.targets``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

__all__ = ["ROLES", "STANDARD_CLIENT", "Addresses", "BugSwitch", "ClientApi", "ClientRequest", "ContainerLauncher",
           "ContainerRecipe", "Deployment", "FaultLimits", "Front", "ProcessNeed", "Instance", "LocalLauncher", "MissingRole", "PRODUCTS",
           "ProcessControl", "Readiness", "ReleaseControl", "Releases", "Rollout", "RiskStreamApi", "StatusApi", "TargetError", "TargetInfo", "TargetSystem", "Topology"]


def _split(link: str) -> tuple[str, str]:
    caller, _, callee = link.partition("->")
    return caller, callee


# The parts a UM platform plays that the harness must find: by them it fetches the audit (the
# audit contract's endpoints), publishes its prices, knows which faults must halt UM and which
# put fail-closed or failover to the test. A target names the service (or link) for each.
ROLES: Mapping[str, str] = {
    "gateway": "service, or services home region's first: the API clients trade through (orders, cancels, "
               "leverage, transfers, spot), failing over to the next on no answer or a 503 NOT_ACTIVE",
    "margin_link": "link: the UM path whose slowness or loss must halt UM (matching engine -> margin)",
    "matching": "service, or services home region's first: the UM matching engine (GET /state, /audit/halts, "
                "/audit/books), the active one serving its audit views (a standby answers 503)",
    "price_intake": "service, or services home region's first: takes the harness's market ticks (POST /intake), "
                    "each tick sent to every one",
    "ledgers": "services: the ledger nodes, home primary first (GET /state, /audit/ledger, "
               "/audit/balances, /audit/discarded)",
    "replication": "service: reports replication and epochs (GET /audit/replication)",
    "auth": "services: API-key authentication, whose loss must leave the gateway failing closed",
}
MULTIPLE = frozenset({"ledgers", "auth"})  # roles taking a tuple of names
EITHER = frozenset({"gateway", "price_intake", "matching"})  # one name or a tuple (one per region)


@dataclass(frozen=True)
class Topology:
    """Services, regions and links: where scenario faults may act; and the roles they play.

    ``services`` are in start order (a service starts after the services it calls); each link is
    ``caller->callee`` and may be routed through a proxy; ``um_only`` are the services only UM
    needs (spot never calls them), so that a fault confined to them must not disturb spot;
    ``roles`` names the service(s) or link playing each part of ``ROLES``.
    """

    services: tuple[str, ...]
    region_of: Mapping[str, str]  # service -> region
    links: tuple[str, ...]
    um_only: tuple[str, ...] = ()
    roles: Mapping[str, str | tuple[str, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # A target's own description must hold together: a mistake here would surface as a
        # confusing scenario error far away.
        if set(self.region_of) != set(self.services):
            raise ValueError(f"region_of must name exactly the services: {sorted(self.services)}")
        if len(set(self.services)) != len(self.services):
            raise ValueError("a service is listed twice")
        for link in self.links:
            caller, callee = _split(link)
            if caller not in self.region_of or callee not in self.region_of or caller == callee:
                raise ValueError(f"link {link!r} is not caller->callee between two services")
        if unknown := sorted(set(self.um_only) - set(self.services)):
            raise ValueError(f"um_only names unknown service(s): {', '.join(unknown)}")
        for role, value in self.roles.items():
            if role not in ROLES:
                raise ValueError(f"unknown role {role!r}; roles: {', '.join(ROLES)}")
            names = (value,) if isinstance(value, str) else tuple(value)
            if not names or (role not in EITHER and isinstance(value, str) == (role in MULTIPLE)):
                takes = ("one name or a tuple of names" if role in EITHER else
                         "a tuple of names" if role in MULTIPLE else "one name")
                raise ValueError(f"role {role!r} takes {takes}")
            known = self.links if role == "margin_link" else self.services
            if bad := [n for n in names if n not in known]:
                raise ValueError(f"role {role!r} names unknown {'link' if role == 'margin_link' else 'service'}(s): "
                                 f"{', '.join(bad)}")

    @property
    def regions(self) -> tuple[str, ...]:
        return tuple(sorted(set(self.region_of.values())))

    def in_region(self, region: str) -> tuple[str, ...]:
        """The services of ``region``, in start order."""
        return tuple(s for s in self.services if self.region_of[s] == region)

    def ends(self, link: str) -> tuple[str, str]:
        """(caller, callee) of a link."""
        return _split(link)

    def role(self, name: str) -> str:
        """The one service (or link) playing ``name``, the home one of a front (``gateway``,
        ``price_intake``); ``MissingRole`` when the target names none."""
        value = self.roles.get(name)
        if value is None or name in MULTIPLE:
            raise MissingRole(name)
        return value if isinstance(value, str) else value[0]

    def role_all(self, name: str) -> tuple[str, ...]:
        """The services playing a role several may play (``ledgers``, ``auth``, a front of
        ``gateway`` or ``price_intake``), home first; () when none."""
        value = self.roles.get(name, ())
        return (value,) if isinstance(value, str) else tuple(value)


class MissingRole(LookupError):
    """A run needs a role the target's topology does not name (the message says which and why)."""

    def __init__(self, role: str) -> None:
        super().__init__(f"the target names no {role!r} ({ROLES.get(role, 'unknown role')})")
        self.role = role


@dataclass(frozen=True)
class BugSwitch:
    """A realistic defect the target can switch on, and the checks expected to catch it: the
    self-test counts a switch as killed only when one of these fails."""

    name: str
    killed_by: tuple[str, ...]


# ---- the client: how the load and the probes speak the target's API ------------------------------

STANDARD_CLIENT = "harness.targets.client:StandardClient"  # the harness's own client API (docs/client-api.md)


@dataclass(frozen=True)
class ClientRequest:
    """One HTTP request on the target's gateway, as a ``ClientApi`` builds it."""

    method: str
    path: str  # with its query string, if any
    headers: Mapping[str, str]
    json: Mapping[str, Any] | None = None


@runtime_checkable
class ClientApi(Protocol):
    """Jepsen's *client*: the harness's client actions (``harness.targets.client.ACTIONS``) as the
    target's requests, and the target's answers as the harness's client model. No I/O of its own:
    the Locust users and the probes send what it builds, so every request is in the history. It may
    also read the target's status page (``StatusApi``)."""

    def request(self, action: str, fields: Mapping[str, Any], api_key: str) -> ClientRequest:
        """The request for ``action`` with the model's ``fields`` (client_id among them)."""
        ...

    def answer(self, action: str, status: int | None, body: Any) -> tuple[int | None, Any]:
        """The target's answer (status None: none came) as the model's status and body: 200 with
        ``{"order_id", "status", "filled_qty"}``, or a refusal's status with
        ``{"error": {"code"}}`` (503 ``UM_HALTED`` for a UM halt)."""
        ...

    def marks_request(self) -> ClientRequest:
        """The request for the current marks (the load prices its orders near them)."""
        ...

    def marks(self, body: Any) -> Mapping[str, str]:
        """Symbol -> mark price, from the answer to ``marks_request``."""
        ...


# A product's line on a status page, as ``StatusApi.status`` gives it: {"status": "normal" |
# "halted", "since": epoch seconds or None, "reason": text or None}.
PRODUCTS = ("um", "spot")


@runtime_checkable
class StatusApi(Protocol):
    """What a ``ClientApi`` may also do: read the target's public system-status page, the one its
    users are told the state of each product by. Optional: a client without it (or whose
    ``status_request`` is None) has no page, and the harness records none and judges none."""

    def status_request(self) -> ClientRequest | None:
        """The unauthenticated request for the status page (None: the target has none)."""
        ...

    def status(self, body: Any) -> Mapping[str, Any] | None:
        """The page as the model: ``{"um": line, "spot": line, "updated": epoch seconds or None}``,
        each line ``{"status": "normal" | "halted", "since", "reason"}``; None when ``body`` is
        no status page."""
        ...


@runtime_checkable
class RiskStreamApi(Protocol):
    """What a ``ClientApi`` may also do: read an account's user-data stream of risk-level changes
    (the venue's ``riskLevelChange``), as a customer's own software does. Optional: without it
    (or with ``risk_stream_request`` None) the harness records none, and the risk check judges
    the journal's moves without a stream to hold them against."""

    def risk_stream_request(self, after: int, api_key: str) -> ClientRequest | None:
        """The request for the key's account's events from the cursor ``after`` on."""
        ...

    def risk_stream(self, body: Any) -> tuple[list[Mapping[str, Any]], int] | None:
        """The events as the model ``{"level", "time" (epoch seconds), "unimmr"}`` and the cursor
        to ask from next; None when ``body`` is no stream."""
        ...


@runtime_checkable
class TargetSystem(Protocol):
    """A platform the harness can test, as the harness sees it: enough to validate scenarios and
    plan the self-test. How it starts is a separate protocol per backend (``LocalLauncher``,
    ``ContainerLauncher``): a platform the harness only attaches to needs neither."""

    @property
    def name(self) -> str: ...

    @property
    def description(self) -> str:
        """One line, shown by ``umchaos list-targets``."""
        ...

    @property
    def topology(self) -> Topology: ...

    @property
    def bug_switches(self) -> tuple[BugSwitch, ...]: ...

    @property
    def risk_defaults(self) -> Mapping[str, int | str]:
        """The risk guard's budget the target accepts (``target.risk`` keys) and its defaults."""
        ...

    @property
    def builds(self) -> Mapping[str, tuple[str, ...]]:
        """Service -> the builds a release (the ``deploy`` fault kind) may roll it to; empty: none."""
        ...

    @property
    def client_api(self) -> str:
        """``module:attr`` of its ``ClientApi``, importable where the load runs; ``STANDARD_CLIENT``
        for a target serving the harness's own client API."""
        ...


@dataclass(frozen=True)
class TargetInfo:
    """A target described by plain values: the simplest ``TargetSystem``."""

    name: str
    description: str
    topology: Topology
    bug_switches: tuple[BugSwitch, ...] = ()
    risk_defaults: Mapping[str, int | str] = field(default_factory=dict)
    client_api: str = STANDARD_CLIENT
    builds: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # service -> builds a release may name

    def __post_init__(self) -> None:
        names = [b.name for b in self.bug_switches]
        if len(set(names)) != len(names):
            raise ValueError("a bug switch is listed twice")


# ---- starting a target: what the harness decides, what the target does --------------------------

class TargetError(RuntimeError):
    """The target could not be started or controlled; the message says which service and why."""


@dataclass(frozen=True)
class Deployment:
    """What the harness decided for one start of a target; the target writes its services'
    configuration from it. A link in ``dial`` is routed: its caller dials that base URL (a proxy
    the harness controls) instead of the callee; every other link is direct."""

    # the target's own files (keys, ledgers): private, deleted after the run. A launcher's processes
    # name a file of it in their command line: that is how a cleanup after a killed run finds them.
    data_dir: Path
    logs_dir: Path  # the services' logs: evidence, kept with the report (absolute, as data_dir)
    host: str  # the address every service binds
    ports: Mapping[str, int]  # service -> port it listens on
    dial: Mapping[str, str] = field(default_factory=dict)  # link -> base URL its caller dials
    bugs: tuple[str, ...] = ()
    risk: Mapping[str, int | str] = field(default_factory=dict)  # the whole budget, defaults filled in
    seed: int = 1  # seeds the target's own randomness (accounts, keys)


# The gateways clients reach a platform through, as real clients do: an address list they fail over
# on. (gateway service, base URL), home region's first: ops record which gateway answered.
Front = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Addresses:
    """Where the harness reaches a running target, and the accounts its clients trade as."""

    gateway: str  # the home gateway's base URL
    services: Mapping[str, str]  # service -> base URL (audit, health)
    accounts: tuple[Mapping[str, str], ...]  # {"account", "api_key", "role"}
    # the gateway role's other services' base URLs, in role order, where clients reach them other
    # than at their URL in ``services`` (a target giving none needs to change nothing)
    standby_gateways: tuple[str, ...] = ()

    def front(self, topology: Topology) -> Front:
        """The gateways of ``topology``'s gateway role with their URLs, home first (a target naming
        no gateway role has one, called ``gateway``)."""
        home, *standbys = topology.role_all("gateway") or ("gateway",)
        if len(self.standby_gateways) > len(standbys):
            raise TargetError(f"{len(self.standby_gateways)} standby gateway URL(s) for {len(standbys)} standby gateway(s)")
        front = [(home, self.gateway)]
        for i, name in enumerate(standbys):
            url = self.standby_gateways[i] if i < len(self.standby_gateways) else self.services.get(name)
            if url is None:
                raise TargetError(f"the target gives no URL for its gateway {name!r}")
            front.append((name, url))
        return tuple(front)


class Readiness(Protocol):
    """Asking a started target whether it is ready, and preparing it for a run."""

    def addresses(self) -> Addresses: ...

    def wait_healthy(self, services: tuple[str, ...] | list[str], *, deadline: float) -> None:
        """Every named service answers as itself; ``TargetError`` at the monotonic ``deadline``."""
        ...

    def wait_calm(self, *, deadline: float) -> None:
        """UM trades (not halted, not rebuilding); ``TargetError`` at the monotonic ``deadline``."""
        ...

    def bootstrap(self) -> None:
        """The state a run starts from (e.g. the leveraged positions near a margin call)."""
        ...


class ProcessControl(Protocol):
    """What process and node faults need: a backend gives it, a local target's instance too."""

    def kill(self, service: str) -> None: ...
    def pause(self, service: str) -> None: ...
    def resume(self, service: str) -> None: ...
    def restart(self, service: str) -> None: ...
    def alive(self, service: str) -> bool: ...
    def pid(self, service: str) -> int | None: ...


class Instance(Readiness, ProcessControl, Protocol):
    """A target started on this machine by its own launcher, service by service; the local
    backend's process faults act through it."""

    def start(self) -> float:
        """Every service up, healthy, calm and bootstrapped; the seconds it took."""
        ...

    def stop(self, *, kill: bool = False) -> None: ...


@runtime_checkable
class LocalLauncher(Protocol):
    """A target the local backend can start as processes on loopback."""

    def warm_up(self) -> object | None:
        """Work worth doing while the harness itself starts (a fork server that has imported the
        services, say); handed back to ``local_instance``. None when there is none."""
        ...

    def local_instance(self, deployment: Deployment, warm: object | None = None) -> Instance: ...


@dataclass(frozen=True)
class ContainerRecipe:
    """How each service runs as a container: the image, its command, its configuration file. A
    build a release names runs from ``<image>:<tag>-<service>-<build>``, the image with
    ``UMCHAOS_BUILD=<build>`` in its environment (``umchaos setup --docker`` makes one for each of
    ``TargetInfo.builds``)."""

    image: str  # a name without tag: the harness builds and tags it (``umchaos setup --docker``)
    commands: Mapping[str, tuple[str, ...]]  # service -> argv
    configs: Mapping[str, str]  # service -> the text of its configuration file
    config_path: str  # where that file is copied into the container (before it starts)
    data_dir: str  # where the service's data volume is mounted


@runtime_checkable
class ContainerLauncher(Protocol):
    """A target the docker backend can start, one container per service."""

    def container_recipe(self, deployment: Deployment) -> ContainerRecipe: ...

    def attach(self, deployment: Deployment, exited: Callable[[str], str | None]) -> Readiness:
        """Readiness of services running elsewhere, reached at ``deployment``'s host and ports;
        ``exited(service)`` says why a service is gone (None while it runs)."""
        ...


# What a fault kind needs of a service's process (its registration says): nothing, a signal to it,
# starting it again after it was killed, or a target the harness started itself (its clock control).
ProcessNeed = Literal["nothing", "signal", "restart", "own_target"]


@runtime_checkable
class Releases(Protocol):
    """A running target that can be released to during a run (the ``deploy`` fault kind): its
    own rollout swaps the service, its own controller watches the release and may roll it back."""

    def deploy(self, service: str, build: str, watch_s: float) -> str:
        """Roll ``service`` to ``build``; returns what changed ("margin 1.4.2 -> 1.5.0"). Raises
        ``TargetError`` when it could not, the old build serving on."""
        ...


class Rollout(Protocol):
    """How a backend swaps one service of a target it started to another build, as that backend
    runs things (docker: a new container from the build's image on the same network alias); a
    target's own deploy controller decides when, through it."""

    def swap(self, service: str, version: str) -> None:
        """The service answers from ``version`` when this returns; on failure the old one still does."""
        ...

    def url(self, service: str) -> str:
        """Where the service answers now (a swap may move it)."""
        ...


@runtime_checkable
class ReleaseControl(Protocol):
    """A target whose deploy controller can drive a backend's rollout (a ``ContainerLauncher``
    may offer it; a local launcher's instance is ``Releases`` itself)."""

    def releases(self, rollout: Rollout, bugs: tuple[str, ...]) -> Releases: ...


@runtime_checkable
class FaultLimits(Protocol):
    """A target that cannot take every fault kind everywhere (a platform the harness did not start
    cannot have a killed process started again): refused at validation, at the fault's line."""

    def refusal(self, kind: str, needs: ProcessNeed, services: tuple[str, ...]) -> str | None:
        """Why a fault of ``kind`` (needing ``needs``) on ``services`` cannot run; None when it can."""
        ...
