"""The target seam: targets are found through the ``umchaos.targets`` entry points, and scenarios
are validated against the chosen target's topology, not umref's.

The second target here is installed the way a platform team's package would be, but only for a
subprocess: a ``*.dist-info`` folder (METADATA, entry_points.txt) and a module in tmp_path, put on
PYTHONPATH. Nothing is installed into the environment and no file under ``harness/`` changes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import asdict
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any

import pytest

from harness.backends.base import write_accounts
from harness.errors import EXIT_BAD_INPUT, EXIT_PASS, EXIT_UNKNOWN, BadInput
from harness.targets import (
    GROUP,
    TargetSystem,
    Topology,
    UnknownTarget,
    installed_targets,
    killed_by,
    load_target,
)
from harness.targets.base import Addresses, MissingRole, TargetError
from targets.umref.config import KILLED_BY, LINKS, REGION_OF, SERVICES, UM_ONLY, RiskBudget

ROOT = Path(__file__).parents[2]


def _renamed(name: str) -> str:
    return "risk" if name == "margin" else name


# umref with its margin service called "risk", written as a third party would write a target: a
# package of its own that imports the protocol, here reusing umref's processes under the new name.
RISKREF = f'''\
"""riskref: a second target for the seam's tests; it imports only the protocol it implements."""

from dataclasses import dataclass, replace

from harness.targets.base import Addresses, BugSwitch, Deployment, TargetInfo, Topology
from targets.umref.plugin import TARGET as UMREF


def umref_name(name):
    return "->".join("margin" if part == "risk" else part for part in name.split("->"))


def own_name(name):
    return "->".join("risk" if part == "margin" else part for part in name.split("->"))


class Renamed:
    """umref's running instance, its margin service answering to "risk"."""

    def __init__(self, inner):
        self.inner = inner

    def addresses(self):
        inner = self.inner.addresses()
        return Addresses(inner.gateway, {{own_name(s): url for s, url in inner.services.items()}}, inner.accounts)

    def wait_healthy(self, services, *, deadline):
        self.inner.wait_healthy([umref_name(s) for s in services], deadline=deadline)

    def __getattr__(self, action):  # start, stop, wait_calm, bootstrap; kill, pause, ... by service
        method = getattr(self.inner, action)
        return lambda *args, **kw: method(*(umref_name(a) if isinstance(a, str) else a for a in args), **kw)


@dataclass(frozen=True)
class Riskref(TargetInfo):
    def warm_up(self):
        return None

    def local_instance(self, deployment, warm=None):
        return Renamed(UMREF.local_instance(replace(
            deployment, ports={{umref_name(s): p for s, p in deployment.ports.items()}},
            dial={{umref_name(link): url for link, url in deployment.dial.items()}})))


TARGET = Riskref(
    name="riskref",
    description="umref's shape with margin called risk",
    topology=Topology(
        services={tuple(_renamed(s) for s in SERVICES)!r},
        region_of={ {_renamed(s): r for s, r in REGION_OF.items()}!r},
        links={tuple("->".join(map(_renamed, link.split("->"))) for link in LINKS)!r},
        um_only={tuple(map(_renamed, UM_ONLY))!r},
        roles={{"gateway": "gateway", "margin_link": "matching->risk", "matching": "matching", "price_intake": "pricefeed",
                "ledgers": ("ledger-a", "ledger-b"), "replication": "coordinator", "auth": ("auth",)}},
    ),
    bug_switches=(BugSwitch("no_halt", ("safe_halt",)),),
    risk_defaults={{"p99_ms": 200, "resume_p99_ms": 100, "halt_within_ms": 250}},
)
'''

SCENARIO = """\
name: seam
target: {system: %s}
timeline:
  - at: 2s
    fault: latency
    link: %s
    params: {latency_ms: 500}
    for: 4s
  - at: 8s
    fault: partition
    regions: [A, B]
    for: 2s
recovery: {within: 5s}
checks: [safe_halt, recovery]
"""


@pytest.fixture
def riskref(tmp_path: Path) -> dict[str, str]:
    """The environment of a subprocess that sees riskref as an installed target."""
    (tmp_path / "riskref_target.py").write_text(RISKREF)
    info = tmp_path / "riskref-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: riskref\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[{GROUP}]\nriskref = riskref_target:TARGET\n")
    path = os.pathsep.join(p for p in (str(tmp_path), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path}


def umchaos(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=120)


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


# ---- a second target through an entry point ------------------------------------------------------

def test_a_scenario_validates_against_the_target_it_names(tmp_path: Path, riskref: dict[str, str]) -> None:
    ok = umchaos(riskref, "validate", write(tmp_path, "risk.yaml", SCENARIO % ("riskref", "matching->risk")))
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith("ok ") and "seam, 2 fault(s)" in ok.stdout
    # the same link is no link of umref's: one file:line error, exit 3
    path = write(tmp_path, "umref.yaml", SCENARIO % ("umref", "matching->risk"))
    refused = umchaos(riskref, "validate", path)
    assert refused.returncode == EXIT_BAD_INPUT
    assert refused.stderr.strip() == (f"umchaos: {path}:6: timeline[0].link: unknown link (caller->callee) "
                                      "'matching->risk' of target umref; did you mean 'matching->margin'?")
    # and umref's link is none of riskref's
    refused = umchaos(riskref, "validate", write(tmp_path, "r2.yaml", SCENARIO % ("riskref", "matching->margin")))
    assert refused.returncode == EXIT_BAD_INPUT and ":6: " in refused.stderr and "of target riskref" in refused.stderr


def test_the_schedule_uses_the_chosen_targets_links(tmp_path: Path, riskref: dict[str, str]) -> None:
    path = write(tmp_path, "risk.yaml", SCENARIO % ("riskref", "matching->risk"))
    proc = umchaos(riskref, "run", path, "--dry-run", "--report-dir", str(tmp_path / "r"))
    assert proc.returncode == 0, proc.stderr
    assert "link=matching->risk" in proc.stdout and "regions=A,B" in proc.stdout
    assert not (tmp_path / "r").exists()


@pytest.mark.integration
@pytest.mark.slow
def test_a_run_against_the_second_target_starts_faults_and_judges_it(tmp_path: Path,
                                                                     riskref: dict[str, str]) -> None:
    """No file under harness/ knows riskref: its services start through its own launcher, the
    latency lands on its link matching->risk, and that link is the one its roles say must halt UM."""
    path = write(tmp_path, "risk.yaml", SCENARIO % ("riskref", "matching->risk"))
    proc = umchaos(riskref, "--state-dir", str(tmp_path / "state"), "run", path,
                   "--report-dir", str(tmp_path / "r"))
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    (result_file,) = (tmp_path / "r").glob("*/result.json")
    result = json.loads(result_file.read_text())
    # a busy machine may leave the run undecided (steady state not met): never a false violation
    assert proc.returncode in (EXIT_PASS, EXIT_UNKNOWN), proc.stdout[-2000:] + proc.stderr[-2000:]
    if "steady state not met before" in (result.get("reason") or ""):
        pytest.skip(f"the machine was too busy for the steady state: {result['reason']}")
    ops = [json.loads(line) for line in (result_file.parent / "history.jsonl").open()]
    landed = [op["value"] for op in ops if op["f"] == "fault" and op["type"] == "info"
              and op["value"]["action"] == "inject"]
    latency = next(v for v in landed if v["fault"] == "latency")
    assert latency["landed"] and latency["expect_um_halt"] and latency["um_only"], latency
    assert latency["target"] == "matching->risk" and "listed on matching->risk" in latency["detail"]
    checks = {c["name"]: c["valid"] for c in result["checks"]}
    assert set(checks) == {"safe_halt", "recovery"} and False not in checks.values(), checks
    assert list((tmp_path / "state" / "journal").glob("*")) == []  # every fault healed, nothing left


def test_bug_switches_and_risk_settings_are_the_chosen_targets(tmp_path: Path, riskref: dict[str, str]) -> None:
    base = SCENARIO % ("riskref", "matching->risk")
    bugs = umchaos(riskref, "validate", write(tmp_path, "b.yaml", base.replace(
        "{system: riskref}", "{system: riskref, bugs: [halt_spot_too]}")))
    assert bugs.returncode == EXIT_BAD_INPUT
    assert ":2: target.bugs[0]: unknown bug switch 'halt_spot_too' of target riskref" in bugs.stderr
    risk = umchaos(riskref, "validate", write(tmp_path, "k.yaml", base.replace(
        "{system: riskref}", "{system: riskref, risk: {window_ms: 500}}")))
    assert risk.returncode == EXIT_BAD_INPUT
    assert "target.risk.window_ms: target riskref has no risk setting 'window_ms'" in risk.stderr
    cli = umchaos(riskref, "run", write(tmp_path, "c.yaml", base), "--dry-run", "--bugs", "stale_margin_call")
    assert cli.returncode == EXIT_BAD_INPUT
    assert "--bugs: unknown bug switch(es) stale_margin_call of target riskref; known: no_halt" in cli.stderr


def test_an_unknown_system_is_one_line_naming_the_installed_targets(tmp_path: Path,
                                                                    riskref: dict[str, str]) -> None:
    path = write(tmp_path, "n.yaml", SCENARIO % ("nosuch", "matching->margin"))
    proc = umchaos(riskref, "validate", path)
    assert proc.returncode == EXIT_BAD_INPUT
    assert proc.stderr == (f"umchaos: {path}:2: target.system: unknown target 'nosuch'; "
                           "installed targets: riskref, umref\n")


def test_list_targets_shows_each_installed_target(riskref: dict[str, str]) -> None:
    proc = umchaos(riskref, "list-targets")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    start = lines.index("riskref: umref's shape with margin called risk")
    assert lines[start + 1] == "  region A: pricefeed, auth, ledger-a, risk, matching, liquidation, gateway"
    assert lines[start + 2] == ("  region B: pricefeed-b, auth-b, ledger-b, coordinator, margin-b, matching-b, "
                                "liquidation-b, gateway-b")
    assert lines[start + 3] == "  region C: witness"
    assert lines[start + 4] == f"  links: {len(LINKS)}; UM-only services: risk, liquidation, margin-b, liquidation-b"
    assert lines[start + 5] == "  bug switches: no_halt"
    assert any(line.startswith("umref: ") for line in lines)


# ---- the registry --------------------------------------------------------------------------------

def test_umref_registers_itself_with_its_own_constants() -> None:
    assert "umref" in installed_targets()
    umref = load_target("umref")
    assert isinstance(umref, TargetSystem) and umref.name == "umref"
    assert (umref.topology.services, dict(umref.topology.region_of)) == (SERVICES, dict(REGION_OF))
    assert (umref.topology.links, umref.topology.um_only) == (LINKS, UM_ONLY)
    assert umref.topology.role("margin_link") == "matching->margin"
    assert umref.topology.role_all("ledgers") == ("ledger-a", "ledger-b")
    assert umref.topology.regions == ("A", "B", "C") and killed_by(umref) == KILLED_BY
    assert dict(umref.risk_defaults) == asdict(RiskBudget())


@pytest.fixture
def registered(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, EntryPoint]]:
    """The registry's entry points, replaceable by a test; the load cache cleared around it."""
    import harness.targets

    points: dict[str, EntryPoint] = {}
    monkeypatch.setattr(harness.targets, "_entry_points", lambda: points)
    load_target.cache_clear()
    yield points
    load_target.cache_clear()


def test_an_unknown_target_is_bad_input_in_one_line(registered: dict[str, EntryPoint]) -> None:
    registered["umref"] = EntryPoint("umref", "targets.umref.plugin:TARGET", GROUP)
    with pytest.raises(UnknownTarget) as info:
        load_target("nosuch")
    assert isinstance(info.value, BadInput) and info.value.exit_code == EXIT_BAD_INPUT
    assert str(info.value) == "unknown target 'nosuch'; installed targets: umref"
    registered.clear()
    with pytest.raises(UnknownTarget, match="installed targets: none$"):
        load_target("umref")


@pytest.mark.parametrize(("value", "name", "says"), [
    ("no_such_module_for_umchaos:TARGET", "broken", "does not load: ModuleNotFoundError"),
    ("os:sep", "notatarget", "is not a TargetSystem"),
    ("targets.umref.plugin:TARGET", "other", "calls itself 'umref'"),
])
def test_a_bad_registration_is_named_not_a_traceback(registered: dict[str, EntryPoint], value: str, name: str,
                                                     says: str) -> None:
    registered[name] = EntryPoint(name, value, GROUP)
    with pytest.raises(UnknownTarget) as info:
        load_target(name)
    assert f"target {name!r} ({value})" in str(info.value) and says in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(("services", "region_of", "links", "um_only", "says"), [
    (("a", "b"), {"a": "A"}, (), (), "region_of must name exactly the services"),
    (("a", "b"), {"a": "A", "b": "A"}, ("a->c",), (), "is not caller->callee"),
    (("a", "b"), {"a": "A", "b": "A"}, ("a->a",), (), "is not caller->callee"),
    (("a", "b"), {"a": "A", "b": "A"}, ("a->b",), ("c",), "um_only names unknown service(s): c"),
])
def test_a_topology_that_does_not_hold_together_is_refused(services: tuple[str, ...], region_of: dict[str, str],
                                                          links: tuple[str, ...], um_only: tuple[str, ...],
                                                          says: str) -> None:
    with pytest.raises(ValueError, match=says.replace("(", r"\(").replace(")", r"\)")):
        Topology(services, region_of, links, um_only)


@pytest.mark.parametrize(("roles", "says"), [
    ({"margin": "b"}, "unknown role 'margin'"),
    ({"replication": ("a",)}, "role 'replication' takes one name"),
    ({"ledgers": "a"}, "role 'ledgers' takes a tuple of names"),
    ({"ledgers": ()}, "role 'ledgers' takes a tuple of names"),
    ({"gateway": ()}, "role 'gateway' takes one name or a tuple of names"),
    ({"price_intake": ("b", "c")}, "role 'price_intake' names unknown service(s): c"),
    ({"matching": "c"}, "role 'matching' names unknown service(s): c"),
    ({"margin_link": "b->a"}, "role 'margin_link' names unknown link(s): b->a"),
])
def test_roles_must_name_the_topologys_own_services_and_links(roles: dict[str, Any], says: str) -> None:
    with pytest.raises(ValueError, match=says.replace("(", r"\(").replace(")", r"\)")):
        Topology(("a", "b"), {"a": "A", "b": "A"}, ("a->b",), (), roles)


def test_a_role_the_target_does_not_name_is_said_in_one_line() -> None:
    topology = Topology(("a", "b"), {"a": "A", "b": "A"}, ("a->b",), (), {"margin_link": "a->b", "auth": ("b",)})
    assert topology.role("margin_link") == "a->b" and topology.role_all("auth") == ("b",)
    assert topology.role_all("ledgers") == ()
    with pytest.raises(MissingRole, match=r"^the target names no 'matching' \(service, or services home region's first: the UM matching engine"):
        topology.role("matching")


def test_a_front_of_gateways_and_intakes_home_first_with_urls_from_the_services(tmp_path: Path) -> None:
    services = ("gw-a", "gw-b", "gw-c", "feed-a", "feed-b")
    topology = Topology(services, {s: s[-1].upper() for s in services}, ("gw-a->feed-a",), (),
                        {"gateway": ("gw-a", "gw-b", "gw-c"), "price_intake": ("feed-a", "feed-b")})
    assert topology.role("gateway") == "gw-a" and topology.role_all("gateway") == ("gw-a", "gw-b", "gw-c")
    assert topology.role("price_intake") == "feed-a" and topology.role_all("price_intake") == ("feed-a", "feed-b")
    one = Topology(services, topology.region_of, (), (), {"gateway": "gw-a"})
    assert one.role("gateway") == "gw-a" and one.role_all("gateway") == ("gw-a",)
    urls = {s: f"http://127.0.0.1:{9000 + i}" for i, s in enumerate(services)}
    accounts = ({"account": "a1", "api_key": "k", "role": "trader"},)
    addresses = Addresses("http://front-a", urls, accounts)  # the home one as the target gives it
    assert addresses.front(topology) == (("gw-a", "http://front-a"), ("gw-b", urls["gw-b"]), ("gw-c", urls["gw-c"]))
    assert Addresses("http://front-a", urls, accounts, standby_gateways=("http://front-b",)).front(topology) == (
        ("gw-a", "http://front-a"), ("gw-b", "http://front-b"), ("gw-c", urls["gw-c"]))
    assert addresses.front(one) == (("gw-a", "http://front-a"),)
    assert Addresses("http://x", {}, accounts).front(Topology(("a",), {"a": "A"}, ())) == (("gateway", "http://x"),)
    with pytest.raises(TargetError, match="no URL for its gateway 'gw-c'"):
        Addresses("http://front-a", {"gw-b": "http://b"}, accounts).front(topology)
    with pytest.raises(TargetError, match="2 standby gateway URL"):
        Addresses("http://front-a", urls, accounts, standby_gateways=("http://b", "http://c")).front(one)
    written = json.loads(write_accounts(tmp_path / "accounts.json", addresses.front(topology), accounts).read_text())
    assert written == {"gateway": "http://front-a", "accounts": [dict(accounts[0])],
                       "front": [{"service": "gw-a", "url": "http://front-a"}, {"service": "gw-b", "url": urls["gw-b"]},
                                 {"service": "gw-c", "url": urls["gw-c"]}]}
